"""The core every part of the sandbox Grafana builds on: its state, and the changes made to it.

``GrafanaCore`` declares the attributes ``GrafanaSandbox.__init__`` sets, so that each route mixin
sees them typed; hands out ids, uids and resourceVersions; walks the folder tree; injects the
listing faults; and creates, saves and removes dashboards and folders (callers hold ``lock``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from sandbox.grafana.conversion import V0, is_v2
from sandbox.grafana.state import (
    _ALNUM,
    _Dashboard,
    _Folder,
    _k8s_uid,
    _now,
    _Org,
    _User,
    _Version,
    library_uids,
    slugify,
)
from sandbox.server import HTTPError, Response, SandboxServer, json_response

NOT_FOUND = "library element could not be found"
CONNECT_FAILED = "Error while connecting library panels"


class GrafanaCore(SandboxServer):
    """State and state changes shared by the mixins ``GrafanaSandbox`` is made of."""

    # Set by GrafanaSandbox.__init__; declared here so that every mixin sees them typed.
    token: str | None
    basic: tuple[str, str] | None
    apis: bool
    stack_id: int | None
    max_folder_depth: int
    continue_ttl: float | None
    expire_next_continue: int
    fail_listing_after: int | None
    truncate_listing_after: int | None
    grafana_version: str
    edit_before_write: dict[str, dict[str, Any] | list[dict[str, Any]]]
    folder_created_before_write: dict[str, str]
    fail_dashboard_get: set[str]
    hidden_from_listing: set[str]
    refuse_dashboard_writes: set[str]
    large_object_bytes: int | None
    dashboard_versions: tuple[str, ...] | None
    public_dashboards_enabled: bool
    lock: threading.RLock
    _uid_rng: random.Random
    _rv: int
    _next_id: int
    _next_team_id: int
    _users: dict[int, _User]
    _orgs: dict[int, _Org]

    # -- small helpers -----------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _gen_uid(self, taken: Callable[[str], bool], length: int = 9, alphabet: str = _ALNUM) -> str:
        while True:
            uid = "".join(self._uid_rng.choice(alphabet) for _ in range(length))
            if not taken(uid):
                return uid

    @staticmethod
    def _folder_url(f: _Folder) -> str:
        return f"/dashboards/f/{f.uid}/{slugify(f.title)}"

    @staticmethod
    def _dash_url(d: _Dashboard) -> str:
        return f"/d/{d.uid}/{slugify(d.title)}"

    def _ancestors(self, org: _Org, parent_uid: str | None) -> list[_Folder]:
        """Folders from ``parent_uid`` up to the root (nearest first)."""
        out: list[_Folder] = []
        seen: set[str] = set()
        while parent_uid and parent_uid in org.folders and parent_uid not in seen:
            seen.add(parent_uid)
            f = org.folders[parent_uid]
            out.append(f)
            parent_uid = f.parent_uid
        return out

    def _subtree(self, org: _Org, uid: str) -> set[str]:
        """The folder ``uid`` and all of its descendants."""
        children: dict[str | None, list[str]] = {}
        for f in org.folders.values():
            children.setdefault(f.parent_uid, []).append(f.uid)
        out: set[str] = set()
        stack = [uid]
        while stack:
            current = stack.pop()
            if current in out:
                continue
            out.add(current)
            stack.extend(children.get(current, []))
        return out

    def _check_listing_faults(self, start: int, *, apis: bool = False) -> None:
        limit = self.fail_listing_after
        if limit is not None and start >= limit:
            if apis:  # the API server's failures are Kubernetes Status bodies
                status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
                raise HTTPError(
                    500, {**status, "message": "internal error", "reason": "InternalError", "code": 500}
                )
            raise HTTPError(500, {"message": "internal error"})

    def _listing_response(self, body: Any, start: int) -> Response:
        response = body if isinstance(body, Response) else json_response(body)
        limit = self.truncate_listing_after
        if limit is not None and start >= limit:
            payload = response.payload()
            # A connection cut mid-body, as far as the client can tell: valid length, invalid JSON.
            response.raw = payload[: len(payload) // 2]
            response.fault = "cut"
        return response

    def _org_by_id(self, org: int) -> _Org:
        found = self._orgs.get(org)
        if found is None:
            raise KeyError(f"org {org} not found")
        return found

    def _folder_or_404(self, org: _Org, uid: str) -> _Folder:
        f = org.folders.get(uid)
        if f is None:
            # pkg/api/apierrors/folder.go ``ToFolderErrorResponse`` for ``ErrFolderNotFound``.
            raise HTTPError(404, {"status": "not-found", "message": "folder not found"})
        return f

    # -- state changes (callers hold the lock) -----------------------------------------------------

    def _new_dashboard(
        self,
        org: _Org,
        uid: str,
        model: dict[str, Any],
        *,
        folder_uid: str | None,
        actor: str,
        message: str = "",
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        default_acl: bool = True,
        api_version: str = V0,
    ) -> _Dashboard:
        now = _now()
        if not is_v2(api_version):  # a v2 spec holds neither (its metadata does)
            model["uid"] = uid
            model["version"] = 1
        if not isinstance(model.get("title"), str):
            model["title"] = ""
        dash_id = self._new_id()
        d = _Dashboard(
            uid=uid,
            id=dash_id,
            model=model,
            folder_uid=folder_uid,
            version=1,
            created=now,
            updated=now,
            created_by=actor,
            updated_by=actor,
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            api_version=api_version,
        )
        d.history.append(_Version(1, now, actor, message, model))
        if default_acl:
            d.acl = self._default_acl(
                org, actor, root=folder_uid is None, creator_kinds=("user", "service-account")
            )
        org.dashboards[uid] = d
        org.index(d)
        org.changed()
        return d

    def _save_dashboard(
        self,
        org: _Org,
        d: _Dashboard,
        model: dict[str, Any],
        *,
        folder_uid: str | None,
        actor: str,
        message: str = "",
        api_version: str = V0,
    ) -> None:
        now = _now()
        version = d.version + 1
        d.api_version = api_version
        if not is_v2(api_version):
            model["uid"] = d.uid
            model["version"] = version
        if not isinstance(model.get("title"), str):
            model["title"] = ""
        org.unindex(d)
        d.model = model
        d.version = version
        d.folder_uid = folder_uid
        org.index(d)
        d.updated = now
        d.updated_by = actor
        self._next_rv()
        d.history.append(_Version(version, now, actor, message, model))

    def _remove_dashboard(self, org: _Org, uid: str) -> _Dashboard:
        d = org.dashboards.pop(uid)
        org.unindex(d)
        self._forget_dashboard(org, uid)
        org.changed()
        self._next_rv()
        return d

    def _new_folder(self, org: _Org, uid: str, title: str, parent_uid: str | None, actor: str) -> _Folder:
        now = _now()
        folder_id = self._new_id()
        f = _Folder(
            uid=uid,
            id=folder_id,
            title=title,
            parent_uid=parent_uid,
            version=1,
            created=now,
            updated=now,
            created_by=actor,
            updated_by=actor,
            resource_version=self._next_rv(),
            k8s_uid=_k8s_uid("folder", org.id, uid, folder_id),
        )
        if self._version() >= (12, 0):
            # pkg/registry/apis/folders/register.go ``setDefaultFolderPermissions``: root folders only,
            # the creator (user or service account) Admin, Editor Edit, Viewer View.
            if parent_uid is None:
                f.acl = self._default_acl(org, actor, root=True, creator_kinds=("user", "service-account"))
        else:
            # pkg/api/folder.go ``setDefaultFolderPermissions`` (11.x): a creating user (not a service
            # account) gets Admin; a root folder also Editor Edit and Viewer View.
            f.acl = self._default_acl(org, actor, root=parent_uid is None, creator_kinds=("user",))
        org.folders[uid] = f
        org.changed()
        return f

    def _namespace(self, org: int) -> str:
        """The org's /apis namespace (pkg/services/apiserver/endpoints/request/namespace.go
        ``GetNamespaceMapper``): ``default``, ``org-N``, or the Cloud stack's ``stacks-N``."""
        if self.stack_id is not None:
            return f"stacks-{self.stack_id}"
        return "default" if org == 1 else f"org-{org}"

    def _version(self) -> tuple[int, int]:
        major, _, rest = self.grafana_version.partition(".")
        minor = rest.partition(".")[0]
        return int(major), int(minor) if minor.isdigit() else 0

    def _default_acl(
        self, org: _Org, actor: str, *, root: bool, creator_kinds: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """The permissions Grafana gives a new object ([rbac] permissions_on_creation, on by default).

        pkg/services/dashboards/service/dashboard_service.go ``SetDefaultPermissions``: the creator,
        a user or a service account, gets Admin; at the root Editor also gets Edit and Viewer View.
        """
        now = _now()
        acl: list[dict[str, Any]] = []
        kind, _, login = actor.partition(":")
        creator = next((u for u in self._users.values() if u.login == login), None)
        if creator is not None and kind in creator_kinds:
            acl.append({"userId": creator.id, "permission": 4, "created": now, "updated": now})
        if root:
            acl.append({"role": "Editor", "permission": 2, "created": now, "updated": now})
            acl.append({"role": "Viewer", "permission": 1, "created": now, "updated": now})
        return acl

    def _connect_library_panels(self, org: _Org, dashboard_uid: str, model: dict[str, Any]) -> str | None:
        """Connect a saved dashboard to its library panels; the error, if one is missing."""
        uids = library_uids(model)
        if any(uid is None or uid not in org.library for uid in uids):
            missing = next((u for u in uids if u is None or u not in org.library), None)
            return "library panel header is missing required property uid" if missing is None else NOT_FOUND
        for linked in org.library_links.values():
            linked.discard(dashboard_uid)
        for uid in uids:
            if uid is not None:
                org.library_links.setdefault(uid, set()).add(dashboard_uid)
        return None

    def _forget_dashboard(self, org: _Org, uid: str) -> None:
        """What goes with a deleted dashboard: its library panel connections and its public dashboard.

        pkg/services/dashboards/service/dashboard_service.go ``deleteDashboard``:
        ``DisconnectElementsFromDashboard`` and ``publicDashboardService.DeleteByDashboardUIDs``.
        """
        for linked in org.library_links.values():
            linked.discard(uid)
        org.public.pop(uid, None)

    def _remove_folder(self, org: _Org, uid: str) -> _Folder:
        doomed = self._subtree(org, uid)
        folder = org.folders[uid]
        # pkg/api/folder.go ``DeleteFolder``: the folder's library elements go first, and not at all
        # while a dashboard (even one in the folder) uses one (``ErrFolderHasConnectedLibraryElements``).
        elements = [e for e in org.library.values() if e.folder_uid in doomed]
        if any(org.library_links.get(e.uid) for e in elements):
            raise HTTPError(
                403, {"message": "Folder could not be deleted because it contains library elements in use"}
            )
        for e in elements:
            del org.library[e.uid]
            org.library_links.pop(e.uid, None)
        for d in [d for d in org.dashboards.values() if d.folder_uid in doomed]:
            org.unindex(d)
            del org.dashboards[d.uid]
            self._forget_dashboard(org, d.uid)
        for folder_uid in doomed:
            del org.folders[folder_uid]
        org.changed()
        self._next_rv()
        return folder

    def _same_title(
        self, org: _Org, title: str, folder_uid: str | None, exclude: str | None
    ) -> _Dashboard | None:
        for uid in sorted(org.titles.get((folder_uid, title), ())):
            if uid != exclude:
                return org.dashboards[uid]
        return None
