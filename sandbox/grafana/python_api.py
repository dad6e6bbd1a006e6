"""The sandbox Grafana's Python API: how tests set its state up and read it back without HTTP.

Also the ``edit_before_write`` hook that the write handlers of both APIs call, which saves a
dashboard through this API as if someone had edited it between a client's read and its write.
"""

from __future__ import annotations

import copy
import string
from typing import Any, Literal

from sandbox.grafana.access import AccessControl
from sandbox.grafana.legacy_views import LegacyViews
from sandbox.grafana.state import _Dashboard, _Folder, _now, _Org, _Team, _User
from sandbox.server import RequestRecord


class PythonApi(AccessControl, LegacyViews):
    """The thread-safe Python API tests set the state up and inspect it with."""

    # -- Python API --------------------------------------------------------------------------------

    def add_org(self, name: str) -> int:
        """Create an org (the server admin is a member) and return its id."""
        with self.lock:
            org_id = max(self._orgs) + 1
            self._orgs[org_id] = _Org(org_id, name, members={1: "Admin"})
            return org_id

    def add_folder(self, uid: str, title: str, parent_uid: str | None = None, org: int = 1) -> dict[str, Any]:
        """Create a folder; returns it as ``GET /api/folders/:uid`` would."""
        with self.lock:
            o = self._org_by_id(org)
            if uid in o.folders:
                raise ValueError(f"folder {uid!r} already exists")
            if parent_uid is not None and parent_uid not in o.folders:
                raise KeyError(f"parent folder {parent_uid!r} not found")
            f = self._new_folder(o, uid, title, parent_uid, "user:admin")
            return self._folder_json(o, f)

    def add_dashboard(self, model: dict[str, Any], folder_uid: str | None = None, org: int = 1) -> str:
        """Create a dashboard (version 1) from a copy of ``model``; returns its uid (generated if absent)."""
        return self._insert_dashboard(copy.deepcopy(model), folder_uid, org)

    def _insert_dashboard(self, model: dict[str, Any], folder_uid: str | None = None, org: int = 1) -> str:
        """Like ``add_dashboard`` but takes ownership of ``model``'s top level and shares nested values.

        Used by bulk population, where deep copies of thousands of models would dominate the run time.
        """
        model = dict(model)
        model.pop("id", None)
        with self.lock:
            o = self._org_by_id(org)
            if folder_uid is not None and folder_uid not in o.folders:
                raise KeyError(f"folder {folder_uid!r} not found")
            uid = model.get("uid")
            if uid is not None and not isinstance(uid, str):
                raise TypeError("dashboard uid must be a string")
            if uid and uid in o.dashboards:
                raise ValueError(f"dashboard {uid!r} already exists")
            uid = uid or self._gen_uid(lambda u: u in o.dashboards)
            d = self._new_dashboard(o, uid, model, folder_uid=folder_uid, actor="user:admin")
            # Saved whatever its library panels; connected unless one is missing (the step rolls back).
            self._connect_library_panels(o, uid, d.model)
            return uid

    def add_v2_dashboard(
        self,
        uid: str,
        spec: dict[str, Any],
        folder_uid: str | None = None,
        org: int = 1,
        version: str = "v2beta1",
    ) -> None:
        """Create a dashboard stored in the v2 schema, as a write through ``/apis/.../v2beta1`` does."""
        with self.lock:
            o = self._org_by_id(org)
            if uid in o.dashboards:
                raise ValueError(f"dashboard {uid!r} already exists")
            self._new_dashboard(
                o, uid, dict(spec), folder_uid=folder_uid, actor="user:admin", api_version=version
            )

    def stored_version(self, uid: str, org: int = 1) -> str:
        """The API version a dashboard is stored in (v0alpha1 after a legacy save)."""
        with self.lock:
            return self._org_by_id(org).dashboards[uid].api_version

    def get_dashboard(self, uid: str, org: int = 1) -> dict[str, Any] | None:
        """A copy of the stored model (with uid, title and version; no id), or None."""
        with self.lock:
            d = self._org_by_id(org).dashboards.get(uid)
            model = d.model if d is not None else None
        return copy.deepcopy(model) if model is not None else None

    def dashboard_folder(self, uid: str, org: int = 1) -> str | None:
        """The folder uid a dashboard is in (None at the root); KeyError if it does not exist."""
        with self.lock:
            return self._org_by_id(org).dashboards[uid].folder_uid

    def update_dashboard(self, uid: str, changes: dict[str, Any], org: int = 1) -> None:
        """Shallow-merge ``changes`` into the model ; a new save (version, resourceVersion, generation +1)."""
        with self.lock:
            o = self._org_by_id(org)
            d = o.dashboards[uid]
            model = {**d.model, **copy.deepcopy(changes)}
            model.pop("id", None)
            self._save_dashboard(o, d, model, folder_uid=d.folder_uid, actor="user:admin")

    def move_dashboard(self, uid: str, folder_uid: str | None, org: int = 1) -> None:
        """Move a dashboard to another folder (None: the root); a new save, like moving it in the UI."""
        with self.lock:
            o = self._org_by_id(org)
            d = o.dashboards[uid]
            model = {k: v for k, v in d.model.items() if k != "id"}
            self._save_dashboard(o, d, model, folder_uid=folder_uid, actor="user:admin")

    def delete_dashboard(self, uid: str, org: int = 1) -> None:
        """Delete a dashboard (and its permissions)."""
        with self.lock:
            o = self._org_by_id(org)
            if uid not in o.dashboards:
                raise KeyError(f"dashboard {uid!r} not found")
            self._remove_dashboard(o, uid)

    def provision(self, uid: str, path: str, *, allow_ui_updates: bool = False, org: int = 1) -> None:
        """Mark a dashboard as coming from a provisioning file (``path``, relative to its folder)."""
        with self.lock:
            self._org_by_id(org).dashboards[uid].provisioned = (path, allow_ui_updates)

    def delete_folder(self, uid: str, org: int = 1) -> None:
        """Delete a folder with its subfolders and their dashboards."""
        with self.lock:
            o = self._org_by_id(org)
            if uid not in o.folders:
                raise KeyError(f"folder {uid!r} not found")
            self._remove_folder(o, uid)

    def set_permissions(
        self, kind: Literal["dashboard", "folder"], uid: str, items: list[dict[str, Any]], org: int = 1
    ) -> None:
        """Replace the own ACL of a dashboard or folder; items in the POST shape (userId/teamId/role)."""
        with self.lock:
            o = self._org_by_id(org)
            target: _Dashboard | _Folder = o.dashboards[uid] if kind == "dashboard" else o.folders[uid]
            target.acl = self._parse_acl(o, items)  # raises on items Grafana would refuse

    def permissions(
        self, kind: Literal["dashboard", "folder"], uid: str, org: int = 1
    ) -> list[dict[str, Any]]:
        """The own ACL as ``GET .../permissions`` returns it (in a stable order: users, teams, roles)."""
        with self.lock:
            o = self._org_by_id(org)
            target: _Dashboard | _Folder = o.dashboards[uid] if kind == "dashboard" else o.folders[uid]
            return self._acl_view(o, target, shuffle=False)

    def add_user(
        self,
        login: str,
        email: str | None = None,
        name: str | None = None,
        org: int = 1,
        role: str = "Viewer",
    ) -> int:
        """Create a user (or reuse one with that login), make it a member of ``org``; returns its id."""
        with self.lock:
            o = self._org_by_id(org)
            for user in self._users.values():
                if user.login == login:
                    o.members.setdefault(user.id, role)
                    return user.id
            user_id = max(self._users) + 1
            self._users[user_id] = _User(
                user_id, login, email or f"{login}@example.com", name or login, _now()
            )
            o.members[user_id] = role
            return user_id

    def add_team(
        self, name: str, uid: str | None = None, org: int = 1, email: str = "", members: tuple[int, ...] = ()
    ) -> int:
        """Create a team in ``org`` (or reuse the one with that name); returns its id."""
        with self.lock:
            o = self._org_by_id(org)
            for team in o.teams.values():
                if team.name == name:
                    team.members.update(members)
                    return team.id
            all_uids = {t.uid for x in self._orgs.values() for t in x.teams.values()}
            if uid is not None and uid in all_uids:
                raise ValueError(f"team uid {uid!r} already exists")
            self._next_team_id += 1
            team_uid = uid or self._gen_uid(
                lambda u: u in all_uids, 14, string.ascii_lowercase + string.digits
            )
            new = _Team(self._next_team_id, team_uid, org, name, email, set(members))
            o.teams[new.id] = new
            return new.id

    def dashboards(self, org: int = 1) -> list[str]:
        """Sorted uids of the org's dashboards."""
        with self.lock:
            return list(self._org_by_id(org).dashboard_keys())

    def folders(self, org: int = 1) -> list[str]:
        """Sorted uids of the org's folders."""
        with self.lock:
            return list(self._org_by_id(org).folder_keys())

    def wipe(self, org: int = 1) -> None:
        """Delete every dashboard, folder, permission, library panel and public dashboard of the org.

        Users and teams stay.
        """
        with self.lock:
            o = self._org_by_id(org)
            o.dashboards.clear()
            o.titles.clear()
            o.folders.clear()
            o.library.clear()
            o.library_links.clear()
            o.public.clear()
            o.changed()
            self._next_rv()

    def write_requests(self) -> list[RequestRecord]:
        """Logged requests that were not GET or HEAD."""
        return [r for r in self.logged_requests() if r.method not in ("GET", "HEAD")]

    # -- edits between a read and a write (legacy and /apis handlers) ------------------------------

    def _concurrent_edit(self, org: int, uid: str) -> None:
        # A list: one save by someone else before each of the next writes.
        queued = self.edit_before_write.get(uid)
        if isinstance(queued, list):
            changes = queued.pop(0) if queued else None
            if not queued:
                del self.edit_before_write[uid]
        else:
            changes = queued
            self.edit_before_write.pop(uid, None)
        if changes is not None and uid in self._org_by_id(org).dashboards:
            self.update_dashboard(uid, changes, org=org)

    def _concurrent_folder_create(self, org: int, uid: str) -> None:
        title = self.folder_created_before_write.pop(uid, None)
        if title is not None and uid not in self._org_by_id(org).folders:
            self.add_folder(uid, title, org=org)
