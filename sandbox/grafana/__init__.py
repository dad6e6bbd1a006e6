"""A stand-in for Grafana 11/12 on loopback: the legacy ``/api`` and the ``/apis`` dashboard API.

State lives in memory, guarded by one re-entrant lock; both APIs act on the same dashboards. Tests
set the state up through the Python API (``add_folder``, ``add_dashboard`` ...) and steer faults
through plain attributes (``latency``, ``rate_429``, ``fail_listing_after``, ``expire_next_continue``,
``fail_dashboard_get``, ``hidden_from_listing``, ``refuse_dashboard_writes`` ...).

The package, by concern: ``state`` (the in-memory model), ``core`` (the state every part shares and
the changes to it), ``access`` (auth, org selection, ACLs, users and teams), ``legacy_views`` and
``legacy`` (the legacy ``/api``), ``apis`` (the ``/apis`` resources), ``python_api`` (what tests
call). ``GrafanaSandbox`` combines their mixins and registers the routes.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any

from sandbox.grafana.apis import ApisApi
from sandbox.grafana.legacy import LegacyApi
from sandbox.grafana.public import PublicApi
from sandbox.grafana.resources import DASHBOARD_API, FOLDER_API, namespace_of
from sandbox.grafana.state import _now, _Org, _User, slugify

__all__ = ["DASHBOARD_API", "FOLDER_API", "GrafanaSandbox", "namespace_of", "slugify"]

_SEG = "[^/]+"
_NS = rf"/namespaces/(?P<ns>{_SEG})"


# -- the sandbox --------------------------------------------------------------------------------


class GrafanaSandbox(LegacyApi, ApisApi, PublicApi):
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
        stack_id: int | None = None,
        max_folder_depth: int = 4,
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
        #: Grafana Cloud: every org's /apis namespace is the stack's, ``stacks-<id>``.
        self.stack_id = stack_id
        #: ``[folder] max_nested_folder_depth`` (pkg/setting: default 4, at most 7).
        self.max_folder_depth = max(1, min(max_folder_depth, 7))
        self.continue_ttl = continue_ttl
        self.expire_next_continue = expire_next_continue
        self.fail_listing_after = fail_listing_after
        self.truncate_listing_after = truncate_listing_after
        self.grafana_version = grafana_version
        #: uid -> changes applied just before the next write to that dashboard arrives, as if
        #: someone saved it between a client's read and its write (optimistic-concurrency tests);
        #: a list of changes: one such save before each of the next writes.
        self.edit_before_write: dict[str, dict[str, Any] | list[dict[str, Any]]] = {}
        #: folder uid -> title of a folder someone else creates (at the root) just before the next
        #: create of that uid arrives: the create then meets Grafana's 409 for an existing uid.
        self.folder_created_before_write: dict[str, str] = {}
        #: Dashboard uids whose ``GET /api/dashboards/uid/<uid>`` answers 500 (the uid's permissions
        #: and versions still answer): a dashboard that is listed but cannot be read. Empty: none.
        self.fail_dashboard_get: set[str] = set()
        #: Dashboard (and library panel) uids left out of ``/api/search``, the ``/apis`` dashboard
        #: list and the library panel list, while every
        #: read by uid still finds them: Grafana's search index lagging behind its database (tests of
        #: the re-check before a dashboard is called deleted). Empty: every dashboard is listed.
        self.hidden_from_listing: set[str] = set()
        #: Fault knob, off when empty: uids of dashboards whose writes (legacy ``POST
        #: /api/dashboards/db``, ``/apis`` create and update) are refused with 403, as Grafana refuses a
        #: token without edit rights on them; everything else about the request is left alone.
        self.refuse_dashboard_writes: set[str] = set()
        #: The unifiedStorageBigObjectsSupport threshold, off when None: a dashboard whose JSON is
        #: longer is served with a reduced spec on list and get, whole through ``/dto`` only.
        self.large_object_bytes: int | None = None
        #: The dashboard API versions served, when fewer than the release's own (None: all of them;
        #: e.g. a later release that no longer serves v0alpha1).
        self.dashboard_versions: tuple[str, ...] | None = None
        #: ``[public_dashboards] enabled`` (default true): off, every public dashboard route is a 404.
        self.public_dashboards_enabled = True
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
        self._tokens: dict[str, int] = {}
        if token is not None:
            # The token tests use: an org-admin service account of org 1, as the README recommends.
            self.add_service_account("sandbox", "Admin", org=1, token=token)
        self._register_routes()

    # -- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self.route
        uid = rf"(?P<uid>{_SEG})"
        r("GET", r"/api/health", self._health)
        r("GET", r"/api/org", self._current_org)
        r("GET", r"/api/orgs", self._list_orgs)
        r("GET", r"/api/user", self._current_user)
        r("GET", r"/api/frontend/settings", self._frontend_settings)
        r("GET", r"/api/access-control/user/permissions", self._user_permissions)
        r("GET", r"/api/search", self._search)
        r("POST", r"/api/dashboards/db", self._post_dashboard)
        r("GET", rf"/api/dashboards/uid/{uid}", self._get_dashboard)
        r("DELETE", rf"/api/dashboards/uid/{uid}", self._delete_dashboard)
        r("GET", rf"/api/dashboards/uid/{uid}/versions", self._dashboard_versions)
        r("GET", rf"/api/dashboards/uid/{uid}/versions/(?P<version>[0-9]+)", self._dashboard_version)
        r("GET", r"/api/dashboards/public-dashboards", self._list_public_dashboards)
        public = rf"/api/dashboards/uid/{uid}/public-dashboards"
        r("GET", public, self._get_public_dashboard)
        r("POST", public, self._create_public_dashboard)
        r("PATCH", rf"{public}/(?P<public>{_SEG})", self._patch_public_dashboard)
        r("DELETE", rf"{public}/(?P<public>{_SEG})", self._delete_public_dashboard)
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
        r("GET", r"/api/org/users/lookup", self._org_users_lookup)
        r("GET", r"/api/serviceaccounts/search", self._search_service_accounts)
        r("GET", r"/api/teams/search", self._search_teams)
        r("GET", rf"/api/teams/(?P<id>{_SEG})", self._get_team)
        lib = r"/api/library-elements"
        r("GET", lib, self._list_library_elements)
        r("POST", lib, self._create_library_element)
        r("GET", rf"{lib}/{uid}", self._get_library_element)
        r("PATCH", rf"{lib}/{uid}", self._patch_library_element)
        r("DELETE", rf"{lib}/{uid}", self._delete_library_element)
        r("GET", rf"{lib}/{uid}/connections/?", self._library_connections)
        r("GET", r"/apis", self._api_groups)
        r("GET", r"/apis/(?P<group>dashboard\.grafana\.app|folder\.grafana\.app)", self._api_group)
        dash_base = rf"/apis/dashboard\.grafana\.app/(?P<version>v[0-9a-z]+){_NS}/dashboards"
        r("GET", dash_base, self._apis_list_dashboards)
        r("POST", dash_base, self._apis_create_dashboard)
        r("GET", rf"{dash_base}/(?P<name>{_SEG})", self._apis_get_dashboard)
        r("GET", rf"{dash_base}/(?P<name>{_SEG})/dto", self._apis_dashboard_dto)
        r("PUT", rf"{dash_base}/(?P<name>{_SEG})", self._apis_update_dashboard)
        r("DELETE", rf"{dash_base}/(?P<name>{_SEG})", self._apis_delete_dashboard)
        folder_base = rf"/apis/{re.escape(FOLDER_API)}{_NS}/folders"
        r("GET", folder_base, self._apis_list_folders)
        r("GET", rf"{folder_base}/(?P<name>{_SEG})", self._apis_get_folder)
