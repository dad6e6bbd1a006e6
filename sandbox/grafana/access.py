"""Access control in the sandbox Grafana: who the caller is, which org it acts in, and the ACLs.

Authentication (a bearer ``token`` is a service account, basic ``basic`` the server admin), org
selection by ``X-Grafana-Org-Id``, dashboard and folder ACLs (own entries, then those inherited from
ancestor folders) with their ``/api/.../permissions`` routes, and the users, org members and teams
that ACL entries name.
"""

from __future__ import annotations

from typing import Any

from sandbox.grafana.rbac import ADMIN, ROLES, Rbac
from sandbox.grafana.state import _Dashboard, _Folder, _now, _Org, _Team, _User, slugify
from sandbox.server import HTTPError, Request, Response, json_response

PERMISSION_NAMES = {1: "View", 2: "Edit", 4: "Admin"}


class _SetPermissionsFailed(ValueError):
    """An ACL item ``SetPermissions`` refuses (the HTTP API answers 500, not 400)."""


class AccessControl(Rbac):
    """Authentication, org selection, ACLs and their routes, user and team lookups."""

    # -- ACLs --------------------------------------------------------------------------------------

    def _acl_item(self, org: _Org, entry: dict[str, Any], owner: _Dashboard | _Folder) -> dict[str, Any]:
        """One entry as pkg/services/dashboards/models.go ``DashboardACLInfoDTO`` carries it."""
        is_folder = isinstance(owner, _Folder)
        item: dict[str, Any] = {"created": entry["created"], "updated": entry["updated"]}
        if isinstance(owner, _Folder):
            # pkg/api/folder_permission.go ``getFolderACL``: folderId is the folder, folderUid its parent.
            item["folderId"] = owner.id
            if owner.parent_uid:
                item["folderUid"] = owner.parent_uid
            url = self._folder_url(owner)
        else:
            item["dashboardId"] = owner.id
            if owner.folder_uid:
                item["folderUid"] = owner.folder_uid
            url = self._dash_url(owner)
        user = self._users.get(entry.get("userId") or 0)
        team = org.teams.get(entry.get("teamId") or 0)
        item.update(
            userId=user.id if user else 0,
            userUid=f"u{user.id:012d}" if user else "",
            userLogin=user.login if user else "",
            userEmail=user.email if user else "",
            userAvatarUrl="/avatar/sandbox" if user else "",
            teamId=team.id if team else 0,
            teamUid=team.uid if team else "",
            teamEmail=team.email if team else "",
            teamAvatarUrl="/avatar/sandbox" if team else "",
            team=team.name if team else "",
        )
        if "role" in entry:
            item["role"] = entry["role"]
        item.update(
            permission=entry["permission"],
            permissionName=PERMISSION_NAMES[entry["permission"]],
            uid=owner.uid,
            title=owner.title,
            slug=slugify(owner.title),
            isFolder=is_folder,
            url=url,
            inherited=False,
        )
        return item

    def _acl_view(
        self, org: _Org, owner: _Dashboard | _Folder, *, shuffle: bool = True
    ) -> list[dict[str, Any]]:
        """The object's own (managed) entries only: users, then teams, then roles, each group unordered.

        pkg/api/dashboard_permission.go ``getDashboardACL`` drops every entry that is not managed on
        the object itself (``!p.IsManaged``): inherited folder entries are never listed.
        resourcepermissions/store.go ``getResourcePermissions`` emits users, teams and built-in
        roles from Go maps, so the order within each group is random; the sandbox shuffles it too.
        """
        groups: dict[str, list[dict[str, Any]]] = {"user": [], "team": [], "role": []}
        for entry in owner.acl:
            kind = "user" if "userId" in entry else "team" if "teamId" in entry else "role"
            groups[kind].append(self._acl_item(org, entry, owner))
        out: list[dict[str, Any]] = []
        for kind in ("user", "team", "role"):
            if shuffle:
                self._uid_rng.shuffle(groups[kind])
            out.extend(groups[kind])
        return out

    def _parse_acl(self, org: _Org, items: Any) -> list[dict[str, Any]]:
        """The new own ACL from a permissions POST, validated as Grafana does.

        pkg/api/dashboard_permission.go ``validatePermissionsUpdate`` answers 400 for an item with
        both a user and a team, or a role beside either, with ``dashboardaccess``'s two messages
        swapped as they are in the source. Anything ``SetPermissions`` refuses (an unknown user or
        team, an unknown role, an empty item) is a 500. A permission other than 1, 2 or 4 maps to
        no actions, which removes the entry (``mapPermission``). The list replaces the old one.
        """
        if not isinstance(items, list) or not all(isinstance(raw, dict) for raw in items):
            raise HTTPError(400, {"message": "bad request data"})
        now = _now()
        out: dict[tuple[str, Any], dict[str, Any]] = {}
        for raw in items:
            user_id, team_id, role = raw.get("userId") or 0, raw.get("teamId") or 0, raw.get("role") or ""
            if user_id and team_id:
                raise HTTPError(400, {"message": "team and user permissions cannot have an associated role"})
            if (user_id or team_id) and role:
                raise HTTPError(400, {"message": "permissions cannot have both a user and team"})
        for raw in items:
            user_id, team_id, role = raw.get("userId") or 0, raw.get("teamId") or 0, raw.get("role") or ""
            entry: dict[str, Any]
            key: tuple[str, Any]
            if user_id:
                if not isinstance(user_id, int) or user_id not in org.members:
                    raise _SetPermissionsFailed("user not found")
                entry, key = {"userId": user_id}, ("user", user_id)
            elif team_id:
                if not isinstance(team_id, int) or team_id not in org.teams:
                    raise _SetPermissionsFailed("team not found")
                entry, key = {"teamId": team_id}, ("team", team_id)
            elif role in ROLES:
                entry, key = {"role": role}, ("role", role)
            else:
                raise _SetPermissionsFailed("invalid role")
            permission = raw.get("permission")
            if isinstance(permission, bool) or permission not in PERMISSION_NAMES:
                out.pop(key, None)
                continue
            entry.update(permission=permission, created=now, updated=now)
            out[key] = entry
        return list(out.values())

    # -- permission handlers -----------------------------------------------------------------------

    def _acl_owner(self, req: Request, org: _Org, kind: str) -> _Dashboard | _Folder:
        if kind == "folder":
            return self._folder_or_404(org, req.params["uid"])
        d = org.dashboards.get(req.params["uid"])
        if d is None:
            raise HTTPError(404, {"message": "Dashboard not found"})
        return d

    def _get_permissions(self, req: Request, kind: str) -> Response:
        with self.lock:
            org = self._org(req)
            owner = self._acl_owner(req, org, kind)
            self._require(req, org, f"{kind}s.permissions:read", owner)
            return json_response(self._acl_view(org, owner))

    def _post_permissions(self, req: Request, kind: str) -> Response:
        items = req.json.get("items") if isinstance(req.json, dict) else None
        with self.lock:
            org = self._org(req)
            owner = self._acl_owner(req, org, kind)
            self._require(req, org, f"{kind}s.permissions:write", owner)
            try:
                owner.acl = self._parse_acl(org, items)
            except _SetPermissionsFailed:
                failed = (
                    "Failed to update permissions" if kind == "dashboard" else "Failed to create permission"
                )
                raise HTTPError(500, {"message": failed}) from None
            done = "Dashboard permissions updated" if kind == "dashboard" else "Folder permissions updated"
            return json_response({"message": done})

    def _get_dashboard_permissions(self, req: Request) -> Response:
        return self._get_permissions(req, "dashboard")

    def _post_dashboard_permissions(self, req: Request) -> Response:
        return self._post_permissions(req, "dashboard")

    def _get_folder_permissions(self, req: Request) -> Response:
        return self._get_permissions(req, "folder")

    def _post_folder_permissions(self, req: Request) -> Response:
        return self._post_permissions(req, "folder")

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
        """``GET /api/users/lookup``: ``users:read`` on ``global.users:*``, the server admin's alone."""
        wanted = (req.arg("loginOrEmail") or "").casefold()
        with self.lock:
            org = self._org(req)
            self._require_org(req, org, "users:read")
            for user in self._users.values():
                if (
                    not user.service_account
                    and wanted
                    and wanted in (user.login.casefold(), user.email.casefold())
                ):
                    return json_response(self._user_json(user, org.id))
            raise HTTPError(404, {"message": "user not found"})

    def _org_people(self, org: _Org, query: str) -> list[_User]:
        """The org's users matching ``query`` (login, email or name), service accounts left out.

        pkg/services/org/orgimpl/store.go searches with ``u.is_service_account = false``.
        """
        q = query.casefold()
        people = [self._users[i] for i in sorted(org.members)]
        return [
            u
            for u in people
            if not u.service_account and (not q or any(q in x.casefold() for x in (u.login, u.email, u.name)))
        ]

    def _org_users_lookup(self, req: Request) -> Response:
        """``GET /api/org/users/lookup``: what an org admin (or any admin of an object) may call.

        pkg/api/api.go: ``EvalAny(org.users:read, teams.permissions:write, folders.permissions:write,
        dashboards.permissions:write)``; pkg/api/org_users.go ``GetOrgUsersForCurrentOrgLookup``
        answers ``dtos.UserLookupDTO`` items (userId, uid, login, avatarUrl).
        """
        limit = req.int_arg("limit", 0)
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            objects: list[_Dashboard | _Folder] = [*org.folders.values(), *org.dashboards.values()]
            holds_admin = any(self._level(org, caller, obj) >= ADMIN for obj in objects)
            if caller.role != "Admin" and not caller.server_admin and not holds_admin:
                raise self._denied(
                    "any of org.users:read, teams.permissions:write, folders.permissions:write, "
                    "dashboards.permissions:write"
                )
            found = self._org_people(org, req.arg("query") or "")
            if limit > 0:
                found = found[:limit]
            return json_response(
                [{"userId": u.id, "uid": "", "login": u.login, "avatarUrl": "/avatar/sandbox"} for u in found]
            )

    def _org_users(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            self._require_org(req, org, "org.users:read")
            out = []
            for user in self._org_people(org, req.arg("query") or ""):
                out.append(
                    {
                        "orgId": org.id,
                        "userId": user.id,
                        "email": user.email,
                        "name": user.name,
                        "avatarUrl": "/avatar/sandbox",
                        "login": user.login,
                        "role": org.members[user.id],
                        "lastSeenAt": user.created,
                        "lastSeenAtAge": "10 years",
                        "isDisabled": False,
                        "authLabels": [],
                    }
                )
            return json_response(out)

    def _search_service_accounts(self, req: Request) -> Response:
        """``GET /api/serviceaccounts/search`` (``serviceaccounts:read``: the org admin)."""
        per_page = req.int_arg("perpage", 1000)
        per_page = 1000 if per_page <= 0 else per_page
        page = max(1, req.int_arg("page", 1))
        query = (req.arg("query") or "").casefold()
        with self.lock:
            org = self._org(req)
            self._require_org(req, org, "serviceaccounts:read")
            accounts = [
                self._users[i]
                for i in sorted(org.members)
                if self._users[i].service_account
                and (not query or query in self._users[i].name.casefold() or query in self._users[i].login)
            ]
            chunk = accounts[(page - 1) * per_page : page * per_page]
            return json_response(
                {
                    "totalCount": len(accounts),
                    "serviceAccounts": [
                        {
                            "id": u.id,
                            "uid": f"sa{u.id:012d}",
                            "name": u.name,
                            "login": u.login,
                            "orgId": org.id,
                            "isDisabled": False,
                            "role": org.members[u.id],
                            "tokens": sum(1 for t in self._tokens.values() if t == u.id),
                            "avatarUrl": "/avatar/sandbox",
                        }
                        for u in chunk
                    ],
                    "page": page,
                    "perPage": per_page,
                }
            )

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
            caller = self._caller(req, org)
            # teams:read on every team is the org admin's (fixed:teams:writer); a member reads its own
            # (ossaccesscontrol/team.go ``TeamMemberActions``).
            teams = [
                t
                for t in sorted(org.teams.values(), key=lambda t: (t.name, t.id))
                if (name is None or t.name.casefold() == name.casefold())
                and query in t.name.casefold()
                and (caller.role == "Admin" or caller.user_id in t.members)
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
