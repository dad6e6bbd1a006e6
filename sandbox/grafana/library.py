"""The sandbox Grafana's library panels: ``/api/library-elements`` and their dashboard connections.

Followed from Grafana's source (grafana/grafana, 12.x; pkg/services/libraryelements ``api.go``,
``database.go``, ``model/model.go``, ``guard.go``; pkg/services/librarypanels ``librarypanels.go``):

- Every answer is wrapped in ``{"result": ...}``; a list is ``{"totalCount", "page", "perPage",
  "elements"}``, ``perPage`` 100 unless given (no maximum), ordered by name alone with no
  tie-breaker, and filtered by folder permission *after* paging: a page may hold fewer elements than
  ``perPage`` and ``totalCount`` counts what the caller cannot see.
- A create may choose the uid; a uid or a (folder, name, kind) pair taken is 400; only kind 1 (a
  panel) is supported (``requireSupportedElementKind``: 500 for any other).
- A patch needs ``kind`` and the stored ``version`` (412 otherwise); one that names no folder moves
  the element to the General folder (the legacy handler starts from ``FolderID: 0``).
- A connected element cannot be deleted (403). A dashboard save connects the dashboard to every
  ``libraryPanel.uid`` in its panels (rows' panels too) *after* the dashboard is saved: an unknown
  uid answers 500 "Error while connecting library panels" and leaves the dashboard saved and its
  old connections as they were (``connectElementsToDashboardID`` rolls its transaction back).
- Access follows the element's folder (``LibraryPanelUIDScopeResolver``): folder View reads, Edit
  creates, writes and deletes; in the General folder Viewers read and Editors write.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sandbox.grafana.core import CONNECT_FAILED, NOT_FOUND
from sandbox.grafana.python_api import PythonApi
from sandbox.grafana.rbac import EDIT, VIEW, Caller
from sandbox.grafana.state import MAX_UID_LENGTH, _display, _LibraryElement, _now, _Org
from sandbox.server import HTTPError, Request, Response, json_response

_SHORT_UID = re.compile(r"[a-zA-Z0-9\-_]*")

__all__ = ["CONNECT_FAILED", "LibraryApi"]


class LibraryApi(PythonApi):
    """Handlers of ``/api/library-elements`` and the connection step of a dashboard save."""

    # -- what tests call ---------------------------------------------------------------------------

    def add_library_panel(
        self, uid: str, name: str, model: dict[str, Any], folder_uid: str | None = None, org: int = 1
    ) -> None:
        """Create a library panel as the admin would."""
        with self.lock:
            self._new_element(self._org_by_id(org), uid, name, dict(model), folder_uid, "user:admin")

    def _new_element(
        self, org: _Org, uid: str, name: str, model: dict[str, Any], folder_uid: str | None, actor: str
    ) -> _LibraryElement:
        now = _now()
        e = _LibraryElement(
            uid=uid,
            id=self._new_id(),
            name=name,
            model=model,
            folder_uid=folder_uid,
            version=1,
            created=now,
            updated=now,
            created_by=actor,
            updated_by=actor,
        )
        org.library[uid] = e
        return e

    def library_panel(self, uid: str, org: int = 1) -> dict[str, Any] | None:
        """A library panel's name, folder, model and connected dashboard uids; None if there is none."""
        with self.lock:
            o = self._org_by_id(org)
            e = o.library.get(uid)
            if e is None:
                return None
            return {
                "name": e.name,
                "folderUid": e.folder_uid,
                "model": e.model,
                "version": e.version,
                "connections": sorted(o.library_links.get(uid, ())),
            }

    def library_panels(self, org: int = 1) -> list[str]:
        """Sorted uids of the org's library panels."""
        with self.lock:
            return sorted(self._org_by_id(org).library)

    def delete_library_panel(self, uid: str, org: int = 1) -> None:
        """Delete a library panel whatever uses it (the database, not the API)."""
        with self.lock:
            o = self._org_by_id(org)
            del o.library[uid]
            o.library_links.pop(uid, None)

    # -- views -------------------------------------------------------------------------------------

    def _user_ref(self, actor: str) -> dict[str, Any]:
        login = _display(actor)
        user = next((u for u in self._users.values() if u.login == login), None)
        email = user.email if user is not None else login
        # dtos.GetGravatarUrl: /avatar/<md5 of the email> (GUESS on the exact form).
        avatar = "/avatar/" + hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
        return {"id": user.id if user is not None else 0, "name": login, "avatarUrl": avatar}

    def _element_json(self, org: _Org, e: _LibraryElement, *, general_uid: str = "") -> dict[str, Any]:
        folder = org.folders.get(e.folder_uid or "")
        folder_uid = folder.uid if folder is not None else general_uid
        return {
            "id": e.id,
            "orgId": org.id,
            "folderId": folder.id if folder is not None else 0,
            "folderUid": folder_uid,
            "uid": e.uid,
            "name": e.name,
            "kind": e.kind,
            "type": e.type,
            "description": e.description,
            "model": e.model,
            "version": e.version,
            "meta": {
                "folderName": folder.title if folder is not None else "General",
                "folderUid": folder_uid,
                "connectedDashboards": len(org.library_links.get(e.uid, ())),
                "created": e.created,
                "updated": e.updated,
                "createdBy": self._user_ref(e.created_by),
                "updatedBy": self._user_ref(e.updated_by),
            },
        }

    def _library_level(self, org: _Org, caller: Caller, folder_uid: str | None) -> int:
        """The caller's permission on library panels of a folder; the General folder by basic role."""
        if caller.role == "Admin":
            return EDIT
        folder = org.folders.get(folder_uid or "")
        if folder is None:
            return EDIT if caller.role == "Editor" else VIEW if caller.role == "Viewer" else 0
        return self._level(org, caller, folder)

    def _element_or_404(self, org: _Org, uid: str) -> _LibraryElement:
        e = org.library.get(uid)
        if e is None:
            raise HTTPError(404, {"message": NOT_FOUND})
        return e

    # -- handlers ----------------------------------------------------------------------------------

    def _list_library_elements(self, req: Request) -> Response:
        """``getAllHandler`` → ``getAllLibraryElements``: filters, name order, LIMIT/OFFSET paging."""
        per_page = req.int_arg("perPage", 0)
        per_page = per_page if per_page > 0 else 100
        page = req.int_arg("page", 0)
        page = page if page > 0 else 1
        search = (req.arg("searchString") or "").casefold()
        types = {t for t in (req.arg("typeFilter") or "").split(",") if t}
        exclude = req.arg("excludeUid") or ""
        folders = {f for f in (req.arg("folderFilterUIDs") or "").split(",") if f}
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            found = [
                e
                for e in org.library.values()
                if (not search or search in e.name.casefold() or search in e.description.casefold())
                and (not types or e.type in types)
                and e.uid != exclude
                and e.uid not in self.hidden_from_listing
                # ``parseFolderFilter``: "general" names the General folder. ``kind`` filters only
                # when it is 1, the one kind there is.
                and (not folders or (e.folder_uid or "general") in folders)
            ]
            # ORDER BY name with no tie-breaker: equal names in no particular order.
            self._uid_rng.shuffle(found)
            found.sort(key=lambda e: e.name, reverse=req.arg("sortDirection") == "alpha-desc")
            chunk = found[(page - 1) * per_page : page * per_page]
            visible = [e for e in chunk if self._library_level(org, caller, e.folder_uid) >= VIEW]
            result = {
                "totalCount": len(found),
                "elements": [self._element_json(org, e) for e in visible],
                "page": page,
                "perPage": per_page,
            }
            return json_response({"result": result})

    def _get_library_element(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            e = self._element_or_404(org, req.params["uid"])
            if self._library_level(org, caller, e.folder_uid) < VIEW:
                raise HTTPError(403, {"message": "insufficient permissions for getting library panel"})
            # 12.x ``getLibraryElements``: an element in the General folder reads back as "general".
            general = "general" if self._version() >= (12, 0) else ""
            return json_response({"result": self._element_json(org, e, general_uid=general)})

    def _library_connections(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            e = self._element_or_404(org, req.params["uid"])
            if self._library_level(org, caller, e.folder_uid) < VIEW:
                raise self._denied("library.panels:read")
            rows = []
            for n, uid in enumerate(sorted(org.library_links.get(e.uid, ())), start=1):
                d = org.dashboards.get(uid)
                if d is None or not self._visible(org, caller, d):
                    continue
                rows.append(
                    {
                        "id": n,
                        "kind": 1,
                        "elementId": e.id,
                        "connectionId": d.id,
                        "connectionUid": d.uid,
                        "created": e.created,
                        "createdBy": self._user_ref(e.created_by),
                    }
                )
            return json_response({"result": rows})

    @staticmethod
    def _folder_field(body: dict[str, Any]) -> tuple[bool, Any]:
        """(given, value) of ``folderUid``: Go's JSON decoding ignores the case of keys."""
        for key, value in body.items():
            if key.casefold() == "folderuid":
                return True, value
        return False, None

    def _element_folder(self, org: _Org, value: Any) -> str | None:
        if value in (None, "", "general"):
            return None
        if not isinstance(value, str) or value not in org.folders:
            raise HTTPError(400, {"message": "failed to get folder"})
        return value

    @staticmethod
    def _check_uid(uid: Any) -> str:
        if not isinstance(uid, str) or not _SHORT_UID.fullmatch(uid):
            raise HTTPError(400, {"message": "uid contains illegal characters"})
        if len(uid) > MAX_UID_LENGTH:
            raise HTTPError(400, {"message": "uid too long, max 40 characters"})
        return uid

    @staticmethod
    def _check_kind(body: dict[str, Any], failure: str) -> None:
        kind = body.get("kind")
        if not isinstance(kind, int) or isinstance(kind, bool) or kind == 0:
            raise HTTPError(400, {"message": "bad request data"})
        if kind != 1:  # guard.go ``requireSupportedElementKind``, unmapped: a 500
            raise HTTPError(500, {"message": failure})

    def _taken(self, org: _Org, uid: str, folder_uid: str | None, name: str, skip: str = "") -> bool:
        return any(
            e.uid != skip and (e.uid == uid or (e.folder_uid == folder_uid and e.name == name))
            for e in org.library.values()
        )

    def _create_library_element(self, req: Request) -> Response:
        body = req.json
        if not isinstance(body, dict):
            raise HTTPError(400, {"message": "bad request data"})
        self._check_kind(body, "Failed to create library element")
        model = body.get("model")
        if not isinstance(model, dict):
            raise HTTPError(500, {"message": "Failed to create library element"})
        raw_name = body.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            folder_uid = self._element_folder(org, self._folder_field(body)[1])
            if self._library_level(org, caller, folder_uid) < EDIT:
                raise self._denied("library.panels:create")
            uid = self._check_uid(body.get("uid") or "") or self._gen_uid(lambda u: u in org.library)
            if self._taken(org, uid, folder_uid, name):
                raise HTTPError(400, {"message": "library element with that name or UID already exists"})
            model = dict(model)
            ref = model.get("libraryPanel")
            if isinstance(ref, dict) and not ref.get("uid"):  # ``addUidToLibraryPanel``
                model["libraryPanel"] = {**ref, "uid": uid}
            e = self._new_element(org, uid, name, model, folder_uid, req.user or "anonymous")
            out = self._element_json(org, e)
            if folder_uid is None:
                out["meta"]["folderName"] = ""  # the create handler fills it for real folders only
            return json_response({"result": out})

    def _patch_library_element(self, req: Request) -> Response:
        body = req.json
        if not isinstance(body, dict):
            raise HTTPError(400, {"message": "bad request data"})
        self._check_kind(body, "Failed to update library element")
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version == 0:
            raise HTTPError(400, {"message": "bad request data"})
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            e = self._element_or_404(org, req.params["uid"])
            if self._library_level(org, caller, e.folder_uid) < EDIT:
                raise self._denied("library.panels:write")
            if version != e.version:
                raise HTTPError(412, {"message": "the library element has been changed by someone else"})
            given, value = self._folder_field(body)
            # No folderUid (and no folderId): the legacy handler's FolderID 0, the General folder.
            folder_uid = self._element_folder(org, value) if given else None
            if self._library_level(org, caller, folder_uid) < EDIT:
                raise HTTPError(403, {"message": "access denied to folder"})
            new_uid = body.get("uid") or e.uid
            if new_uid != e.uid:
                self._check_uid(new_uid)
            name = body.get("name") if isinstance(body.get("name"), str) and body.get("name") else e.name
            if self._taken(org, str(new_uid), folder_uid, str(name), skip=e.uid):
                raise HTTPError(400, {"message": "library element with that name or UID already exists"})
            model = body.get("model")
            if isinstance(model, dict) and model:
                e.model = dict(model)
            if new_uid != e.uid:
                del org.library[e.uid]
                org.library_links[str(new_uid)] = org.library_links.pop(e.uid, set())
                e.uid = str(new_uid)
                org.library[e.uid] = e
            e.name, e.folder_uid = str(name), folder_uid
            e.version += 1
            e.updated, e.updated_by = _now(), req.user or "anonymous"
            return json_response({"result": self._element_json(org, e)})

    def _delete_library_element(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            e = self._element_or_404(org, req.params["uid"])
            if self._library_level(org, caller, e.folder_uid) < EDIT:
                raise self._denied("library.panels:delete")
            # v12.x deletes connections of dashboards that are gone first, then checks the rest.
            links = {u for u in org.library_links.get(e.uid, set()) if u in org.dashboards}
            if links:
                raise HTTPError(403, {"message": "the library element has connections"})
            del org.library[e.uid]
            org.library_links.pop(e.uid, None)
            return json_response({"id": e.id, "message": "Library element deleted"})
