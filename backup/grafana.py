"""GrafanaClient (legacy /api and the /apis dashboard API) and GrafanaCollector.

Both APIs produce the same items with the same content hashes: a dashboard's content is
``{"dashboard": <model>, "folderUid": <uid or "">}`` whichever API it was read from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from backup.config import GrafanaSourceConfig
from backup.errors import ResponseError, SourceError
from backup.http import ApiResponse, BasicAuth, BearerAuth, make_client, request
from backup.pool import pooled
from backup.run import ItemFailure, Unchanged
from storage.model import Entry, Item

log = logging.getLogger("dashvault.grafana")

DASHBOARD_GROUP = "dashboard.grafana.app"
DASHBOARD_VERSION = "v1beta1"
# How often an /apis listing may restart after its continue token expired (410) before giving up.
MAX_LIST_RESTARTS = 5
# /apis list pages carry whole dashboards: pages are sized to about this many bytes (at most
# `page_size` items), so a page of large dashboards does not hold hundreds of megabytes at once. A
# page parses to ten times its size in objects: at 10,000 dashboards, 4 MB pages peaked at 280 MB RSS,
# 1 MB pages at 145 MB, for 10% more wall time (more pages, each a round trip).
LIST_PAGE_BYTES = 1024 * 1024
# Items asked for in the first /apis page, before the size of a dashboard is known.
FIRST_PAGE_ITEMS = 50

Result = Item | ItemFailure | Unchanged


def seg(value: str) -> str:
    """Percent-encode a uid as one URL path segment (a uid may contain ``/`` or ``..``)."""
    # Dots too: httpx would resolve a segment of ".." against the path before sending it.
    return quote(value, safe="").replace(".", "%2E")


def namespace(org: int) -> str:
    """The /apis namespace of a Grafana org."""
    return "default" if org == 1 else f"org-{org}"


class GrafanaClient:
    """Typed calls to one Grafana instance; orgs are chosen per call."""

    def __init__(self, config: GrafanaSourceConfig) -> None:
        self.config = config
        self.name = config.name
        auth: BearerAuth | BasicAuth | None = None
        if config.token is not None:
            auth = BearerAuth(config.token)
        elif config.username is not None and config.password is not None:
            auth = BasicAuth(config.username, config.password)
        self.http = make_client(
            base_url=config.url,
            auth=auth,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            retries=config.retries,
            verify=config.verify_tls,
            max_connections=config.concurrency * 2,
        )

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """One request; a status outside `ok` raises the matching `SourceError`."""
        res = request(
            self.http, method, path, source=self.name, params=params, json=json, headers=headers, expect=ok
        )
        return res.status, res.body

    def get(
        self, path: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        return self.call("GET", path, params=params, headers=headers)[1]

    def _org(self, org: int) -> dict[str, str]:
        return {"X-Grafana-Org-Id": str(org)}

    # -- discovery ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        data = self.get("/api/health")
        return data if isinstance(data, dict) else {}

    def has_apis(self) -> bool:
        """Whether the server advertises the dashboard.grafana.app/v1beta1 API."""
        status, data = self.call("GET", "/apis", ok=(200, 404))
        if status == 404 or not isinstance(data, dict):
            return False
        for group in data.get("groups") or []:
            if isinstance(group, dict) and group.get("name") == DASHBOARD_GROUP:
                versions = {v.get("version") for v in group.get("versions") or [] if isinstance(v, dict)}
                return DASHBOARD_VERSION in versions
        return False

    def org_ids(self) -> list[int]:
        if self.config.orgs != "all":
            return list(self.config.orgs)
        data = self.get("/api/orgs")
        return sorted(int(o["id"]) for o in _list(data, "/api/orgs") if isinstance(o, dict) and "id" in o)

    # -- legacy reads -------------------------------------------------------------------------

    def search_pages(self, org: int, kind: str) -> Iterator[list[dict[str, Any]]]:
        """`/api/search?type=...` page by page until a short page."""
        limit = self.config.page_size
        page = 1
        while True:
            data = self.get(
                "/api/search", params={"type": kind, "limit": limit, "page": page}, headers=self._org(org)
            )
            hits = [h for h in _list(data, "/api/search") if isinstance(h, dict) and h.get("uid")]
            yield hits
            if len(_list(data, "/api/search")) < limit:
                return
            page += 1

    def folder(self, org: int, uid: str) -> dict[str, Any] | None:
        status, data = self.call("GET", f"/api/folders/{seg(uid)}", headers=self._org(org), ok=(200, 404))
        return _dict(data, "/api/folders/:uid") if status == 200 else None

    def dashboard(self, org: int, uid: str) -> dict[str, Any] | None:
        res = self.dashboard_response(org, uid)
        return _dict(res.body, "/api/dashboards/uid/:uid") if res is not None else None

    def dashboard_response(self, org: int, uid: str, unless_digest: str | None = None) -> ApiResponse | None:
        """The dashboard's response (None if it is gone); see `request` for `unless_digest`."""
        res = request(
            self.http,
            "GET",
            f"/api/dashboards/uid/{seg(uid)}",
            source=self.name,
            headers=self._org(org),
            expect=(200, 404),
            unless_digest=unless_digest,
        )
        return res if res.status == 200 else None

    def permissions(self, org: int, kind: str, uid: str) -> list[dict[str, Any]] | None:
        base = "/api/folders" if kind == "folder" else "/api/dashboards/uid"
        status, data = self.call(
            "GET", f"{base}/{seg(uid)}/permissions", headers=self._org(org), ok=(200, 404)
        )
        if status == 404:
            return None
        return [p for p in _list(data, f"{base}/:uid/permissions") if isinstance(p, dict)]

    # -- /apis reads --------------------------------------------------------------------------

    def _apis_path(self, org: int, name: str | None = None) -> str:
        path = f"/apis/{DASHBOARD_GROUP}/{DASHBOARD_VERSION}/namespaces/{namespace(org)}/dashboards"
        return f"{path}/{seg(name)}" if name is not None else path

    def list_resources(self, org: int) -> Iterator[dict[str, Any]]:
        """Every dashboard resource, following `metadata.continue`; restarts on 410 and deduplicates."""
        seen: set[str] = set()
        restarts = 0
        token: str | None = None
        limit = min(self.config.page_size, FIRST_PAGE_ITEMS)
        while True:
            params: dict[str, Any] = {"limit": limit}
            if token:
                params["continue"] = token
            res = request(
                self.http, "GET", self._apis_path(org), source=self.name, params=params, expect=(200, 410)
            )
            if res.status == 410:
                restarts += 1
                if restarts > MAX_LIST_RESTARTS:
                    raise SourceError(
                        f"{self.name}: dashboard listing of org {org} kept expiring (410) after "
                        f"{MAX_LIST_RESTARTS} restarts"
                    )
                log.info(
                    "continue token expired, restarting listing", extra={"source": self.name, "org": org}
                )
                token = None
                continue
            body = _dict(res.body, "dashboard list")
            items = body.get("items") or []
            if items:
                limit = max(1, min(self.config.page_size, len(items) * LIST_PAGE_BYTES // max(1, res.size)))
            token = (body.get("metadata") or {}).get("continue") or None
            del res, body
            # Handed out one by one and forgotten here, so each can be freed once it is stored.
            items.reverse()
            while items:
                item = items.pop()
                name = (item.get("metadata") or {}).get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name not in seen:
                    seen.add(name)
                    yield item
            if not token:
                return

    def resource(self, org: int, name: str) -> dict[str, Any] | None:
        status, data = self.call("GET", self._apis_path(org, name), ok=(200, 404))
        return _dict(data, "dashboard resource") if status == 200 else None

    # -- writes (restore) ---------------------------------------------------------------------
    # Each returns (status, body) for the statuses a restore must tell apart; others raise.

    def create_folder(self, org: int, uid: str, title: str, parent_uid: str) -> tuple[int, Any]:
        body: dict[str, Any] = {"uid": uid, "title": title}
        if parent_uid:
            body["parentUid"] = parent_uid
        return self.call("POST", "/api/folders", json=body, headers=self._org(org), ok=(200, 409, 412))

    def update_folder(
        self, org: int, uid: str, title: str, *, version: Any, overwrite: bool
    ) -> tuple[int, Any]:
        body = {"title": title, "version": version, "overwrite": overwrite}
        return self.call(
            "PUT", f"/api/folders/{seg(uid)}", json=body, headers=self._org(org), ok=(200, 409, 412)
        )

    def move_folder(self, org: int, uid: str, parent_uid: str) -> tuple[int, Any]:
        body = {"parentUid": parent_uid or None}
        return self.call("POST", f"/api/folders/{seg(uid)}/move", json=body, headers=self._org(org))

    def save_dashboard(
        self, org: int, model: dict[str, Any], folder_uid: str, *, message: str, overwrite: bool
    ) -> tuple[int, Any]:
        """`POST /api/dashboards/db`; 412 (version-mismatch, name-exists) comes back to the caller."""
        body = {"dashboard": model, "folderUid": folder_uid, "message": message, "overwrite": overwrite}
        return self.call("POST", "/api/dashboards/db", json=body, headers=self._org(org), ok=(200, 412))

    def create_resource(
        self, org: int, name: str, spec: dict[str, Any], folder_uid: str, *, message: str
    ) -> tuple[int, Any]:
        body = {"metadata": {"name": name, "annotations": _annotations(folder_uid, message)}, "spec": spec}
        return self.call("POST", self._apis_path(org), json=body, ok=(200, 201, 409))

    def update_resource(
        self,
        org: int,
        name: str,
        spec: dict[str, Any],
        folder_uid: str,
        *,
        message: str,
        resource_version: str,
    ) -> tuple[int, Any]:
        """`PUT` with the live resourceVersion, so a concurrent edit answers 409 instead of being lost."""
        metadata = {
            "name": name,
            "resourceVersion": resource_version,
            "annotations": _annotations(folder_uid, message),
        }
        body = {"metadata": metadata, "spec": spec}
        return self.call("PUT", self._apis_path(org, name), json=body, ok=(200, 409))

    def set_permissions(self, org: int, kind: str, uid: str, items: list[dict[str, Any]]) -> None:
        base = "/api/folders" if kind == "folder" else "/api/dashboards/uid"
        self.call("POST", f"{base}/{seg(uid)}/permissions", json={"items": items}, headers=self._org(org))

    def user_id(self, org: int, login: str) -> int | None:
        status, data = self.call(
            "GET", "/api/users/lookup", params={"loginOrEmail": login}, headers=self._org(org), ok=(200, 404)
        )
        return int(data["id"]) if status == 200 and isinstance(data, dict) and "id" in data else None

    def team_id(self, org: int, uid: str | None, name: str | None) -> int | None:
        data = self.get(
            "/api/teams/search", params={"name": name or "", "perpage": 1000}, headers=self._org(org)
        )
        teams = [t for t in (data or {}).get("teams") or [] if isinstance(t, dict)]
        for t in teams:
            if uid and t.get("uid") == uid:
                return int(t["id"])
        named = [t for t in teams if name and t.get("name") == name]
        return int(named[0]["id"]) if len(named) == 1 else None

    def find_dashboard_uid(self, org: int, title: str, folder_uid: str) -> str | None:
        """The uid of the dashboard with this exact title in a folder (to explain a name clash)."""
        params: dict[str, Any] = {"type": "dash-db", "query": title, "limit": 100}
        hits = _list(self.get("/api/search", params=params, headers=self._org(org)), "/api/search")
        for h in hits:
            if isinstance(h, dict) and h.get("title") == title and (h.get("folderUid") or "") == folder_uid:
                return str(h["uid"])
        return None


def _annotations(folder_uid: str, message: str) -> dict[str, str]:
    out = {"grafana.app/message": message}
    if folder_uid:
        out["grafana.app/folder"] = folder_uid
    return out


def _list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ResponseError(f"{what} did not return a JSON list")
    return data


def _dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ResponseError(f"{what} did not return a JSON object")
    return data


# -- items --------------------------------------------------------------------------------------


def folder_item(source: str, org: int, data: dict[str, Any]) -> Item:
    uid = str(data["uid"])
    parent = data.get("parentUid") or ""
    return Item(
        source=source,
        kind="folder",
        key=f"{org}/{uid}",
        title=str(data.get("title") or uid),
        folder=parent or None,
        content={"uid": uid, "title": data.get("title"), "parentUid": parent},
        meta={k: data[k] for k in ("version", "updated", "updatedBy", "id") if k in data},
    )


def dashboard_item_legacy(source: str, org: int, data: dict[str, Any], digest: str = "") -> Item:
    model = dict(data.get("dashboard") or {})
    meta = data.get("meta") or {}
    uid = str(model.get("uid"))
    folder = meta.get("folderUid") or ""
    return Item(
        source=source,
        kind="dashboard",
        key=f"{org}/{uid}",
        title=str(model.get("title") or uid),
        folder=folder or None,
        content={"dashboard": model, "folderUid": folder},
        meta={
            "version": model.get("version", meta.get("version")),
            "id": model.get("id"),
            "updated": meta.get("updated"),
            "updatedBy": meta.get("updatedBy"),
            "api": "legacy",
            **({"digest": digest} if digest else {}),
        },
    )


def dashboard_item_apis(source: str, org: int, res: dict[str, Any]) -> Item:
    md = res.get("metadata") or {}
    uid = str(md["name"])
    model = dict(res.get("spec") or {})
    # The legacy model always carries its uid; a resource's spec may leave it to metadata.name.
    model.setdefault("uid", uid)
    annotations = md.get("annotations") or {}
    folder = annotations.get("grafana.app/folder") or ""
    return Item(
        source=source,
        kind="dashboard",
        key=f"{org}/{uid}",
        title=str(model.get("title") or uid),
        folder=folder or None,
        content={"dashboard": model, "folderUid": folder},
        meta={
            "version": model.get("version"),
            "resourceVersion": md.get("resourceVersion"),
            "generation": md.get("generation"),
            "updated": annotations.get("grafana.app/updatedTimestamp"),
            "updatedBy": annotations.get("grafana.app/updatedBy"),
            "api": "apis",
        },
    )


def acl_items(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The restorable part of an ACL: own (not inherited) entries by role, team or user login."""
    items = []
    for p in raw:
        if p.get("inherited"):
            continue
        entry: dict[str, Any] = {"permission": p.get("permission")}
        if p.get("role"):
            entry["role"] = p["role"]
        elif p.get("teamUid") or p.get("team"):
            entry["team"] = p.get("team")
            entry["teamUid"] = p.get("teamUid")
        elif p.get("userLogin"):
            entry["userLogin"] = p["userLogin"]
        else:
            continue
        items.append(entry)
    return sorted(items, key=lambda e: sorted((k, str(v)) for k, v in e.items()))


def permissions_item(
    source: str, org: int, kind: str, uid: str, *, title: str, raw: list[dict[str, Any]]
) -> Item:
    return Item(
        source=source,
        kind="permissions",
        key=f"{org}/{uid}",
        title=title,
        content={"object": kind, "uid": uid, "items": acl_items(raw)},
        meta={"object": kind},
    )


# -- collector ----------------------------------------------------------------------------------


class GrafanaCollector:
    """Collects folders, dashboards and permissions of every configured org of one Grafana."""

    def __init__(self, config: GrafanaSourceConfig, client: GrafanaClient | None = None) -> None:
        self.config = config
        self.client = client or GrafanaClient(config)
        self.api_used = ""
        self._previous: Mapping[tuple[str, str], Entry] = {}

    @property
    def source(self) -> str:
        return self.config.name

    def resolve_api(self) -> str:
        if self.config.api == "auto":
            return "apis" if self.client.has_apis() else "legacy"
        return self.config.api

    def collect(
        self, known: Mapping[tuple[str, str], Entry] | Iterable[tuple[str, str]] = ()
    ) -> Iterator[Result]:
        """Yield every item; `known` (kind, key) pairs that the listing misses are re-checked one by one.

        Given the previous entries, an /apis dashboard whose resourceVersion is unchanged is `Unchanged`.
        """
        self._previous = known if isinstance(known, Mapping) else {}
        known_set = set(known)
        try:
            self.api_used = self.resolve_api()
            for org in self.client.org_ids():
                yield from self._collect_org(org, known_set)
        finally:
            self.client.close()

    def _collect_org(self, org: int, known: set[tuple[str, str]]) -> Iterator[Result]:
        prefix = f"{org}/"
        folder_uids: list[str] = []
        for page in self.client.search_pages(org, "dash-folder"):
            folder_uids.extend(str(h["uid"]) for h in page)
        folder_uids.extend(_missing(known, "folder", prefix, folder_uids))
        # Parents a search did not return (permissions, paging races) are fetched on the way.
        yield from self._pooled(self._folder_task(org, uid) for uid in dict.fromkeys(folder_uids))

        if self.api_used == "apis":
            listed: list[str] = []

            def resources() -> Iterator[Callable[[], list[Result]]]:
                for res in self.client.list_resources(org):
                    listed.append(str(res["metadata"]["name"]))
                    yield self._resource_task(org, res)

            yield from self._pooled(resources())
            recheck = _missing(known, "dashboard", prefix, listed)
            yield from self._pooled(self._resource_task(org, None, uid) for uid in recheck)
        else:
            listed = []

            def fetches() -> Iterator[Callable[[], list[Result]]]:
                for page in self.client.search_pages(org, "dash-db"):
                    for hit in page:
                        listed.append(str(hit["uid"]))
                        yield self._dashboard_task(org, str(hit["uid"]))

            yield from self._pooled(fetches())
            recheck = _missing(known, "dashboard", prefix, listed)
            yield from self._pooled(self._dashboard_task(org, uid) for uid in recheck)

    def _pooled(self, tasks: Iterable[Callable[[], list[Result]]]) -> Iterator[Result]:
        return pooled(tasks, limit=self.config.concurrency, name=self.source)

    def _failing(self, kind: str, org: int, uid: str, fn: Callable[[], list[Result]]) -> list[Result]:
        # An object we could not read also leaves its permissions unknown: both keep their last state.
        try:
            return fn()
        except SourceError as exc:
            key = f"{org}/{uid}"
            return [ItemFailure(kind, key, exc.message), ItemFailure("permissions", key, exc.message)]

    def _folder_task(self, org: int, uid: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            data = self.client.folder(org, uid)
            if data is None:
                return []  # deleted since it was listed
            item = folder_item(self.source, org, data)
            return [item, *self._permissions(org, "folder", uid, item.title)]

        return lambda: self._failing("folder", org, uid, run)

    def _permissions(self, org: int, kind: str, uid: str, title: str) -> list[Result]:
        try:
            raw = self.client.permissions(org, kind, uid)
        except SourceError as exc:
            return [ItemFailure("permissions", f"{org}/{uid}", exc.message)]
        if raw is None or not acl_items(raw):
            # Only objects with an ACL of their own get a permissions item; inherited entries are
            # restored through the folder that holds them.
            return []
        return [permissions_item(self.source, org, kind, uid, title=title, raw=raw)]

    def _dashboard_task(self, org: int, uid: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            key = f"{org}/{uid}"
            old = self._previous.get(("dashboard", key))
            known = old.meta.get("digest") if old is not None and old.meta.get("api") == "legacy" else None
            # Always given (empty: nothing to match), so the response's digest is computed once, here.
            res = self.client.dashboard_response(org, uid, known if isinstance(known, str) else "")
            if res is None:
                return []
            if res.same and old is not None:
                # Byte for byte the response the last snapshot was made from: nothing to parse or hash.
                return [Unchanged("dashboard", key), *self._permissions(org, "dashboard", uid, old.title)]
            data = _dict(res.body, "/api/dashboards/uid/:uid")
            item = dashboard_item_legacy(self.source, org, data, digest=res.digest)
            return [item, *self._permissions(org, "dashboard", uid, item.title)]

        return lambda: self._failing("dashboard", org, uid, run)

    def _resource_task(
        self, org: int, res: dict[str, Any] | None, uid: str = ""
    ) -> Callable[[], list[Result]]:
        name = uid if res is None else str(res["metadata"]["name"])

        def run() -> list[Result]:
            data = res if res is not None else self.client.resource(org, name)
            if data is None:
                return []
            key = f"{org}/{name}"
            old = self._previous.get(("dashboard", key))
            if old is not None and same_version(old, data):
                # Same resourceVersion, same object: no need to build and hash it again. The ACL
                # is not part of the resource, so it is still read.
                return [Unchanged("dashboard", key), *self._permissions(org, "dashboard", name, old.title)]
            item = dashboard_item_apis(self.source, org, data)
            return [item, *self._permissions(org, "dashboard", name, item.title)]

        return lambda: self._failing("dashboard", org, name, run)


def same_version(entry: Entry, res: dict[str, Any]) -> bool:
    """Whether a resource is the version an entry read through /apis recorded (its resourceVersion)."""
    md = res.get("metadata") or {}
    rv = md.get("resourceVersion")
    return (
        entry.meta.get("api") == "apis"
        and isinstance(rv, str)
        and rv != ""
        and entry.meta.get("resourceVersion") == rv
        and entry.meta.get("generation") == md.get("generation")
    )


def _missing(known: set[tuple[str, str]], kind: str, prefix: str, listed: list[str]) -> list[str]:
    """Uids the previous snapshot had that this listing did not return: checked before calling them gone."""
    have = set(listed)
    return sorted(
        key[len(prefix) :]
        for k, key in known
        if k == kind and key.startswith(prefix) and key[len(prefix) :] not in have
    )
