"""Who may do what in the sandbox Grafana: callers, their org, and Grafana's access control.

Followed from Grafana's source (grafana/grafana, 11.x/12.x):

- A service-account token belongs to one org and is never a server admin. A request that names
  another org (``X-Grafana-Org-Id``) is refused with 401 ``api-key.organization-mismatch``
  (pkg/services/authn/clients/api_key.go ``validateApiKey``); with no header the token's org is used.
- Basic roles inherit upwards: a grant to Viewer reaches Editor and Admin, one to Editor reaches Admin
  (pkg/services/accesscontrol ``BuiltInRolesWithParents``).
- The org Admin holds every dashboard, folder and permission action on every object of its org
  (pkg/api/accesscontrol.go ``declareFixedRoles``: fixed:dashboards:writer, fixed:folders:writer;
  resourcepermissions/service.go: fixed:<resource>.permissions:writer, all granted to Admin), plus
  ``org.users:read``, ``teams:read`` and ``serviceaccounts:read``; never ``users:read`` on
  ``global.users:*``, which only the server admin holds (``usersReaderRole``).
- Editors may create dashboards and folders at the root (fixed:dashboards:creator, fixed:folders:creator);
  Viewers may read the General folder (fixed:folders.general:reader). Everything else comes from the
  managed permissions on an object and its ancestor folders: View reads, Edit also writes, deletes and
  creates dashboards inside a folder, Admin also reads and writes the permissions
  (ossaccesscontrol/dashboard.go and folder.go ``DashboardAdminActions``, ``FolderEditActions`` ...).
- A denied request gets the middleware's 403 body (pkg/services/accesscontrol/middleware.go ``deny``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sandbox.grafana.core import GrafanaCore
from sandbox.grafana.state import _Dashboard, _Folder, _now, _Org, _User
from sandbox.server import HTTPError, Request, Response, json_response

VIEW, EDIT, ADMIN = 1, 2, 4
ROLES = ("Viewer", "Editor", "Admin")
# A role entry reaches the callers of that role and of every role above it.
_REACHES = {"Viewer": {"Viewer", "Editor", "Admin"}, "Editor": {"Editor", "Admin"}, "Admin": {"Admin"}}
# The managed permission level an action needs on its object.
_LEVEL = {
    "dashboards:read": VIEW,
    "folders:read": VIEW,
    "dashboards:write": EDIT,
    "dashboards:delete": EDIT,
    "dashboards:create": EDIT,
    "folders:write": EDIT,
    "folders:delete": EDIT,
    # GUESS: creating a subfolder needs Edit on the parent (FolderEditActions of nested-folder releases).
    "folders:create": EDIT,
    "dashboards.permissions:read": ADMIN,
    "dashboards.permissions:write": ADMIN,
    "folders.permissions:read": ADMIN,
    "folders.permissions:write": ADMIN,
}
_ORG_SCOPES = {
    "org.users:read": "users:*",
    "teams:read": "teams:*",
    "serviceaccounts:read": "serviceaccounts:*",
}
# Org-wide actions (no object) and the basic roles that hold them.
_ORG_ACTIONS = {
    "org.users:read": {"Admin"},
    "teams:read": {"Admin"},
    "serviceaccounts:read": {"Admin"},
}


# pkg/services/libraryelements/accesscontrol.go; scoped to folders (library panels inherit them).
_LIBRARY_ACTIONS = (
    "library.panels:create",
    "library.panels:read",
    "library.panels:write",
    "library.panels:delete",
)


@dataclass(frozen=True)
class Caller:
    """The identity behind a request, in the org it acts in."""

    user_id: int
    login: str
    org_id: int
    role: str | None
    server_admin: bool
    service_account: bool

    @property
    def actor(self) -> str:
        """How the request log and the objects' createdBy name it."""
        return f"{'service-account' if self.service_account else 'user'}:{self.login}"


class Rbac(GrafanaCore):
    """Service accounts and their tokens, callers, and the access checks every route makes."""

    _tokens: dict[str, int]

    # -- service accounts ---------------------------------------------------------------------------

    def add_service_account(
        self,
        name: str,
        role: Literal["Viewer", "Editor", "Admin"] = "Admin",
        org: int = 1,
        token: str | None = None,
    ) -> str:
        """Create a service account in ``org`` with a basic role; returns a new token for it."""
        with self.lock:
            o = self._org_by_id(org)
            # pkg/services/serviceaccounts ``GenerateLogin``: sa-<org>-<lower-case name>.
            login = f"sa-{org}-{name.lower().replace(' ', '-')}"
            user_id = max(self._users) + 1
            self._users[user_id] = _User(user_id, login, "", name, _now(), service_account=True, org_id=org)
            o.members[user_id] = role
            issued = token or f"glsa_{secrets.token_hex(16)}"
            self._tokens[issued] = user_id
            return issued

    # -- who is asking -------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> str | None:
        """A service-account token (bearer) or the server admin's basic credentials."""
        if request.path == "/api/health":
            return "anonymous"
        header = request.header("authorization") or ""
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            for token, user_id in self._tokens.items():
                if hmac.compare_digest(credentials.encode(), token.encode()):
                    return f"service-account:{self._users[user_id].login}"
        elif scheme.lower() == "basic" and self.basic is not None:
            try:
                login, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user_ok = hmac.compare_digest(login.encode(), self.basic[0].encode())
            password_ok = hmac.compare_digest(password.encode(), self.basic[1].encode())
            if user_ok and password_ok:
                return f"user:{login}"
        return None

    def _caller(self, req: Request, org: _Org) -> Caller:
        kind, _, login = (req.user or "").partition(":")
        user = next((u for u in self._users.values() if u.login == login), None)
        if user is None or kind not in ("user", "service-account"):
            raise HTTPError(401, {"message": "Unauthorized"})
        return Caller(
            user_id=user.id,
            login=user.login,
            org_id=org.id,
            role=org.members.get(user.id),
            server_admin=user.is_admin and not user.service_account,
            service_account=user.service_account,
        )

    def _org(self, req: Request) -> _Org:
        raw = (req.header("x-grafana-org-id") or "").strip()
        try:
            wanted = int(raw) if raw else None
        except ValueError:
            raise HTTPError(400, {"message": "invalid org id"}) from None
        kind, _, login = (req.user or "").partition(":")
        if kind == "service-account":
            user = next(u for u in self._users.values() if u.login == login)
            if wanted is not None and wanted != user.org_id:
                raise HTTPError(
                    401,
                    {
                        "message": "API key does not belong to the requested organization",
                        "messageId": "api-key.organization-mismatch",
                        "statusCode": 401,
                    },
                )
            wanted = user.org_id
        org = self._orgs.get(wanted or 1)
        if org is None:
            # GUESS (not traced in authn): an org the user is not in is no identity there, so 401.
            raise HTTPError(401, {"message": "Unauthorized"})
        return org

    # -- what the caller may do ------------------------------------------------------------------

    def _level(self, org: _Org, caller: Caller, obj: _Dashboard | _Folder | None) -> int:
        """The caller's permission on an object (None: the root), own entries and inherited ones."""
        if caller.role == "Admin":
            return ADMIN
        teams = {t.id for t in org.teams.values() if caller.user_id in t.members}
        holders: list[_Dashboard | _Folder] = []
        if obj is not None:
            holders.append(obj)
        parent = obj.folder_uid if isinstance(obj, _Dashboard) else obj.parent_uid if obj else None
        holders.extend(self._ancestors(org, parent))
        best = 0
        for holder in holders:
            for entry in holder.acl:
                if (
                    entry.get("userId") == caller.user_id
                    or entry.get("teamId") in teams
                    or caller.role in _REACHES.get(entry.get("role") or "", set())
                ):
                    best = max(best, int(entry["permission"]))
        return best

    def _may(self, org: _Org, caller: Caller, action: str, obj: _Dashboard | _Folder | None) -> bool:
        if action == "dashboards.public:write":  # fixed:dashboards.public:writer, the Admin's alone
            return caller.role == "Admin"
        if obj is None and action in ("dashboards:create", "folders:create"):
            return caller.role in ("Editor", "Admin")  # creating at the root
        if obj is None and action == "folders:read":
            return caller.role is not None  # the General folder
        return self._level(org, caller, obj) >= _LEVEL[action]

    def _require(
        self, req: Request, org: _Org, action: str, obj: _Dashboard | _Folder | None = None
    ) -> Caller:
        """The caller, if it holds ``action`` on ``obj``; the middleware's 403 otherwise."""
        caller = self._caller(req, org)
        if not self._may(org, caller, action, obj):
            raise self._denied(action)
        return caller

    def _require_org(self, req: Request, org: _Org, action: str) -> Caller:
        """The caller, if it holds an org-wide action (or is the server admin for ``users:read``)."""
        caller = self._caller(req, org)
        allowed = caller.server_admin if action == "users:read" else caller.role in _ORG_ACTIONS[action]
        if not allowed:
            raise self._denied(action)
        return caller

    def _visible(self, org: _Org, caller: Caller, obj: _Dashboard | _Folder) -> bool:
        """Whether a listing shows the object to the caller (search filters by read access)."""
        action = "folders:read" if isinstance(obj, _Folder) else "dashboards:read"
        return self._level(org, caller, obj) >= _LEVEL[action]

    def _denied(self, action: str) -> HTTPError:
        error_id = "ACE" + "".join(str(self._uid_rng.randrange(10)) for _ in range(10))
        return HTTPError(
            403,
            {
                "title": "Access denied",
                "message": (
                    f"You'll need additional permissions to perform this action. Permissions needed: {action}"
                ),
                "accessErrorId": error_id,
            },
        )

    def _user_permissions(self, req: Request) -> Response:
        """``GET /api/access-control/user/permissions``: every action the caller holds, with its scopes.

        pkg/services/accesscontrol/api/api.go ``getUserPermissions`` (signed in, no further check).
        """
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            held: dict[str, set[str]] = {}

            def grant(action: str, scope: str) -> None:
                held.setdefault(action, set()).add(scope)

            if caller.role == "Admin":
                for action in _LEVEL:
                    grant(action, "folders:*" if action.startswith("folders") else "dashboards:*")
                for action, scope in _ORG_SCOPES.items():
                    grant(action, scope)
                for action in _LIBRARY_ACTIONS:  # fixed:library.panels:writer
                    grant(action, "folders:*")
                grant("dashboards.public:write", "dashboards:*")
            else:
                if caller.role in ("Editor", "Viewer"):
                    grant("folders:read", "folders:uid:general")
                    grant("library.panels:read", "folders:uid:general")
                if caller.role == "Editor":
                    grant("dashboards:create", "folders:uid:general")
                    grant("folders:create", "folders:uid:general")
                    for action in _LIBRARY_ACTIONS:  # fixed:library.panels:general.writer
                        grant(action, "folders:uid:general")
                objects: list[_Dashboard | _Folder] = [*org.folders.values(), *org.dashboards.values()]
                for obj in objects:
                    level = self._level(org, caller, obj)
                    prefix = "folders" if isinstance(obj, _Folder) else "dashboards"
                    for action, needed in _LEVEL.items():
                        if level >= needed and action.startswith(prefix):
                            grant(action, f"{prefix}:uid:{obj.uid}")
                for team in org.teams.values():
                    if caller.user_id in team.members:
                        grant("teams:read", f"teams:id:{team.id}")
            if caller.server_admin:
                grant("users:read", "global.users:*")
            return json_response({action: sorted(scopes) for action, scopes in sorted(held.items())})
