"""The legacy ``/api`` routes of the sandbox Grafana (those of permissions, users and teams: ``access``).

Health, the current org and user, the org list, search, dashboards with their versions, and
folders (nested, moved, deleted with their subtree).
"""

from __future__ import annotations

import string
from typing import Any, TypeVar

from sandbox.grafana.conversion import is_v2
from sandbox.grafana.library import CONNECT_FAILED, LibraryApi
from sandbox.grafana.state import MAX_UID_LENGTH, _Dashboard, _display, _Folder, _now, _Org, _Version, slugify
from sandbox.server import HTTPError, Request, Response, encode_json, json_response

T = TypeVar("T", _Folder, _Dashboard)


class LegacyApi(LibraryApi):
    """Handlers of the legacy ``/api`` routes; on ``PythonApi`` for the ``edit_before_write`` hook."""

    # -- legacy handlers ---------------------------------------------------------------------------

    def _health(self, req: Request) -> Response:
        return json_response({"commit": "sandbox", "database": "ok", "version": self.grafana_version})

    def _current_org(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            return json_response({"id": org.id, "name": org.name, "address": {}})

    def _list_orgs(self, req: Request) -> Response:
        with self.lock:
            # orgs:read is checked in the global org, where only the server admin holds it.
            if not self._caller(req, self._org(req)).server_admin:
                raise self._denied("orgs:read")
            return json_response(
                [{"id": o.id, "name": o.name} for o in sorted(self._orgs.values(), key=lambda o: o.id)]
            )

    def _current_user(self, req: Request) -> Response:
        # pkg/api/user.go ``GetSignedInUser``: a service account gets a profile built from its identity.
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            user = self._users[caller.user_id]
            return json_response(
                {
                    "id": user.id,
                    "login": user.login,
                    "email": user.email,
                    "name": user.name,
                    "orgId": org.id,
                    "isGrafanaAdmin": caller.server_admin,
                }
            )

    def _search(self, req: Request) -> Response:
        limit = req.int_arg("limit", 1000)
        limit = 1000 if limit <= 0 else min(limit, 5000)
        page = max(1, req.int_arg("page", 1))
        start = (page - 1) * limit
        kind = req.arg("type") or ""
        query = (req.arg("query") or "").casefold()
        folder_filter = set(req.args("folderUIDs"))
        # "general" is how Grafana spells the root in folderUIDs.
        root_selected = bool(folder_filter & {"general", ""})
        dash_filter = set(req.args("dashboardUIDs"))
        tags = req.args("tag")
        descending = req.arg("sort") == "alpha-desc"

        def in_folder(parent: str | None) -> bool:
            if not folder_filter:
                return True
            return (parent in folder_filter) if parent else root_selected

        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            # Hits are filtered by the caller's read access (database.go ``FindDashboards``).
            everything = caller.role == "Admin"

            def visible(x: _Folder | _Dashboard) -> bool:
                return everything or self._visible(org, caller, x)

            self._check_listing_faults(start)
            folders: list[_Folder] = []
            dashboards: list[_Dashboard] = []
            if kind in ("", "dash-folder") and not dash_filter and not tags:
                folders = [
                    f
                    for f in org.folders.values()
                    if (not query or query in f.title.casefold()) and in_folder(f.parent_uid) and visible(f)
                ]
                folders = self._title_order(folders, descending)
            if kind in ("", "dash-db"):
                hidden = self.hidden_from_listing
                for d in org.dashboards.values():
                    if d.uid in hidden or (query and query not in d.title.casefold()):
                        continue
                    if not in_folder(d.folder_uid) or (dash_filter and d.uid not in dash_filter):
                        continue
                    if tags:
                        have = d.model.get("tags")
                        if not isinstance(have, list) or not all(t in have for t in tags):
                            continue
                    if visible(d):
                        dashboards.append(d)
                dashboards = self._title_order(dashboards, descending)
            combined: list[_Folder | _Dashboard] = [*folders, *dashboards]
            hits = [
                self._folder_hit(org, x) if isinstance(x, _Folder) else self._dash_hit(org, x)
                for x in combined[start : start + limit]
            ]
        return self._listing_response(hits, start)

    def _check_depth(self, ancestors: int) -> None:
        """pkg/services/folder/folderimpl ``validateParent``: a folder with as many ancestors as the
        depth limit is refused (folder.ErrMaximumDepthReached, a 400 with its public message)."""
        if ancestors >= self.max_folder_depth:
            raise HTTPError(
                400,
                {
                    "message": "Maximum nested folder depth reached",
                    "messageId": "folder.maximum-depth-reached",
                    "statusCode": 400,
                },
            )

    def _height(self, org: _Org, uid: str) -> int:
        """Levels of the subtree under a folder, itself included."""
        children: dict[str | None, list[str]] = {}
        for f in org.folders.values():
            children.setdefault(f.parent_uid, []).append(f.uid)

        def height(u: str) -> int:
            return 1 + max((height(c) for c in children.get(u, [])), default=0)

        return height(uid)

    def _title_order(self, found: list[T], descending: bool) -> list[T]:
        """Folders, then dashboards, each by title alone: equal titles in no particular order.

        pkg/services/sqlstore/searchstore/builder.go orders by title with no tie-breaker and
        pkg/services/search/service.go ``sortedHits`` re-sorts each page with the unstable
        sort.Sort by lower-cased title, so equal titles may come in another order on every query.
        """
        self._uid_rng.shuffle(found)
        found.sort(key=lambda x: x.title.casefold(), reverse=descending)  # stable: ties stay shuffled
        return found

    def _get_dashboard(self, req: Request) -> Response:
        if req.params["uid"] in self.fail_dashboard_get:
            raise HTTPError(500, {"message": "internal error"})
        with self.lock:
            org = self._org(req)
            d = org.dashboards.get(req.params["uid"])
            # The route asks for dashboards:read on dashboards:uid:<uid> before the handler runs: a
            # caller without it on every dashboard gets 403 for a missing one, not 404.
            self._require(req, org, "dashboards:read", d)
            if d is None:
                raise HTTPError(404, {"message": "Dashboard not found"})
            if is_v2(d.api_version):
                # pkg/api/dashboard.go ``GetDashboard``: "v2 is not supported in /api".
                url = f"/apis/dashboard.grafana.app/{d.api_version}/namespaces/{self._namespace(org.id)}"
                url += f"/dashboards/{d.uid}"
                raise HTTPError(406, {"message": f"dashboard api version not supported, use {url} instead"})
            meta = self._dash_meta(org, d)
            model = d.model_json()  # encoded once per saved version, then cached
        # {"dashboard": {"id": ..., **model}, "meta": ...} without encoding the model again.
        rest = b"," + model[1:] if model != b"{}" else b"}"
        raw = b'{"dashboard":{"id":%d%s,"meta":%s}' % (d.id, rest, encode_json(meta))
        return Response(raw=raw)

    def _post_dashboard(self, req: Request) -> Response:
        body = req.json
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            raise HTTPError(400, {"message": "bad request data"})
        model = dict(body["dashboard"])
        model.pop("id", None)
        overwrite = body.get("overwrite") is True
        message = body.get("message")
        message = message if isinstance(message, str) else ""
        title = model.get("title")
        if not isinstance(title, str) or not title.strip():
            raise HTTPError(400, {"message": "Dashboard title cannot be empty", "status": "empty-name"})
        uid = model.get("uid")
        if uid is not None and not isinstance(uid, str):
            raise HTTPError(400, {"message": "bad request data"})
        if uid and len(uid) > MAX_UID_LENGTH:
            raise HTTPError(400, {"message": "uid too long, max 40 characters", "status": "invalid-uid"})
        if uid and uid in self.refuse_dashboard_writes:  # the fault knob; off unless a test sets it
            raise HTTPError(403, {"message": "Access denied to save dashboard"})
        with self.lock:
            org = self._org(req)
            if isinstance(uid, str):
                self._concurrent_edit(org.id, uid)
            folder_uid = body.get("folderUid")
            if folder_uid in (None, ""):
                folder_id = body.get("folderId")
                folder_uid = None
                if isinstance(folder_id, int) and not isinstance(folder_id, bool) and folder_id > 0:
                    match = [f for f in org.folders.values() if f.id == folder_id]
                    if not match:
                        raise HTTPError(400, {"message": "folder not found"})
                    folder_uid = match[0].uid
            elif not isinstance(folder_uid, str) or folder_uid not in org.folders:
                raise HTTPError(400, {"message": "folder not found"})
            existing = org.dashboards.get(uid) if uid else None
            caller = self._caller(req, org)
            target = existing if existing is not None else org.folders.get(folder_uid or "")
            action = "dashboards:write" if existing is not None else "dashboards:create"
            if not self._may(org, caller, action, target):
                # dashboards.ErrDashboardUpdateAccessDenied, from the service's guardian check.
                raise HTTPError(403, {"message": "Access denied to save dashboard"})
            if existing is not None and existing.provisioned and not existing.provisioned[1]:
                # dashboard_service.go ``BuildSaveDashboardCommand``: the provisioned dashboard error.
                raise HTTPError(400, {"message": "Cannot save provisioned dashboard"})
            if existing is not None and not overwrite and model.get("version") != existing.version:
                if self._version() >= (12, 2):
                    # pkg/api/dashboard.go ``saveDashboardViaK8s`` (newer releases): a stale or missing
                    # version is a 409.
                    raise HTTPError(
                        409, {"message": "Dashboard already exists. Use overwrite flag to update."}
                    )
                raise HTTPError(
                    412,
                    {
                        "message": "The dashboard has been changed by someone else",
                        "status": "version-mismatch",
                    },
                )
            # Titles must be unique in a folder only before 11.3 (grafana/grafana PR #90687).
            older = self._version() < (11, 3)
            clash = (
                self._same_title(org, title, folder_uid, existing.uid if existing else None)
                if older
                else None
            )
            if clash is not None:
                if not overwrite:
                    raise HTTPError(
                        412,
                        {
                            "message": "A dashboard with the same name in the folder already exists",
                            "status": "name-exists",
                        },
                    )
                # Real Grafana saves over the same-title dashboard, keeping that one's uid.
                existing = clash
            actor = req.user or "anonymous"
            if existing is not None:
                self._save_dashboard(
                    org, existing, model, folder_uid=folder_uid, actor=actor, message=message
                )
                d = existing
            else:
                new_uid = uid or self._gen_uid(lambda u: u in org.dashboards)
                d = self._new_dashboard(
                    org, new_uid, model, folder_uid=folder_uid, actor=actor, message=message
                )
            # pkg/api/dashboard.go ``postDashboard``: the library panels are connected after the save.
            if self._connect_library_panels(org, d.uid, d.model) is not None:
                raise HTTPError(500, {"message": CONNECT_FAILED})
            return json_response(
                {
                    "id": d.id,
                    "uid": d.uid,
                    "url": self._dash_url(d),
                    "status": "success",
                    "version": d.version,
                    "slug": slugify(d.title),
                    "folderUid": d.folder_uid or "",
                }
            )

    def _delete_dashboard(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            uid = req.params["uid"]
            self._require(req, org, "dashboards:delete", org.dashboards.get(uid))
            if uid not in org.dashboards:
                raise HTTPError(404, {"message": "Dashboard not found"})
            d = self._remove_dashboard(org, uid)
            # pkg/api/dashboard.go ``deleteDashboard``: title, message and uid.
            return json_response({"title": d.title, "message": f"Dashboard {d.title} deleted", "uid": d.uid})

    def _version_json(self, d: _Dashboard, v: _Version) -> dict[str, Any]:
        return {
            "id": d.id * 100000 + v.version,
            "dashboardId": d.id,
            "uid": d.uid,
            "parentVersion": max(v.version - 1, 0),
            "restoredFrom": 0,
            "version": v.version,
            "created": v.created,
            "createdBy": _display(v.created_by),
            "message": v.message,
        }

    def _dashboard_versions(self, req: Request) -> Response:
        limit = req.int_arg("limit", 0)
        start = max(0, req.int_arg("start", 0))
        with self.lock:
            org = self._org(req)
            d = org.dashboards.get(req.params["uid"])
            if d is None:
                raise HTTPError(404, {"message": "Dashboard not found"})
            versions = list(reversed(d.history))[start:]
            if limit > 0:
                versions = versions[:limit]
            return json_response([self._version_json(d, v) for v in versions])

    def _dashboard_version(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            d = org.dashboards.get(req.params["uid"])
            if d is None:
                raise HTTPError(404, {"message": "Dashboard not found"})
            wanted = int(req.params["version"])
            for v in d.history:
                if v.version == wanted:
                    return json_response({**self._version_json(d, v), "data": {"id": d.id, **v.model}})
            raise HTTPError(404, {"message": "Dashboard version not found"})

    def _list_folders(self, req: Request) -> Response:
        limit = req.int_arg("limit", 1000)
        limit = 1000 if limit <= 0 else limit
        page = max(1, req.int_arg("page", 1))
        parent = req.arg("parentUid") or None
        with self.lock:
            org = self._org(req)
            if parent is not None and parent not in org.folders:
                raise HTTPError(404, {"message": "folder not found"})
            children = sorted(
                (f for f in org.folders.values() if f.parent_uid == parent), key=lambda f: (f.title, f.uid)
            )
            out = []
            for f in children[(page - 1) * limit : page * limit]:
                entry: dict[str, Any] = {"id": f.id, "uid": f.uid, "title": f.title}
                if f.parent_uid:
                    entry["parentUid"] = f.parent_uid
                out.append(entry)
            return json_response(out)

    def _get_folder(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            self._require(req, org, "folders:read", org.folders.get(req.params["uid"]))
            return json_response(self._folder_json(org, self._folder_or_404(org, req.params["uid"])))

    def _create_folder(self, req: Request) -> Response:
        body = req.json
        if not isinstance(body, dict):
            raise HTTPError(400, {"message": "bad request data"})
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise HTTPError(400, {"message": "folder title cannot be empty"})
        uid = body.get("uid") or None
        parent = body.get("parentUid") or None
        if (uid is not None and not isinstance(uid, str)) or (
            parent is not None and not isinstance(parent, str)
        ):
            raise HTTPError(400, {"message": "bad request data"})
        if uid and len(uid) > MAX_UID_LENGTH:
            raise HTTPError(400, {"message": "uid too long, max 40 characters"})
        with self.lock:
            org = self._org(req)
            if parent is not None and parent not in org.folders:
                raise HTTPError(404, {"message": "parent folder not found"})
            self._require(req, org, "folders:create", org.folders.get(parent or ""))
            if parent is not None:
                self._check_depth(len(self._ancestors(org, parent)))
            if uid is not None:
                self._concurrent_folder_create(org.id, uid)
            if uid is not None and uid in org.folders:
                raise HTTPError(409, {"message": "a folder with the same uid already exists"})
            new_uid = uid or self._gen_uid(
                lambda u: u in org.folders, 14, string.ascii_lowercase + string.digits
            )
            f = self._new_folder(org, new_uid, title, parent, req.user or "anonymous")
            description = body.get("description")
            if isinstance(description, str):
                f.description = description
            return json_response(self._folder_json(org, f))

    def _update_folder(self, req: Request) -> Response:
        body = req.json
        if not isinstance(body, dict):
            raise HTTPError(400, {"message": "bad request data"})
        with self.lock:
            org = self._org(req)
            self._require(req, org, "folders:write", org.folders.get(req.params["uid"]))
            f = self._folder_or_404(org, req.params["uid"])
            if body.get("overwrite") is not True and body.get("version") != f.version:
                raise HTTPError(
                    412,
                    {"message": "the folder has been changed by someone else", "status": "version-mismatch"},
                )
            title = body.get("title", f.title)
            if not isinstance(title, str) or not title.strip():
                raise HTTPError(400, {"message": "folder title cannot be empty"})
            description = body.get("description")
            if isinstance(description, str):
                f.description = description
            f.title = title
            f.version += 1
            f.updated = _now()
            f.updated_by = req.user or "anonymous"
            f.resource_version = self._next_rv()
            return json_response(self._folder_json(org, f))

    def _move_folder(self, req: Request) -> Response:
        body = req.json if isinstance(req.json, dict) else {}
        parent = body.get("parentUid") or None
        with self.lock:
            org = self._org(req)
            self._require(req, org, "folders:write", org.folders.get(req.params["uid"]))
            f = self._folder_or_404(org, req.params["uid"])
            if parent is not None:
                if not isinstance(parent, str) or parent not in org.folders:
                    raise HTTPError(404, {"message": "parent folder not found"})
                if parent in self._subtree(org, f.uid):
                    raise HTTPError(400, {"message": "a folder cannot be moved into itself or a descendant"})
                self._check_depth(len(self._ancestors(org, parent)) + self._height(org, f.uid) - 1)
            f.parent_uid = parent
            f.version += 1
            f.updated = _now()
            f.updated_by = req.user or "anonymous"
            f.resource_version = self._next_rv()
            return json_response(self._folder_json(org, f))

    def _delete_folder(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            self._require(req, org, "folders:delete", org.folders.get(req.params["uid"]))
            f = self._folder_or_404(org, req.params["uid"])
            self._remove_folder(org, f.uid)
            return json_response({"message": "Folder deleted", "title": f.title, "id": f.id})
