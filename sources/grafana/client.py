"""GrafanaClient: typed calls to one Grafana, over the legacy /api and the /apis dashboard API."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from sources.config import GrafanaSourceConfig
from sources.errors import ResponseError, SourceError
from sources.grafana import answers
from sources.http import ApiResponse, BasicAuth, BearerAuth, make_client, request

log = logging.getLogger("dashvault.grafana")

DASHBOARD_GROUP = "dashboard.grafana.app"
DASHBOARD_VERSION = "v1beta1"
# A dashboard saved through the legacy /api, or v0alpha1, read back as saved: v0alpha1 serves the
# stored spec (apps/dashboard/pkg/migration/conversion ``Convert_V1beta1_to_V0`` copies it), where
# v1beta1 runs the schema migration first (``Convert_V0_to_V1``), so its spec is not what was saved.
AS_SAVED_VERSION = "v0alpha1"
# Versions a v2-schema dashboard is read and written through, the most settled first.
V2_VERSIONS = ("v2", "v2beta1", "v2alpha1")
# How often an /apis listing may restart after its continue token expired (410) before giving up.
MAX_LIST_RESTARTS = 5
# /apis list pages carry whole dashboards: pages are sized to about this many bytes (at most
# `page_size` items), so a page of large dashboards does not hold hundreds of megabytes at once. A
# page parses to ten times its size in objects: at 10,000 dashboards, 4 MB pages peaked at 280 MB RSS,
# 1 MB pages at 145 MB, for 10% more wall time (more pages, each a round trip).
LIST_PAGE_BYTES = 1024 * 1024
# Items asked for in the first /apis page, before the size of a dashboard is known.
FIRST_PAGE_ITEMS = 50


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
        self._namespaces: dict[int, str] = {}
        self._versions: tuple[str, ...] | None = None
        self._namespace_lock = threading.Lock()
        self.http = make_client(
            base_url=config.url,
            auth=auth,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            retries=config.retries,
            verify=config.verify_tls,
            # The connections are the cap on requests in flight, the listing's pages among them:
            # `concurrency` is what the server sees at once (tests/backup/test_backup_concurrency.py).
            max_connections=config.concurrency,
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

    def served_versions(self) -> tuple[str, ...]:
        """The dashboard.grafana.app versions the server serves (``GET /apis``'s group list), cached."""
        with self._namespace_lock:
            if self._versions is None:
                status, data = self.call("GET", "/apis", ok=(200, 404))
                found: tuple[str, ...] = ()
                groups = data.get("groups") if status == 200 and isinstance(data, dict) else None
                for group in groups if isinstance(groups, list) else []:
                    if isinstance(group, dict) and group.get("name") == DASHBOARD_GROUP:
                        found = tuple(
                            str(v["version"])
                            for v in group.get("versions") or []
                            if isinstance(v, dict) and isinstance(v.get("version"), str)
                        )
                self._versions = found
            return self._versions

    def has_apis(self) -> bool:
        """Whether the server serves dashboards through /apis in a version dashvault reads."""
        return bool({AS_SAVED_VERSION, DASHBOARD_VERSION} & set(self.served_versions()))

    def read_version(self) -> str:
        """The version v0/v1-schema dashboards are read and written through: as saved when served."""
        return AS_SAVED_VERSION if AS_SAVED_VERSION in self.served_versions() else DASHBOARD_VERSION

    def v2_version(self, stored: str) -> str | None:
        """The version to read a v2-schema dashboard stored as ``stored`` through; None if none is served."""
        served = self.served_versions()
        if stored in served:
            return stored
        return next((v for v in V2_VERSIONS if v in served), None)

    def resolve_api(self) -> str:
        """The API to use: the configured one, or with ``api = "auto"`` /apis when the server serves it."""
        if self.config.api == "auto":
            return "apis" if self.has_apis() else "legacy"
        return self.config.api

    def namespace(self, org: int) -> str:
        """The /apis namespace of an org, learnt the way Grafana's own frontend learns it.

        pkg/api/frontendsettings.go sets ``namespace`` in ``/api/frontend/settings`` from
        ``hs.namespacer(c.OrgID)`` (pkg/services/apiserver/endpoints/request/namespace.go
        ``GetNamespaceMapper``): ``default`` / ``org-N`` on-prem, the stack's (``stacks-N``, older
        ``stack-N``) on Grafana Cloud. A configured ``namespace`` wins; a server that does not say
        (10.x) gets the on-prem form.
        """
        if self.config.namespace:
            return self.config.namespace
        with self._namespace_lock:
            if org not in self._namespaces:
                status, data = self.call(
                    "GET", "/api/frontend/settings", headers=self._org(org), ok=(200, 404)
                )
                said = data.get("namespace") if status == 200 and isinstance(data, dict) else None
                self._namespaces[org] = said if isinstance(said, str) and said else namespace(org)
            return self._namespaces[org]

    def user_permissions(self, org: int) -> dict[str, list[str]] | None:
        """The caller's RBAC actions and their scopes (``/api/access-control/user/permissions``)."""
        status, data = self.call(
            "GET", "/api/access-control/user/permissions", headers=self._org(org), ok=(200, 404)
        )
        if status != 200 or not isinstance(data, dict):
            return None
        return {str(k): [str(s) for s in v] for k, v in data.items() if isinstance(v, list)}

    def org_ids(self) -> list[int]:
        if self.config.orgs != "all":
            return list(self.config.orgs)
        data = self.get("/api/orgs")
        return sorted(int(o["id"]) for o in json_list(data, "/api/orgs") if isinstance(o, dict) and "id" in o)

    # -- legacy reads -------------------------------------------------------------------------

    def search_pages(self, org: int, kind: str) -> Iterator[list[dict[str, Any]]]:
        """`/api/search?type=...` page by page until a short page."""
        limit = self.config.page_size
        page = 1
        while True:
            data = self.get(
                "/api/search", params={"type": kind, "limit": limit, "page": page}, headers=self._org(org)
            )
            hits = [h for h in json_list(data, "/api/search") if isinstance(h, dict) and h.get("uid")]
            yield hits
            if len(json_list(data, "/api/search")) < limit:
                return
            page += 1

    def search_uids(self, org: int, kind: str) -> Iterator[str]:
        """Every uid `/api/search` lists, once each, with the ties offset paging can skip filled in.

        Grafana orders hits by title alone (pkg/services/sqlstore/searchstore/builder.go: ORDER BY
        title, no tie-breaker; pkg/services/search/service.go ``sortedHits`` uses the unstable
        sort.Sort) and pages by offset, and titles need not be unique. Hits sharing the title that
        ends a full page may fall on either side of the page boundary in the next query, so one can
        be skipped: each such title is asked for by itself once the pages are read.
        """
        seen: set[str] = set()
        edges: list[str] = []
        for hits in self.search_pages(org, kind):
            for h in hits:
                uid = str(h["uid"])
                if uid not in seen:
                    seen.add(uid)
                    yield uid
            if len(hits) >= self.config.page_size and isinstance(hits[-1].get("title"), str):
                edges.append(str(hits[-1]["title"]))
        for title in dict.fromkeys(edges):
            params = {"type": kind, "query": title, "limit": 5000}
            data = self.get("/api/search", params=params, headers=self._org(org))
            for h in json_list(data, "/api/search"):
                if isinstance(h, dict) and h.get("uid") and h.get("title") == title:
                    uid = str(h["uid"])
                    if uid not in seen:
                        seen.add(uid)
                        yield uid

    def folder(self, org: int, uid: str) -> dict[str, Any] | None:
        """The folder; None only on Grafana's own not-found (answers.py)."""
        status, data = self.call("GET", f"/api/folders/{seg(uid)}", headers=self._org(org), ok=(200, 404))
        if status == 404:
            if answers.is_not_found(data):
                return None
            raise answers.not_grafanas_404(f"{self.name}: folder {uid}", data)
        return answers.folder(data, uid)

    def dashboard(self, org: int, uid: str) -> dict[str, Any] | None:
        """The legacy read of a dashboard; a v2-schema one (406) raises `NotLegacyError`."""
        res = self.dashboard_response(org, uid)
        if res is not None and res.status == 406:
            raise NotLegacyError(stored_v2_version(res.body))
        return answers.dashboard(res.body, uid) if res is not None else None

    def dashboard_response(self, org: int, uid: str, unless_digest: str | None = None) -> ApiResponse | None:
        """The dashboard's response (None only on Grafana's own not-found); see `request` for
        `unless_digest`.

        A dashboard stored in the v2 schema is answered 406 (pkg/api/dashboard.go ``GetDashboard``:
        "dashboard api version not supported, use /apis/.../<version>/... instead"): that response
        comes back too, for the caller to read it through /apis.
        """
        res = request(
            self.http,
            "GET",
            f"/api/dashboards/uid/{seg(uid)}",
            source=self.name,
            headers=self._org(org),
            expect=(200, 404, 406),
            unless_digest=unless_digest,
        )
        if res.status == 404:
            if answers.is_not_found(res.body):
                return None
            raise answers.not_grafanas_404(f"{self.name}: dashboard {uid}", res.body)
        return res

    def permissions(self, org: int, kind: str, uid: str) -> list[dict[str, Any]] | None:
        base = "/api/folders" if kind == "folder" else "/api/dashboards/uid"
        status, data = self.call(
            "GET", f"{base}/{seg(uid)}/permissions", headers=self._org(org), ok=(200, 404)
        )
        if status == 404:
            if answers.is_not_found(data):
                return None
            raise answers.not_grafanas_404(f"{self.name}: permissions of {kind} {uid}", data)
        return answers.permissions(data, kind, uid)

    # -- /apis reads --------------------------------------------------------------------------

    def _apis_path(self, org: int, name: str | None = None, version: str | None = None) -> str:
        version = version or self.read_version()
        path = f"/apis/{DASHBOARD_GROUP}/{version}/namespaces/{self.namespace(org)}/dashboards"
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
            body = json_object(res.body, "dashboard list")
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

    def resource(self, org: int, name: str, version: str | None = None) -> dict[str, Any] | None:
        """The dashboard resource; None only on the apiserver's own NotFound (answers.py)."""
        status, data = self.call("GET", self._apis_path(org, name, version), ok=(200, 404))
        return self._resource_answer(status, data, name)

    def _resource_answer(self, status: int, data: Any, name: str) -> dict[str, Any] | None:
        if status == 404:
            if answers.is_k8s_not_found(data):
                return None
            raise answers.not_grafanas_404(f"{self.name}: dashboard {name}", data)
        return answers.resource(data, name)

    def resource_whole(self, org: int, name: str, version: str) -> dict[str, Any] | None:
        """The resource through ``/dto``, which rebuilds a large dashboard's reduced spec
        (pkg/registry/apis/dashboard/large.go; only ``/dto`` and updates call ``Reconstruct``)."""
        status, data = self.call("GET", self._apis_path(org, name, version) + "/dto", ok=(200, 404))
        return self._resource_answer(status, data, name)

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
        # MoveFolderCommand.parentUid is a string: "" is the root (Grafana reads null the same way).
        body = {"parentUid": parent_uid}
        return self.call("POST", f"/api/folders/{seg(uid)}/move", json=body, headers=self._org(org))

    def save_dashboard(
        self, org: int, model: dict[str, Any], folder_uid: str, *, message: str, overwrite: bool
    ) -> tuple[int, Any]:
        """`POST /api/dashboards/db`; a stale version comes back to the caller: 412 (version-mismatch,
        name-exists before 11.3) or, on releases that save through /apis (pkg/api/dashboard.go
        ``saveDashboardViaK8s``), 409 "Dashboard already exists. Use overwrite flag to update."."""
        body = {"dashboard": model, "folderUid": folder_uid, "message": message, "overwrite": overwrite}
        # 500 too: "Error while connecting library panels" comes after the dashboard was saved.
        return self.call(
            "POST", "/api/dashboards/db", json=body, headers=self._org(org), ok=(200, 409, 412, 500)
        )

    def create_resource(
        self,
        org: int,
        name: str,
        spec: dict[str, Any],
        folder_uid: str,
        *,
        message: str,
        version: str | None = None,
    ) -> tuple[int, Any]:
        body = {
            "apiVersion": f"{DASHBOARD_GROUP}/{version or self.read_version()}",
            "kind": "Dashboard",
            "metadata": {"name": name, "annotations": _annotations(folder_uid, message)},
            "spec": spec,
            "status": {},
        }
        return self.call("POST", self._apis_path(org, None, version), json=body, ok=(200, 201, 409))

    def update_resource(
        self,
        org: int,
        name: str,
        spec: dict[str, Any],
        folder_uid: str,
        *,
        message: str,
        resource_version: str,
        version: str | None = None,
    ) -> tuple[int, Any]:
        """`PUT` with the live resourceVersion, so a concurrent edit answers 409 instead of being lost."""
        metadata = {
            "name": name,
            "resourceVersion": resource_version,
            "annotations": _annotations(folder_uid, message),
        }
        body = {
            "apiVersion": f"{DASHBOARD_GROUP}/{version or self.read_version()}",
            "kind": "Dashboard",
            "metadata": metadata,
            "spec": spec,
            "status": {},
        }
        return self.call("PUT", self._apis_path(org, name, version), json=body, ok=(200, 409))

    def set_permissions(self, org: int, kind: str, uid: str, items: list[dict[str, Any]]) -> None:
        base = "/api/folders" if kind == "folder" else "/api/dashboards/uid"
        self.call("POST", f"{base}/{seg(uid)}/permissions", json={"items": items}, headers=self._org(org))

    def user_id(self, org: int, login: str) -> int | None:
        """The id of the org's user or service account with this login; None when there is none.

        Only org-scoped lookups an org-admin token may make: ``/api/org/users/lookup`` (pkg/api/api.go:
        org.users:read, or permissions:write on anything) and ``/api/serviceaccounts/search``
        (serviceaccounts:read), since service accounts are not org users (orgimpl/store.go filters
        ``is_service_account``). Never ``/api/users/lookup``: users:read on global.users:* is the
        server admin's alone, and a service-account token never is one.
        """
        data = self.get(
            "/api/org/users/lookup", params={"query": login, "limit": 1000}, headers=self._org(org)
        )
        for u in json_list(data, "/api/org/users/lookup"):
            if isinstance(u, dict) and u.get("login") == login and isinstance(u.get("userId"), int):
                return int(u["userId"])
        data = self.get(
            "/api/serviceaccounts/search", params={"query": login, "perpage": 1000}, headers=self._org(org)
        )
        accounts = data.get("serviceAccounts") if isinstance(data, dict) else None
        for sa in accounts if isinstance(accounts, list) else []:
            if isinstance(sa, dict) and sa.get("login") == login and isinstance(sa.get("id"), int):
                return int(sa["id"])
        return None

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
        hits = json_list(self.get("/api/search", params=params, headers=self._org(org)), "/api/search")
        for h in hits:
            if isinstance(h, dict) and h.get("title") == title and (h.get("folderUid") or "") == folder_uid:
                return str(h["uid"])
        return None


class NotLegacyError(SourceError):
    """The legacy API refused a dashboard stored in the v2 schema (406); `version` is the one named."""

    def __init__(self, version: str) -> None:
        super().__init__(f"the dashboard is stored as {version}: the legacy API cannot read it")
        self.version = version


def stored_v2_version(body: Any) -> str:
    """The version a legacy 406 names in its "use /apis/dashboard.grafana.app/<version>/..." hint."""
    message = body.get("message") if isinstance(body, dict) else None
    found = re.search(
        r"/apis/dashboard\.grafana\.app/(v2[0-9a-z]*)/", message if isinstance(message, str) else ""
    )
    return found.group(1) if found else "v2beta1"


def _annotations(folder_uid: str, message: str) -> dict[str, str]:
    out = {"grafana.app/message": message}
    if folder_uid:
        out["grafana.app/folder"] = folder_uid
    return out


def json_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ResponseError(f"{what} did not return a JSON list")
    return data


def json_object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ResponseError(f"{what} did not return a JSON object")
    return data
