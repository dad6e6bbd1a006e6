"""The Arduino sandbox's Python API: how tests set up spaces, users, things, properties and dashboards,
inspect them, and read the request log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.arduino.core import _ArduinoBase
from sandbox.arduino.protocol import TOKEN_PATH, _now
from sandbox.arduino.state import _Page, _Property, _Space, _Thing
from sandbox.server import HTTPError, RequestRecord


class _PythonAPI(_ArduinoBase):
    """State set-up and inspection without HTTP, each call under the sandbox lock."""

    # -- Python API --------------------------------------------------------------------------------

    def _space_of(self, org: str) -> _Space:
        space = self._spaces.get(org)
        if space is None:
            raise KeyError(f"organization {org!r} not found")
        return space

    def add_organization(self, org: str | None = None) -> str:
        """Add a shared space (its id is generated if not given); returns its id."""
        with self.lock:
            org_id = org or self._uuid()
            self._spaces.setdefault(org_id, _Space(org_id))
            return org_id

    def organizations(self) -> list[str]:
        """Ids of the shared spaces (the personal space, "", is not listed)."""
        with self.lock:
            return sorted(o for o in self._spaces if o)

    def add_user(self, username: str) -> str:
        """A user dashboards can be shared with (reused by username); returns its id."""
        with self.lock:
            for user_id, name in self._users.items():
                if name == username:
                    return user_id
            user_id = self._uuid()
            self._users[user_id] = username
            return user_id

    def add_thing(self, name: str, org: str = "") -> str:
        """Add a thing to a space; returns its id."""
        with self.lock:
            space = self._space_of(org)
            thing = _Thing(self._uuid(), name)
            space.things[thing.id] = thing
            return thing.id

    def add_property(
        self,
        thing_id: str,
        name: str,
        *,
        type: str = "FLOAT",
        permission: str = "READ_WRITE",
        variable_name: str | None = None,
    ) -> str:
        """Add a property (a cloud variable) to a thing; returns its id."""
        with self.lock:
            space = next((s for s in self._spaces.values() if thing_id in s.things), None)
            if space is None:
                raise KeyError(f"thing {thing_id!r} not found")
            prop = _Property(self._uuid(), thing_id, name, type, permission, variable_name or name)
            space.things[thing_id].properties[prop.id] = prop
            space.properties[prop.id] = prop
            return prop.id

    def delete_property(self, property_id: str) -> None:
        """Delete a property: widgets linked to it lose that link, as in the cloud."""
        with self.lock:
            for space in self._spaces.values():
                prop = space.properties.pop(property_id, None)
                if prop is None:
                    continue
                space.things[prop.thing_id].properties.pop(property_id, None)
                for d in space.dashboards.values():
                    for w in d.widgets:
                        if property_id in w.variables:
                            w.variables = [p for p in w.variables if p != property_id]
                return
            raise KeyError(f"property {property_id!r} not found")

    def delete_thing(self, thing_id: str) -> None:
        """Delete a thing and its properties."""
        with self.lock:
            for space in self._spaces.values():
                thing = space.things.get(thing_id)
                if thing is None:
                    continue
                for pid in list(thing.properties):
                    self.delete_property(pid)
                del space.things[thing_id]
                return
            raise KeyError(f"thing {thing_id!r} not found")

    def property_exists(self, property_id: str) -> bool:
        """Whether a property exists in any space."""
        with self.lock:
            return any(property_id in s.properties for s in self._spaces.values())

    def add_dashboard(
        self,
        name: str,
        widgets: Iterable[dict[str, Any]] = (),
        org: str = "",
        shares: Iterable[str] = (),
        *,
        pages: Iterable[dict[str, Any]] = (),
        cover_image: str | None = None,
    ) -> str:
        """Create a dashboard as the web editor would; returns its id.

        Widgets are in the create-body shape (`variables` = property ids, `page_id` a page's id); the
        editor's defaults fill what a widget leaves out (a fresh id, a 1 x 1 cell at 0, 0, no options).
        """
        with self.lock:
            space = self._space_of(org)
            body: dict[str, Any] = {
                "name": name,
                "widgets": [self._editor_widget(w) for w in widgets],
                "pages": list(pages),
            }
            if cover_image is not None:
                body["cover_image"] = cover_image
            try:
                d = self._create_dashboard(space, body, version=3)
            except HTTPError as exc:
                raise ValueError(str(exc.response.body.get("detail"))) from None
            for user in shares:
                if user not in self._users:
                    raise KeyError(f"user {user!r} not found")
                d.shares[user] = None
            return d.id

    def _editor_widget(self, widget: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "id": self._uuid(),
            "options": {},
            "x": 0,
            "y": 0,
            "width": 1,
            "height": 1,
        }
        return {**defaults, **{k: v for k, v in widget.items() if v is not None}}

    def add_page(self, dashboard_id: str, name: str, *, org: str = "", icon: str | None = None) -> str:
        """Add a page to a dashboard (after its others); returns the page id."""
        with self.lock:
            d = self._space_of(org).dashboards[dashboard_id]
            page = _Page(self._uuid(), name, max((p.position for p in d.pages), default=0) + 1, icon)
            d.pages = [*d.pages, page]
            d.updated_at = _now()
            return page.id

    def get_dashboard(self, dashboard_id: str, org: str = "", *, version: int = 2) -> dict[str, Any] | None:
        """The dashboard as `GET /iot/v{version}/dashboards/{id}` returns it, or None."""
        with self.lock:
            space = self._space_of(org)
            d = space.dashboards.get(dashboard_id)
            return self._dash_json(space, d, version) if d is not None else None

    def update_dashboard(self, dashboard_id: str, changes: dict[str, Any], org: str = "") -> None:
        """Apply `name`, `cover_image`, `pages` and/or `widgets` (create-body shape) as a save."""
        with self.lock:
            space = self._space_of(org)
            d = space.dashboards[dashboard_id]
            body = dict(changes)
            if "widgets" in body:
                body["widgets"] = [self._editor_widget(w) for w in body["widgets"]]
            try:
                self._apply_body(space, d, body, version=3, replace=False)
            except HTTPError as exc:
                raise ValueError(str(exc.response.body.get("detail"))) from None

    def set_property_permission(self, property_id: str, permission: str) -> None:
        """Change a property's permission (the cloud recomputes its widgets' compatibility flags)."""
        with self.lock:
            for space in self._spaces.values():
                if property_id in space.properties:
                    space.properties[property_id].permission = permission
                    return
            raise KeyError(f"property {property_id!r} not found")

    def delete_dashboard(self, dashboard_id: str, org: str = "") -> None:
        """Delete a dashboard and its shares."""
        with self.lock:
            space = self._space_of(org)
            if dashboard_id not in space.dashboards:
                raise KeyError(f"dashboard {dashboard_id!r} not found")
            del space.dashboards[dashboard_id]

    def set_share(self, dashboard_id: str, user_id: str, org: str = "") -> None:
        """Share a dashboard with a user."""
        with self.lock:
            if user_id not in self._users:
                raise KeyError(f"user {user_id!r} not found")
            self._space_of(org).dashboards[dashboard_id].shares[user_id] = None

    def remove_share(self, dashboard_id: str, user_id: str, org: str = "") -> None:
        """Stop sharing a dashboard with a user."""
        with self.lock:
            del self._space_of(org).dashboards[dashboard_id].shares[user_id]

    def shares(self, dashboard_id: str, org: str = "") -> list[str]:
        """Ids of the users a dashboard is shared with, in the order they were added."""
        with self.lock:
            return list(self._space_of(org).dashboards[dashboard_id].shares)

    def share_requests(self, org: str = "") -> list[tuple[str, str, str | None]]:
        """(dashboard id, user id, message) of every access request received."""
        with self.lock:
            return list(self._space_of(org).share_requests)

    def dashboards(self, org: str = "") -> list[str]:
        """Sorted ids of a space's dashboards."""
        with self.lock:
            return sorted(self._space_of(org).dashboards)

    def dashboards_named(self, name: str, org: str = "") -> list[str]:
        """Ids of a space's dashboards called exactly `name`, oldest first."""
        with self.lock:
            return [d.id for d in self._space_of(org).dashboards.values() if d.name == name]

    def wipe(self, org: str = "") -> None:
        """Delete every dashboard of a space; things, properties and users stay."""
        with self.lock:
            self._space_of(org).dashboards.clear()

    def write_requests(self) -> list[RequestRecord]:
        """Logged API calls that were not GET or HEAD (token requests excluded)."""
        return [r for r in self.logged_requests() if r.method not in ("GET", "HEAD") and r.path != TOKEN_PATH]
