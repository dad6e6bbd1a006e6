"""The Arduino sandbox's dashboard HTTP handlers, v2 and v3: list, create, show, update, patch, delete,
clone, share requests, shares, template and widget variable links.

The v3 API (``dashboards_v3``, 2026-04) adds pages; it has no delete, shares or link operations, which
stay on v2 for every dashboard (arduino-cloud-cli ``internal/iot/client.go``: only ``DashboardDelete``
still calls ``DashboardsV2Api``). Requests and answers follow ``api/openapi.yaml`` of iot-client-go.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.arduino.core import UUID, _ArduinoBase, media
from sandbox.arduino.protocol import _bad_request, _not_found, _now
from sandbox.arduino.state import _Dashboard, _Space, _Widget
from sandbox.server import Request, Response, json_response


class _DashboardRoutes(_ArduinoBase):
    """Handlers for every dashboards route :class:`~sandbox.arduino.ArduinoSandbox` registers."""

    @staticmethod
    def _kind(version: int) -> str:
        return f"dashboardv{version}"

    def _list(self, req: Request, version: int) -> Response:
        # `name`: "It support like matching"; `thing_id`: dashboards with a property of that thing.
        name = (req.arg("name") or "").lower()
        user = req.arg("user_id")
        thing = req.arg("thing_id")
        with self.lock:
            space = self._space(req)
            found = [
                self._dash_json(space, d, version)
                for d in space.dashboards.values()
                if d.id not in self.hidden_from_listing
                and (not name or name in d.name.lower())
                and (user is None or user == d.created_by or user in d.shares)
                and (thing is None or self._uses_thing(space, d, thing))
            ]
        return json_response(found, headers=media(self._kind(version), collection=True))

    @staticmethod
    def _uses_thing(space: _Space, d: _Dashboard, thing: str) -> bool:
        props = space.properties
        return any(props[p].thing_id == thing for w in d.widgets for p in w.variables if p in props)

    def _create(self, req: Request, version: int) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._create_dashboard(space, body, version=version)
            return json_response(self._dash_json(space, d, version), 201, media(self._kind(version)))

    def _show(self, req: Request, version: int) -> Response:
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            return json_response(self._dash_json(space, d, version), headers=media(self._kind(version)))

    def _write(self, req: Request, version: int, *, replace: bool) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            self._apply_body(space, d, body, version=version, replace=replace)
            return json_response(self._dash_json(space, d, version), headers=media(self._kind(version)))

    def _update(self, req: Request, version: int) -> Response:
        return self._write(req, version, replace=True)

    def _patch(self, req: Request, version: int) -> Response:
        return self._write(req, version, replace=False)

    def _delete(self, req: Request) -> Response:
        # `force`: "If true, hard delete". A soft-deleted dashboard is gone from list and show here too.
        force = (req.arg("force") or "false").lower()
        if force not in ("true", "false"):
            raise _bad_request("force must be true or false")
        with self.lock:
            space = self._space(req)
            self._dash(space, req.params["id"])
            del space.dashboards[req.params["id"]]
        return Response(200, raw=b"")

    def _clone(self, req: Request, version: int) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            source = self._dash(space, req.params["id"])
            moves: dict[str, str] = {}
            overrides = body.get("overrides") or []
            if not isinstance(overrides, list):
                raise _bad_request("overrides must be an array")
            for o in overrides:
                if not isinstance(o, dict):
                    raise _bad_request("an override must be an object")
                old, new = o.get("old_thing_id"), o.get("new_thing_id")
                for key, value in (("old_thing_id", old), ("new_thing_id", new)):
                    if not isinstance(value, str) or not UUID.match(value):
                        raise _bad_request(f"override.{key} must be formatted as a uuid")
                if new not in space.things:
                    raise _bad_request(f"thing {new} not found")
                moves[str(old)] = str(new)
            # `clone` has no name: the copy's name is not published; "<name> (copy)" within the limit.
            name = f"{source.name[: 64 - 7]} (copy)"
            d = _Dashboard(self._uuid(), name, [], source.created_by, _now(), source.cover_image)
            d.pages = copy.deepcopy(source.pages)
            d.widgets = [
                _Widget(
                    self._uuid(), w.type, w.name, w.fields, self._moved(space, w.variables, moves), w.page_id
                )
                for w in source.widgets
            ]
            space.dashboards[d.id] = d
            return json_response(self._dash_json(space, d, version), 201, media(self._kind(version)))

    @staticmethod
    def _moved(space: _Space, variables: list[str], moves: dict[str, str]) -> list[str]:
        """Links of a clone: a property of a moved thing becomes the new thing's property of that name."""
        out: list[str] = []
        for pid in variables:
            p = space.properties.get(pid)
            if p is None:
                continue
            if p.thing_id not in moves:
                out.append(pid)
                continue
            target = space.things[moves[p.thing_id]]
            out.extend(q.id for q in target.properties.values() if q.variable_name == p.variable_name)
        return out

    def _share_request(self, req: Request) -> Response:
        body = self._body(req)
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            raise _bad_request("body.message must be a string")
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            space.share_requests.append((d.id, self.owner_id, message))
        return Response(200, raw=b"")

    def _list_shares(self, req: Request) -> Response:
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            refs = [self._user_ref(u) for u in d.shares]
            return json_response(refs, headers=media("dashboardshare", collection=True))

    def _share(self, req: Request) -> Response:
        # `dashboardshare`: one user by `user_id` or `username`, or several as `users`.
        body = self._body(req)
        wanted = body.get("users") if body.get("users") is not None else [body]
        if not isinstance(wanted, list):
            raise _bad_request("body.users must be an array")
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            users = [self._share_user(u, d) for u in wanted]
            for user in users:
                d.shares[user] = None
        return Response(200, raw=b"")

    def _share_user(self, raw: Any, d: _Dashboard) -> str:
        if not isinstance(raw, dict):
            raise _bad_request("a user must be an object")
        user = raw.get("user_id")
        if user is None and isinstance(raw.get("username"), str):
            user = next((u for u, n in self._users.items() if n == raw["username"]), None)
        if not isinstance(user, str) or user not in self._users:
            raise _bad_request(f"user {user} not found")
        if user == d.created_by:
            raise _bad_request("a dashboard cannot be shared with its owner")
        return user

    def _unshare(self, req: Request) -> Response:
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            user = req.params["user"]
            if user not in d.shares:
                raise _not_found(f"dashboard is not shared with user {user}")
            del d.shares[user]
        return Response(200, raw=b"")

    def _template(self, req: Request, version: int) -> Response:
        # ArduinoDashboardv2template: variables name things and variables by name (ArduinoTemplatevariable:
        # `thing_id` "The name of the related thing", `variable_id` "The name of the variable in the code").
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            widgets = []
            for w in d.widgets:
                entry: dict[str, Any] = {"type": w.type, **copy.deepcopy(w.fields)}
                if w.name is not None:
                    entry["name"] = w.name
                entry["variables"] = [
                    {
                        "name": space.properties[pid].name,
                        "permission": space.properties[pid].permission,
                        "thing_id": space.things[space.properties[pid].thing_id].name,
                        "type": space.properties[pid].type,
                        "variable_id": space.properties[pid].variable_name,
                    }
                    for pid in w.variables
                    if pid in space.properties
                ]
                if version >= 3:
                    entry["page_id"] = w.page_id
                widgets.append(entry)
            out: dict[str, Any] = {"id": d.id, "name": d.name, "widgets": widgets}
            if d.cover_image is not None:
                out["cover_image"] = d.cover_image
            if version >= 3:
                out["pages"] = self._dash_json(space, d, version)["pages"]
            return json_response(out, headers=media(f"dashboardv{version}template"))

    def _link(self, req: Request) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            widget = next((w for w in d.widgets if w.id == req.params["widget"]), None)
            if widget is None:
                raise _not_found(f"widget {req.params['widget']} not found")
            ids = self._variable_ids(space, body.get("variables", []))
            widget.variables = ids
            d.updated_at = _now()
            return json_response({"variables": ids}, headers=media("variableslinks"))
