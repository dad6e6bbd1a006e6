"""The Arduino sandbox server: its constructor (settings, state) and route table over the mixins."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable

from sandbox.arduino.api import _PythonAPI
from sandbox.arduino.oauth import _TokenEndpoint
from sandbox.arduino.protocol import _SEG, DASHBOARDS, DASHBOARDS_V3, TOKEN_PATH
from sandbox.arduino.routes import _DashboardRoutes
from sandbox.arduino.state import _Space
from sandbox.server import Handler, Request, Response

# -- the sandbox --------------------------------------------------------------------------------


class ArduinoSandbox(_TokenEndpoint, _DashboardRoutes, _PythonAPI):
    """Arduino IoT Cloud stand-in: the token endpoint, every dashboards v2 and v3 endpoint, spaces, shares."""

    logged_headers = ("X-Organization", "Content-Type", "Accept", "User-Agent")

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",  # noqa: S107 - a fixed test credential
        token_lifetime: float = 300.0,
        organizations: Iterable[str] = (),
        owner: str = "sandbox-owner",
        latency: float = 0.0,
        rate_429: float = 0.0,
        retry_after: int = 1,
        rate_503: float = 0.0,
        seed: int | None = 0,
        log_bodies: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        serves_v3: bool = True,
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
        self.client_id = client_id
        self.client_secret = client_secret
        #: Seconds an access token stays valid (the cloud gives 300).
        self.token_lifetime = token_lifetime
        #: When true every API call is answered 401, whatever the token (the token endpoint still works).
        self.reject_tokens = False
        #: Dashboard ids left out of ``GET /iot/v2/dashboards`` while reads by id still find them: a
        #: listing that lags behind the cloud's store (tests of the re-check before a deletion).
        self.hidden_from_listing: set[str] = set()
        #: Whether ``/iot/v3/dashboards`` (pages, 2026-04) is served; off, it answers 404 as before then.
        self.serves_v3 = serves_v3
        #: Calls whose token was issued for another space than their ``X-Organization`` names.
        self.org_mismatches = 0
        #: The space ("" for the personal one) each issued token was asked for, in order.
        self.token_spaces: list[str] = []
        #: When true such calls are answered 429, as the personal rate limit they were given would.
        self.strict_org_tokens = False
        self.lock = threading.RLock()
        self._id_rng = random.Random(seed)
        self._value_rng = random.Random(seed)
        self._tokens: dict[str, tuple[float, str]] = {}
        self._users: dict[str, str] = {}
        self.owner_id = self.add_user(owner)
        self._spaces: dict[str, _Space] = {"": _Space("")}
        for org in organizations:
            self.add_organization(org)
        self._register_routes()

    # -- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self.route
        r("POST", TOKEN_PATH, self._issue_token)
        for version, base in ((2, DASHBOARDS), (3, DASHBOARDS_V3)):
            one = rf"{base}/(?P<id>{_SEG})"
            r("GET", base, self._versioned(self._list, version))
            r("POST", base, self._versioned(self._create, version))
            r("GET", one, self._versioned(self._show, version))
            r("PUT", one, self._versioned(self._update, version))
            r("PATCH", one, self._versioned(self._patch, version))
            r("PUT", rf"{one}/clone", self._versioned(self._clone, version))
            r("GET", rf"{one}/template", self._versioned(self._template, version))
        one = rf"{DASHBOARDS}/(?P<id>{_SEG})"
        r("DELETE", one, self._delete)
        r("PUT", rf"{one}/share_request", self._share_request)
        r("GET", rf"{one}/shares", self._list_shares)
        r("PUT", rf"{one}/shares", self._share)
        r("DELETE", rf"{one}/shares/(?P<user>{_SEG})", self._unshare)
        r("PUT", rf"{one}/widgets/(?P<widget>{_SEG})/variables", self._link)

    def _versioned(self, handler: Callable[[Request, int], Response], version: int) -> Handler:
        def handle(req: Request) -> Response:
            if version >= 3 and not self.serves_v3:
                req.route = None  # logged as no route: the endpoint does not exist on this server
                return self.not_found(req)
            return handler(req, version)

        return handle
