"""A stand-in for Grafana 11/12 on loopback: the legacy ``/api`` and the ``/apis`` dashboard API.

State lives in memory, guarded by one re-entrant lock; both APIs act on the same dashboards. Tests
set the state up through the Python API (``add_folder``, ``add_dashboard`` ...) and steer faults
through plain attributes (``latency``, ``rate_429``, ``fail_listing_after``, ``expire_next_continue`` ...).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import random
import re
import string
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sandbox.server import (
    HTTPError,
    Request,
    RequestRecord,
    Response,
    SandboxServer,
    encode_json,
    json_response,
)

__all__ = ["DASHBOARD_API", "FOLDER_API", "GrafanaSandbox", "namespace_of", "slugify"]

DASHBOARD_GROUP = "dashboard.grafana.app"
FOLDER_GROUP = "folder.grafana.app"
API_VERSION = "v1beta1"
DASHBOARD_API = f"{DASHBOARD_GROUP}/{API_VERSION}"
FOLDER_API = f"{FOLDER_GROUP}/{API_VERSION}"
MAX_UID_LENGTH = 40
PERMISSION_NAMES = {1: "View", 2: "Edit", 4: "Admin"}
ROLES = ("Viewer", "Editor", "Admin")
ROOT_FOLDER_TITLE = "Dashboards"
ZERO_TIME = "0001-01-01T00:00:00Z"
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list "
    "- objects that were created, modified, or deleted between the time the first chunk was returned "
    "and now may show up in the list."
)
CONFLICT_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
# Keys we manage on resources; everything else a client sends in metadata is kept as given.
_SYSTEM_ANNOTATIONS = frozenset(
    {
        "grafana.app/folder",
        "grafana.app/message",
        "grafana.app/createdBy",
        "grafana.app/updatedBy",
        "grafana.app/updatedTimestamp",
    }
)
_SYSTEM_LABELS = frozenset({"grafana.app/deprecatedInternalID"})
_ALNUM = string.ascii_letters + string.digits
_SEG = "[^/]+"
_NS = rf"/namespaces/(?P<ns>{_SEG})"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slugify(title: str) -> str:
    """Grafana-style URL slug of a title."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if slug:
        return slug
    # Titles with no ASCII letters still need a non-empty, stable slug.
    return hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def namespace_of(org: int) -> str:
    """The /apis namespace of an org: ``default`` for org 1, ``org-N`` otherwise."""
    return "default" if org == 1 else f"org-{org}"


def _k8s_uid(*parts: object) -> str:
    """A stable 44-character alphanumeric object uid, like the ones Grafana's /apis returns."""
    data = "\x00".join(str(p) for p in parts).encode("utf-8", "surrogatepass")
    n = int.from_bytes(hashlib.sha512(data).digest(), "big")
    chars = []
    for _ in range(44):
        n, r = divmod(n, len(_ALNUM))
        chars.append(_ALNUM[r])
    return "".join(chars)


def _display(actor: str) -> str:
    """Legacy APIs show a login where /apis shows ``user:<login>`` or ``service-account:<name>``."""
    return actor.split(":", 1)[1] if ":" in actor else actor


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Kubernetes ``Status`` failure body."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _k8s_error(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> HTTPError:
    return HTTPError(code, _status(code, reason, message, details))


def _dash_details(name: str, uid: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "group": DASHBOARD_GROUP, "kind": "dashboards"}
    if uid is not None:
        details["uid"] = uid
    return details


# -- state --------------------------------------------------------------------------------------


@dataclass
class _Version:
    version: int
    created: str
    created_by: str
    message: str
    model: dict[str, Any]


@dataclass
class _Dashboard:
    uid: str
    id: int
    # Stored models are never mutated in place (saves replace them), so they can be shared and
    # serialised outside the lock.
    model: dict[str, Any]
    folder_uid: str | None
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    resource_version: int
    generation: int
    k8s_uid: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    acl: list[dict[str, Any]] = field(default_factory=list)
    history: list[_Version] = field(default_factory=list)
    # The JSON of `model`, kept with the model it encodes: serving 10k large dashboards must not
    # re-encode each one per request.
    _encoded: tuple[dict[str, Any], bytes] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        title = self.model.get("title")
        return title if isinstance(title, str) else ""

    def model_json(self) -> bytes:
        cached = self._encoded
        if cached is not None and cached[0] is self.model:
            return cached[1]
        model = self.model
        data = encode_json(model)
        self._encoded = (model, data)
        return data


@dataclass
class _Folder:
    uid: str
    id: int
    title: str
    parent_uid: str | None
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    resource_version: int
    k8s_uid: str
    description: str = ""
    acl: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _User:
    id: int
    login: str
    email: str
    name: str
    created: str
    is_admin: bool = False


@dataclass
class _Team:
    id: int
    uid: str
    org_id: int
    name: str
    email: str
    members: set[int] = field(default_factory=set)


@dataclass
class _Org:
    id: int
    name: str
    folders: dict[str, _Folder] = field(default_factory=dict)
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    teams: dict[int, _Team] = field(default_factory=dict)
    members: dict[int, str] = field(default_factory=dict)
    # (folder uid, title) -> dashboard uids: the name-exists check must not scan every dashboard.
    titles: dict[tuple[str | None, str], set[str]] = field(default_factory=dict)
    _dashboard_keys: list[str] | None = None
    _folder_keys: list[str] | None = None

    def dashboard_keys(self) -> list[str]:
        # Cached between writes: paging through 10k dashboards must not re-sort them per page.
        if self._dashboard_keys is None:
            self._dashboard_keys = sorted(self.dashboards)
        return self._dashboard_keys

    def folder_keys(self) -> list[str]:
        if self._folder_keys is None:
            self._folder_keys = sorted(self.folders)
        return self._folder_keys

    def index(self, d: _Dashboard) -> None:
        self.titles.setdefault((d.folder_uid, d.title), set()).add(d.uid)

    def unindex(self, d: _Dashboard) -> None:
        uids = self.titles.get((d.folder_uid, d.title))
        if uids is not None:
            uids.discard(d.uid)
            if not uids:
                del self.titles[(d.folder_uid, d.title)]

    def changed(self) -> None:
        self._dashboard_keys = None
        self._folder_keys = None


@dataclass
class _Continue:
    offset: int
    rv: int
    issued: float
    last: str


# -- the sandbox --------------------------------------------------------------------------------


class GrafanaSandbox(SandboxServer):
    """Grafana 11/12 HTTP API stand-in (legacy ``/api`` and ``/apis``) with a thread-safe Python API."""

    fault_exempt_prefixes = ("/_sandbox", "/api/health")
    logged_headers = ("X-Grafana-Org-Id", "Content-Type", "Accept", "User-Agent")

    def __init__(
        self,
        *,
        token: str | None = "sandbox-token",  # noqa: S107 - a fixed test credential, not a secret
        basic: tuple[str, str] | None = ("admin", "admin"),
        apis: bool = True,
        continue_ttl: float | None = None,
        expire_next_continue: int = 0,
        fail_listing_after: int | None = None,
        truncate_listing_after: int | None = None,
        grafana_version: str = "11.3.0",
        latency: float = 0.0,
        rate_429: float = 0.0,
        retry_after: int = 1,
        rate_503: float = 0.0,
        seed: int | None = 0,
        log_bodies: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            latency=latency,
            rate_429=rate_429,
            retry_after=retry_after,
            rate_503=rate_503,
            seed=seed,
            host=host,
            port=port,
            log_bodies=log_bodies,
        )
        self.token = token
        self.basic = basic
        self.apis = apis
        self.continue_ttl = continue_ttl
        self.expire_next_continue = expire_next_continue
        self.fail_listing_after = fail_listing_after
        self.truncate_listing_after = truncate_listing_after
        self.grafana_version = grafana_version
        #: uid -> changes applied just before the next write to that dashboard arrives, as if
        #: someone saved it between a client's read and its write (optimistic-concurrency tests).
        self.edit_before_write: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self._uid_rng = random.Random(seed)
        self._rv = 0
        self._next_id = 0
        self._next_team_id = 0
        now = _now()
        admin_login = basic[0] if basic else "admin"
        self._users: dict[int, _User] = {
            1: _User(1, admin_login, "admin@localhost", "", now, is_admin=True),
        }
        self._orgs: dict[int, _Org] = {1: _Org(1, "Main Org.", members={1: "Admin"})}
        self._register_routes()

    # -- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self.route
        uid = rf"(?P<uid>{_SEG})"
        r("GET", r"/api/health", self._health)
        r("GET", r"/api/org", self._current_org)
        r("GET", r"/api/orgs", self._list_orgs)
        r("GET", r"/api/user", self._current_user)
        r("GET", r"/api/search", self._search)
        r("POST", r"/api/dashboards/db", self._post_dashboard)
        r("GET", rf"/api/dashboards/uid/{uid}", self._get_dashboard)
        r("DELETE", rf"/api/dashboards/uid/{uid}", self._delete_dashboard)
        r("GET", rf"/api/dashboards/uid/{uid}/versions", self._dashboard_versions)
        r("GET", rf"/api/dashboards/uid/{uid}/versions/(?P<version>[0-9]+)", self._dashboard_version)
        r("GET", rf"/api/dashboards/uid/{uid}/permissions", self._get_dashboard_permissions)
        r("POST", rf"/api/dashboards/uid/{uid}/permissions", self._post_dashboard_permissions)
        r("GET", r"/api/folders", self._list_folders)
        r("POST", r"/api/folders", self._create_folder)
        r("GET", rf"/api/folders/{uid}", self._get_folder)
        r("PUT", rf"/api/folders/{uid}", self._update_folder)
        r("DELETE", rf"/api/folders/{uid}", self._delete_folder)
        r("POST", rf"/api/folders/{uid}/move", self._move_folder)
        r("GET", rf"/api/folders/{uid}/permissions", self._get_folder_permissions)
        r("POST", rf"/api/folders/{uid}/permissions", self._post_folder_permissions)
        r("GET", r"/api/users/lookup", self._lookup_user)
        r("GET", r"/api/org/users", self._org_users)
        r("GET", r"/api/teams/search", self._search_teams)
        r("GET", rf"/api/teams/(?P<id>{_SEG})", self._get_team)
        r("GET", r"/apis", self._api_groups)
        dash_base = rf"/apis/{re.escape(DASHBOARD_API)}{_NS}/dashboards"
        r("GET", dash_base, self._apis_list_dashboards)
        r("POST", dash_base, self._apis_create_dashboard)
        r("GET", rf"{dash_base}/(?P<name>{_SEG})", self._apis_get_dashboard)
        r("PUT", rf"{dash_base}/(?P<name>{_SEG})", self._apis_update_dashboard)
        r("DELETE", rf"{dash_base}/(?P<name>{_SEG})", self._apis_delete_dashboard)
        folder_base = rf"/apis/{re.escape(FOLDER_API)}{_NS}/folders"
        r("GET", folder_base, self._apis_list_folders)
        r("GET", rf"{folder_base}/(?P<name>{_SEG})", self._apis_get_folder)

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

    def _ns_org(self, ns: str) -> _Org:
        org_id: int | None = 1 if ns == "default" else None
        m = re.fullmatch(r"org-([0-9]+)", ns)
        if m is not None:
            org_id = int(m.group(1))
        org = self._orgs.get(org_id) if org_id is not None else None
        if org is None:
            raise _k8s_error(404, "NotFound", f'namespaces "{ns}" not found')
        return org

    def _require_apis(self) -> None:
        if not self.apis:
            raise HTTPError(404, {"message": "Not found"})

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

    def _check_listing_faults(self, start: int) -> None:
        limit = self.fail_listing_after
        if limit is not None and start >= limit:
            raise HTTPError(500, {"message": "internal error"})

    def _listing_response(self, body: Any, start: int) -> Response:
        response = body if isinstance(body, Response) else json_response(body)
        limit = self.truncate_listing_after
        if limit is not None and start >= limit:
            payload = response.payload()
            # A connection cut mid-body, as far as the client can tell: valid length, invalid JSON.
            response.raw = payload[: len(payload) // 2]
        return response

    # -- JSON views --------------------------------------------------------------------------------

    def _folder_json(self, org: _Org, f: _Folder, *, with_parents: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f.id,
            "uid": f.uid,
            "orgId": org.id,
            "title": f.title,
            "url": self._folder_url(f),
            "hasAcl": bool(f.acl),
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "canDelete": True,
            "createdBy": _display(f.created_by),
            "created": f.created,
            "updatedBy": _display(f.updated_by),
            "updated": f.updated,
            "version": f.version,
        }
        if f.description:
            out["description"] = f.description
        if f.parent_uid:
            out["parentUid"] = f.parent_uid
        if with_parents:
            parents = list(reversed(self._ancestors(org, f.parent_uid)))
            if parents:
                out["parents"] = [self._folder_json(org, p, with_parents=False) for p in parents]
        return out

    def _dash_meta(self, org: _Org, d: _Dashboard) -> dict[str, Any]:
        folder = org.folders.get(d.folder_uid) if d.folder_uid else None
        return {
            "type": "db",
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "canStar": True,
            "canDelete": True,
            "slug": slugify(d.title),
            "url": self._dash_url(d),
            "expires": ZERO_TIME,
            "created": d.created,
            "updated": d.updated,
            "updatedBy": _display(d.updated_by),
            "createdBy": _display(d.created_by),
            "version": d.version,
            "hasAcl": bool(d.acl),
            "isFolder": False,
            "folderId": folder.id if folder else 0,
            "folderUid": folder.uid if folder else "",
            "folderTitle": folder.title if folder else ROOT_FOLDER_TITLE,
            "folderUrl": self._folder_url(folder) if folder else "",
            "provisioned": False,
            "provisionedExternalId": "",
        }

    def _dash_hit(self, org: _Org, d: _Dashboard) -> dict[str, Any]:
        slug = slugify(d.title)
        tags = d.model.get("tags")
        hit: dict[str, Any] = {
            "id": d.id,
            "uid": d.uid,
            "orgId": org.id,
            "title": d.title,
            "uri": f"db/{slug}",
            "url": self._dash_url(d),
            "slug": slug,
            "type": "dash-db",
            "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
            "isStarred": False,
            "sortMeta": 0,
        }
        folder = org.folders.get(d.folder_uid) if d.folder_uid else None
        if folder is not None:
            hit.update(
                folderId=folder.id,
                folderUid=folder.uid,
                folderTitle=folder.title,
                folderUrl=self._folder_url(folder),
            )
        return hit

    def _folder_hit(self, org: _Org, f: _Folder) -> dict[str, Any]:
        slug = slugify(f.title)
        hit: dict[str, Any] = {
            "id": f.id,
            "uid": f.uid,
            "orgId": org.id,
            "title": f.title,
            "uri": f"db/{slug}",
            "url": self._folder_url(f),
            "slug": slug,
            "type": "dash-folder",
            "tags": [],
            "isStarred": False,
            "sortMeta": 0,
        }
        parent = org.folders.get(f.parent_uid) if f.parent_uid else None
        if parent is not None:
            hit.update(
                folderId=parent.id,
                folderUid=parent.uid,
                folderTitle=parent.title,
                folderUrl=self._folder_url(parent),
            )
        return hit

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

    def _dash_resource(self, org: _Org, d: _Dashboard) -> dict[str, Any]:
        annotations = dict(d.annotations)
        if d.folder_uid:
            annotations["grafana.app/folder"] = d.folder_uid
        annotations["grafana.app/createdBy"] = d.created_by
        annotations["grafana.app/updatedBy"] = d.updated_by
        annotations["grafana.app/updatedTimestamp"] = d.updated
        return {
            "kind": "Dashboard",
            "apiVersion": DASHBOARD_API,
            "metadata": {
                "name": d.uid,
                "namespace": namespace_of(org.id),
                "uid": d.k8s_uid,
                "resourceVersion": str(d.resource_version),
                "generation": d.generation,
                "creationTimestamp": d.created,
                "labels": {**d.labels, "grafana.app/deprecatedInternalID": str(d.id)},
                "annotations": annotations,
                "managedFields": [
                    {
                        "manager": "grafana",
                        "operation": "Update",
                        "apiVersion": DASHBOARD_API,
                        "time": d.updated,
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:spec": {f"f:{k}": {} for k in d.model}},
                    }
                ],
            },
            "spec": dict(d.model),
            "status": {},
        }

    def _dash_resource_json(self, org: _Org, d: _Dashboard) -> bytes:
        """`_dash_resource` encoded, with the cached model spliced in as `spec`."""
        resource = self._dash_resource(org, d)
        del resource["spec"], resource["status"]
        return encode_json(resource)[:-1] + b',"spec":' + d.model_json() + b',"status":{}}'

    def _folder_resource(self, org: _Org, f: _Folder) -> dict[str, Any]:
        annotations: dict[str, str] = {}
        if f.parent_uid:
            annotations["grafana.app/folder"] = f.parent_uid
        annotations["grafana.app/createdBy"] = f.created_by
        annotations["grafana.app/updatedBy"] = f.updated_by
        annotations["grafana.app/updatedTimestamp"] = f.updated
        spec: dict[str, Any] = {"title": f.title}
        if f.description:
            spec["description"] = f.description
        return {
            "kind": "Folder",
            "apiVersion": FOLDER_API,
            "metadata": {
                "name": f.uid,
                "namespace": namespace_of(org.id),
                "uid": f.k8s_uid,
                "resourceVersion": str(f.resource_version),
                "generation": f.version,
                "creationTimestamp": f.created,
                "labels": {"grafana.app/deprecatedInternalID": str(f.id)},
                "annotations": annotations,
            },
            "spec": spec,
            "status": {},
        }

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
    ) -> _Dashboard:
        now = _now()
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
            resource_version=self._next_rv(),
            generation=1,
            k8s_uid=_k8s_uid("dashboard", org.id, uid, dash_id),
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
        )
        d.history.append(_Version(1, now, actor, message, model))
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
    ) -> None:
        now = _now()
        version = d.version + 1
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
        d.resource_version = self._next_rv()
        d.generation += 1
        d.history.append(_Version(version, now, actor, message, model))

    def _remove_dashboard(self, org: _Org, uid: str) -> _Dashboard:
        d = org.dashboards.pop(uid)
        org.unindex(d)
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
        org.folders[uid] = f
        org.changed()
        return f

    def _remove_folder(self, org: _Org, uid: str) -> _Folder:
        doomed = self._subtree(org, uid)
        folder = org.folders[uid]
        for d in [d for d in org.dashboards.values() if d.folder_uid in doomed]:
            org.unindex(d)
            del org.dashboards[d.uid]
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

    # -- legacy handlers ---------------------------------------------------------------------------

    def _concurrent_edit(self, org: int, uid: str) -> None:
        changes = self.edit_before_write.pop(uid, None)
        if changes is not None and uid in self._org_by_id(org).dashboards:
            self.update_dashboard(uid, changes, org=org)

    def _health(self, req: Request) -> Response:
        return json_response({"commit": "sandbox", "database": "ok", "version": self.grafana_version})

    def _current_org(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            return json_response({"id": org.id, "name": org.name, "address": {}})

    def _list_orgs(self, req: Request) -> Response:
        if not (req.user or "").startswith("user:"):
            raise HTTPError(403, {"message": "Permission denied"})
        with self.lock:
            return json_response(
                [{"id": o.id, "name": o.name} for o in sorted(self._orgs.values(), key=lambda o: o.id)]
            )

    def _current_user(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            if (req.user or "").startswith("user:"):
                user = self._users[1]
                return json_response(
                    {
                        "id": user.id,
                        "login": user.login,
                        "email": user.email,
                        "name": user.name,
                        "orgId": org.id,
                        "isGrafanaAdmin": True,
                    }
                )
            return json_response(
                {
                    "id": 0,
                    "login": "sa-sandbox",
                    "email": "",
                    "name": "sandbox",
                    "orgId": org.id,
                    "isGrafanaAdmin": False,
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
            self._check_listing_faults(start)
            folders: list[_Folder] = []
            dashboards: list[_Dashboard] = []
            if kind in ("", "dash-folder") and not dash_filter and not tags:
                folders = [
                    f
                    for f in org.folders.values()
                    if (not query or query in f.title.casefold()) and in_folder(f.parent_uid)
                ]
                folders.sort(key=lambda f: (f.title, f.uid), reverse=descending)
            if kind in ("", "dash-db"):
                for d in org.dashboards.values():
                    if query and query not in d.title.casefold():
                        continue
                    if not in_folder(d.folder_uid) or (dash_filter and d.uid not in dash_filter):
                        continue
                    if tags:
                        have = d.model.get("tags")
                        if not isinstance(have, list) or not all(t in have for t in tags):
                            continue
                    dashboards.append(d)
                dashboards.sort(key=lambda d: (d.title, d.uid), reverse=descending)
            combined: list[_Folder | _Dashboard] = [*folders, *dashboards]
            hits = [
                self._folder_hit(org, x) if isinstance(x, _Folder) else self._dash_hit(org, x)
                for x in combined[start : start + limit]
            ]
        return self._listing_response(hits, start)

    def _get_dashboard(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            d = org.dashboards.get(req.params["uid"])
            if d is None:
                raise HTTPError(404, {"message": "Dashboard not found"})
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
            if existing is not None and not overwrite and model.get("version") != existing.version:
                raise HTTPError(
                    412,
                    {
                        "message": "The dashboard has been changed by someone else",
                        "status": "version-mismatch",
                    },
                )
            clash = self._same_title(org, title, folder_uid, existing.uid if existing else None)
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
            if uid not in org.dashboards:
                raise HTTPError(404, {"message": "Dashboard not found"})
            d = self._remove_dashboard(org, uid)
            return json_response({"title": d.title, "message": f"Dashboard {d.title} deleted", "id": d.id})

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

    def _folder_or_404(self, org: _Org, uid: str) -> _Folder:
        f = org.folders.get(uid)
        if f is None:
            raise HTTPError(404, {"message": "folder not found"})
        return f

    def _get_folder(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
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
            f = self._folder_or_404(org, req.params["uid"])
            if parent is not None:
                if not isinstance(parent, str) or parent not in org.folders:
                    raise HTTPError(404, {"message": "parent folder not found"})
                if parent in self._subtree(org, f.uid):
                    raise HTTPError(400, {"message": "a folder cannot be moved into itself or a descendant"})
            f.parent_uid = parent
            f.version += 1
            f.updated = _now()
            f.updated_by = req.user or "anonymous"
            f.resource_version = self._next_rv()
            return json_response(self._folder_json(org, f))

    def _delete_folder(self, req: Request) -> Response:
        with self.lock:
            org = self._org(req)
            f = self._folder_or_404(org, req.params["uid"])
            self._remove_folder(org, f.uid)
            return json_response({"message": "Folder deleted", "title": f.title, "id": f.id})

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

    # -- /apis handlers ----------------------------------------------------------------------------

    def _api_groups(self, req: Request) -> Response:
        self._require_apis()
        groups = []
        for name in (DASHBOARD_GROUP, FOLDER_GROUP):
            version = {"groupVersion": f"{name}/{API_VERSION}", "version": API_VERSION}
            groups.append({"name": name, "versions": [version], "preferredVersion": dict(version)})
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    def _decode_continue(self, token: str) -> _Continue:
        try:
            data = json.loads(base64.b64decode(token, validate=True))
            position = _Continue(
                offset=int(data["offset"]),
                rv=int(data["rv"]),
                issued=float(data["issued"]),
                last=str(data["last"]),
            )
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise _k8s_error(400, "BadRequest", "continue key is not valid: invalid continue token") from None
        if position.offset < 0:
            raise _k8s_error(400, "BadRequest", "continue key is not valid: negative offset")
        return position

    @staticmethod
    def _encode_continue(position: _Continue) -> str:
        raw = json.dumps(
            {"offset": position.offset, "rv": position.rv, "issued": position.issued, "last": position.last},
            separators=(",", ":"),
        )
        return base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii")

    def _k8s_list(self, req: Request, kind: Literal["dashboards", "folders"]) -> Response:
        self._require_apis()
        limit = max(0, req.int_arg("limit", 0))
        token = req.arg("continue") or None
        with self.lock:
            org = self._ns_org(req.params["ns"])
            after: str | None = None
            offset, rv = 0, self._rv
            if token is not None:
                if self.expire_next_continue > 0:
                    self.expire_next_continue -= 1
                    raise _k8s_error(410, "Expired", EXPIRED_MESSAGE)
                position = self._decode_continue(token)
                if self.continue_ttl is not None and time.time() - position.issued > self.continue_ttl:
                    raise _k8s_error(410, "Expired", EXPIRED_MESSAGE)
                offset, rv, after = position.offset, position.rv, position.last
            self._check_listing_faults(offset)
            keys = org.dashboard_keys() if kind == "dashboards" else org.folder_keys()
            # Resume after the last name served, so writes between pages neither skip nor repeat items.
            start = bisect_right(keys, after) if after is not None else 0
            chunk = keys[start : start + limit] if limit else keys[start:]
            items: list[bytes]
            if kind == "dashboards":
                items = [self._dash_resource_json(org, org.dashboards[k]) for k in chunk]
            else:
                items = [encode_json(self._folder_resource(org, org.folders[k])) for k in chunk]
            metadata: dict[str, Any] = {"resourceVersion": str(rv)}
            if chunk and start + len(chunk) < len(keys):
                metadata["continue"] = self._encode_continue(
                    _Continue(offset=offset + len(chunk), rv=rv, issued=time.time(), last=chunk[-1])
                )
        list_kind, api = (
            ("DashboardList", DASHBOARD_API) if kind == "dashboards" else ("FolderList", FOLDER_API)
        )
        head = encode_json({"kind": list_kind, "apiVersion": api, "metadata": metadata})
        body = Response(raw=head[:-1] + b',"items":[' + b",".join(items) + b"]}")
        return self._listing_response(body, offset)

    def _apis_list_dashboards(self, req: Request) -> Response:
        return self._k8s_list(req, "dashboards")

    def _apis_list_folders(self, req: Request) -> Response:
        return self._k8s_list(req, "folders")

    def _apis_get_dashboard(self, req: Request) -> Response:
        self._require_apis()
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req.params["ns"])
            d = org.dashboards.get(name)
            if d is None:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            return Response(raw=self._dash_resource_json(org, d))

    def _apis_get_folder(self, req: Request) -> Response:
        self._require_apis()
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req.params["ns"])
            f = org.folders.get(name)
            if f is None:
                details = {"name": name, "group": FOLDER_GROUP, "kind": "folders"}
                raise _k8s_error(404, "NotFound", f'folders.{FOLDER_GROUP} "{name}" not found', details)
            return json_response(self._folder_resource(org, f))

    @staticmethod
    def _resource_parts(body: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
        """(metadata, spec, custom labels, custom annotations) of a posted resource."""
        if not isinstance(body, dict):
            raise _k8s_error(400, "BadRequest", "the request body must be a JSON object")
        metadata = body.get("metadata") or {}
        spec = body.get("spec")
        if not isinstance(metadata, dict) or not isinstance(spec, dict):
            raise _k8s_error(400, "BadRequest", "metadata and spec must be JSON objects")
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        if not isinstance(labels, dict) or not isinstance(annotations, dict):
            raise _k8s_error(400, "BadRequest", "labels and annotations must be JSON objects")
        title = spec.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _k8s_error(400, "BadRequest", "spec.title: Required value: dashboard title cannot be empty")
        custom_labels = {str(k): str(v) for k, v in labels.items() if k not in _SYSTEM_LABELS}
        custom_annotations = {str(k): str(v) for k, v in annotations.items() if k not in _SYSTEM_ANNOTATIONS}
        return metadata, spec, custom_labels, custom_annotations

    @staticmethod
    def _resource_folder(org: _Org, metadata: dict[str, Any]) -> str | None:
        folder = (metadata.get("annotations") or {}).get("grafana.app/folder") or None
        if folder is not None and (not isinstance(folder, str) or folder not in org.folders):
            raise _k8s_error(400, "BadRequest", f"folder not found: {folder}")
        return folder

    @staticmethod
    def _resource_message(metadata: dict[str, Any]) -> str:
        message = (metadata.get("annotations") or {}).get("grafana.app/message")
        return message if isinstance(message, str) else ""

    def _apis_create_dashboard(self, req: Request) -> Response:
        self._require_apis()
        metadata, spec, labels, annotations = self._resource_parts(req.json)
        name = metadata.get("name") or ""
        generate = metadata.get("generateName") or ""
        if not isinstance(name, str) or not isinstance(generate, str):
            raise _k8s_error(400, "BadRequest", "metadata.name must be a string")
        if len(name) > MAX_UID_LENGTH:
            raise _k8s_error(
                400, "BadRequest", f"metadata.name: Invalid value: {name!r}: uid too long, max 40"
            )
        with self.lock:
            org = self._ns_org(req.params["ns"])
            if not name:
                if not generate:
                    raise _k8s_error(400, "BadRequest", "name or generateName is required")
                suffix_alphabet = "bcdfghjklmnpqrstvwxz2456789"
                name = generate[: MAX_UID_LENGTH - 5] + self._gen_uid(
                    lambda u: generate[: MAX_UID_LENGTH - 5] + u in org.dashboards, 5, suffix_alphabet
                )
            if name in org.dashboards:
                raise _k8s_error(
                    409,
                    "AlreadyExists",
                    f'dashboards.{DASHBOARD_GROUP} "{name}" already exists',
                    _dash_details(name),
                )
            folder = self._resource_folder(org, metadata)
            model = dict(spec)
            model.pop("id", None)
            d = self._new_dashboard(
                org,
                name,
                model,
                folder_uid=folder,
                actor=req.user or "anonymous",
                message=self._resource_message(metadata),
                labels=labels,
                annotations=annotations,
            )
            return json_response(self._dash_resource(org, d), 201)

    def _apis_update_dashboard(self, req: Request) -> Response:
        self._require_apis()
        name = req.params["name"]
        metadata, spec, labels, annotations = self._resource_parts(req.json)
        body_name = metadata.get("name")
        if body_name not in (None, "", name):
            raise _k8s_error(
                400,
                "BadRequest",
                f"the name of the object ({body_name}) does not match the name on the URL ({name})",
            )
        with self.lock:
            org = self._ns_org(req.params["ns"])
            self._concurrent_edit(org.id, name)
            d = org.dashboards.get(name)
            if d is None:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            rv = metadata.get("resourceVersion")
            if rv not in (None, "") and str(rv) != str(d.resource_version):
                raise _k8s_error(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on dashboards.{DASHBOARD_GROUP} "{name}": '
                    + CONFLICT_MESSAGE,
                    _dash_details(name),
                )
            folder = self._resource_folder(org, metadata)
            model = dict(spec)
            model.pop("id", None)
            self._save_dashboard(
                org,
                d,
                model,
                folder_uid=folder,
                actor=req.user or "anonymous",
                message=self._resource_message(metadata),
            )
            d.labels = labels
            d.annotations = annotations
            return json_response(self._dash_resource(org, d))

    def _apis_delete_dashboard(self, req: Request) -> Response:
        self._require_apis()
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req.params["ns"])
            if name not in org.dashboards:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            d = self._remove_dashboard(org, name)
            return json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": _dash_details(name, d.k8s_uid),
                }
            )

    # -- Python API --------------------------------------------------------------------------------

    def _org_by_id(self, org: int) -> _Org:
        found = self._orgs.get(org)
        if found is None:
            raise KeyError(f"org {org} not found")
        return found

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
            self._new_dashboard(o, uid, model, folder_uid=folder_uid, actor="user:admin")
            return uid

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
            target.acl = self._parse_acl(o, items)

    def permissions(
        self, kind: Literal["dashboard", "folder"], uid: str, org: int = 1
    ) -> list[dict[str, Any]]:
        """The ACL as ``GET .../permissions`` returns it (own entries first, then inherited)."""
        with self.lock:
            o = self._org_by_id(org)
            target: _Dashboard | _Folder = o.dashboards[uid] if kind == "dashboard" else o.folders[uid]
            return self._acl_view(o, target)

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
        """Delete every dashboard, folder and permission of the org; users and teams stay."""
        with self.lock:
            o = self._org_by_id(org)
            o.dashboards.clear()
            o.titles.clear()
            o.folders.clear()
            o.changed()
            self._next_rv()

    def write_requests(self) -> list[RequestRecord]:
        """Logged requests that were not GET or HEAD."""
        return [r for r in self.logged_requests() if r.method not in ("GET", "HEAD")]
