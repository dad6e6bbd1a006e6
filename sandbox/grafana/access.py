"""Access control in the sandbox Grafana: who the caller is, which org it acts in, and the ACLs.

Authentication (a bearer ``token`` is a service account, basic ``basic`` the server admin), org
selection by ``X-Grafana-Org-Id``, dashboard and folder ACLs (own entries, then those inherited from
ancestor folders) with their ``/api/.../permissions`` routes, and the users, org members and teams
that ACL entries name.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from sandbox.grafana.core import GrafanaCore
from sandbox.grafana.state import _Dashboard, _Folder, _now, _Org, _Team, _User, slugify
from sandbox.server import HTTPError, Request, Response, json_response

PERMISSION_NAMES = {1: "View", 2: "Edit", 4: "Admin"}
ROLES = ("Viewer", "Editor", "Admin")


class AccessControl(GrafanaCore):
    """Authentication, org selection, ACLs and their routes, user and team lookups."""

    # -- auth and org selection --------------------------------------------------------------------

    def authenticate(self, request: Request) -> str | None:
        """Bearer ``token`` (a service account) or basic ``basic`` (the server admin)."""
        if request.path == "/api/health":
            return "anonymous"
        header = request.header("authorization") or ""
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            if hmac.compare_digest(credentials.encode(), self.token.encode()):
                return "service-account:sandbox"
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

    def _org(self, req: Request) -> _Org:
        raw = (req.header("x-grafana-org-id") or "").strip()
        try:
            org_id = int(raw) if raw else 1
        except ValueError:
            raise HTTPError(400, {"message": "invalid org id"}) from None
        org = self._orgs.get(org_id)
        if org is None:
            raise HTTPError(404, {"message": "org not found"})
        return org

    # -- ACLs --------------------------------------------------------------------------------------

    def _acl_item(
        self, org: _Org, entry: dict[str, Any], owner: _Dashboard | _Folder, *, inherited: bool
    ) -> dict[str, Any]:
        is_folder = isinstance(owner, _Folder)
        url = self._folder_url(owner) if isinstance(owner, _Folder) else self._dash_url(owner)
        item: dict[str, Any] = {
            "dashboardId": owner.id,
            "dashboardUid": owner.uid,
            "created": entry["created"],
            "updated": entry["updated"],
        }
        if "userId" in entry:
            user = self._users.get(entry["userId"])
            item.update(
                userId=entry["userId"],
                userLogin=user.login if user else "",
                userEmail=user.email if user else "",
                userAvatarUrl="/avatar/sandbox",
            )
        elif "teamId" in entry:
            team = org.teams.get(entry["teamId"])
            item.update(
                teamId=entry["teamId"],
                teamUid=team.uid if team else "",
                team=team.name if team else "",
                teamEmail=team.email if team else "",
                teamAvatarUrl="/avatar/sandbox",
            )
        else:
            item["role"] = entry["role"]
        item.update(
            permission=entry["permission"],
            permissionName=PERMISSION_NAMES[entry["permission"]],
            uid=owner.uid,
            title=owner.title,
            slug=slugify(owner.title),
            isFolder=is_folder,
            url=url,
            inherited=inherited,
        )
        return item

    def _acl_view(self, org: _Org, owner: _Dashboard | _Folder) -> list[dict[str, Any]]:
        items = [self._acl_item(org, e, owner, inherited=False) for e in owner.acl]
        parent = owner.folder_uid if isinstance(owner, _Dashboard) else owner.parent_uid
        for ancestor in self._ancestors(org, parent):
            items.extend(self._acl_item(org, e, ancestor, inherited=True) for e in ancestor.acl)
        return items

    def _parse_acl(self, org: _Org, items: Any) -> list[dict[str, Any]]:
        """Validate ACL items in the POST shape; raises ValueError with Grafana's message."""
        if not isinstance(items, list):
            raise ValueError("bad request data")
        now = _now()
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, Any]] = set()
        for raw in items:
            if not isinstance(raw, dict):
                raise ValueError("bad request data")
            permission = raw.get("permission")
            if isinstance(permission, bool) or permission not in PERMISSION_NAMES:
                raise ValueError("invalid permission")
            user_id = raw.get("userId") or 0
            team_id = raw.get("teamId") or 0
            role = raw.get("role") or ""
            if sum(1 for v in (user_id, team_id, role) if v) != 1:
                raise ValueError("an item needs exactly one of userId, teamId or role")
            entry: dict[str, Any]
            if user_id:
                if not isinstance(user_id, int) or user_id not in org.members:
                    raise ValueError("user not found")
                entry = {"userId": user_id}
                key: tuple[str, Any] = ("user", user_id)
            elif team_id:
                if not isinstance(team_id, int) or team_id not in org.teams:
                    raise ValueError("team not found")
                entry = {"teamId": team_id}
                key = ("team", team_id)
            else:
                if role not in ROLES:
                    raise ValueError("invalid role")
                entry = {"role": role}
                key = ("role", role)
            if key in seen:
                raise ValueError("duplicate permission entry")
            seen.add(key)
            entry.update(permission=permission, created=now, updated=now)
            out.append(entry)
        return out

    # -- permission handlers -----------------------------------------------------------------------

    def _get_dashboard_permissions(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            d = org.dashboards.get(req.params["uid"])
            if d is None:
                raise HTTPError(404, {"message": "Dashboard not found"})
            return json_response(self._acl_view(org, d))

    def _post_dashboard_permissions(self, req: Request) -> Response:
        items = req.json.get("items") if isinstance(req.json, dict) else None
        with self.lock:
            org = self._org(req)
            d = org.dashboards.get(req.params["uid"])
            if d is None:
                raise HTTPError(404, {"message": "Dashboard not found"})
            try:
                d.acl = self._parse_acl(org, items)
            except ValueError as exc:
                raise HTTPError(400, {"message": str(exc)}) from None
            return json_response({"message": "Dashboard permissions updated"})

    def _get_folder_permissions(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            return json_response(self._acl_view(org, self._folder_or_404(org, req.params["uid"])))

    def _post_folder_permissions(self, req: Request) -> Response:
        items = req.json.get("items") if isinstance(req.json, dict) else None
        with self.lock:
            org = self._org(req)
            f = self._folder_or_404(org, req.params["uid"])
            try:
                f.acl = self._parse_acl(org, items)
            except ValueError as exc:
                raise HTTPError(400, {"message": str(exc)}) from None
            return json_response({"message": "Folder permissions updated"})

    # -- user and team handlers --------------------------------------------------------------------

    def _user_json(self, user: _User, org_id: int) -> dict[str, Any]:
        return {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "login": user.login,
            "theme": "",
            "orgId": org_id,
            "isGrafanaAdmin": user.is_admin,
            "isDisabled": False,
            "isExternal": False,
            "authLabels": [],
            "updatedAt": user.created,
            "createdAt": user.created,
            "avatarUrl": "/avatar/sandbox",
        }

    def _lookup_user(self, req: Request) -> Response:
        wanted = (req.arg("loginOrEmail") or "").casefold()
        with self.lock:
            org = self._org(req)
            for user in self._users.values():
                if wanted and wanted in (user.login.casefold(), user.email.casefold()):
                    return json_response(self._user_json(user, org.id))
            raise HTTPError(404, {"message": "user not found"})

    def _org_users(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            out = []
            for user_id, role in sorted(org.members.items()):
                user = self._users[user_id]
                out.append(
                    {
                        "orgId": org.id,
                        "userId": user.id,
                        "email": user.email,
                        "name": user.name,
                        "avatarUrl": "/avatar/sandbox",
                        "login": user.login,
                        "role": role,
                        "lastSeenAt": user.created,
                        "lastSeenAtAge": "10 years",
                    }
                )
            return json_response(out)

    @staticmethod
    def _team_json(team: _Team) -> dict[str, Any]:
        return {
            "id": team.id,
            "uid": team.uid,
            "orgId": team.org_id,
            "name": team.name,
            "email": team.email,
            "avatarUrl": "/avatar/sandbox",
            "memberCount": len(team.members),
            "permission": 0,
        }

    def _search_teams(self, req: Request) -> Response:
        per_page = req.int_arg("perpage", 1000)
        per_page = 1000 if per_page <= 0 else per_page
        page = max(1, req.int_arg("page", 1))
        name = req.arg("name")
        query = (req.arg("query") or "").casefold()
        with self.lock:
            org = self._org(req)
            teams = [
                t
                for t in sorted(org.teams.values(), key=lambda t: (t.name, t.id))
                if (name is None or t.name.casefold() == name.casefold()) and query in t.name.casefold()
            ]
            return json_response(
                {
                    "totalCount": len(teams),
                    "teams": [self._team_json(t) for t in teams[(page - 1) * per_page : page * per_page]],
                    "page": page,
                    "perPage": per_page,
                }
            )

    def _get_team(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            try:
                team = org.teams.get(int(req.params["id"]))
            except ValueError:
                team = None
            if team is None:
                raise HTTPError(404, {"message": "Team not found"})
            return json_response(self._team_json(team))
