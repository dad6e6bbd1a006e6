"""The Arduino sandbox server: its constructor (settings, state) and route table over the mixins."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

from sandbox.arduino.api import _PythonAPI
from sandbox.arduino.oauth import _TokenEndpoint
from sandbox.arduino.protocol import _SEG, DASHBOARDS, TOKEN_PATH
from sandbox.arduino.routes import _DashboardRoutes
from sandbox.arduino.state import _Space

# -- the sandbox --------------------------------------------------------------------------------


class ArduinoSandbox(_TokenEndpoint, _DashboardRoutes, _PythonAPI):
    """Arduino IoT Cloud stand-in: the token endpoint, every dashboards v2 endpoint, spaces, shares."""

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
        self.lock = threading.RLock()
        self._id_rng = random.Random(seed)
        self._value_rng = random.Random(seed)
        self._tokens: dict[str, float] = {}
        self._users: dict[str, str] = {}
        self.owner_id = self.add_user(owner)
        self._spaces: dict[str, _Space] = {"": _Space("")}
        for org in organizations:
            self.add_organization(org)
        self._register_routes()

    # -- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self.route
        one = rf"{DASHBOARDS}/(?P<id>{_SEG})"
        r("POST", TOKEN_PATH, self._issue_token)
        r("GET", DASHBOARDS, self._list)
        r("POST", DASHBOARDS, self._create)
        r("GET", one, self._show)
        r("PUT", one, self._update)
        r("PATCH", one, self._patch)
        r("DELETE", one, self._delete)
        r("PUT", rf"{one}/clone", self._clone)
        r("PUT", rf"{one}/share_request", self._share_request)
        r("GET", rf"{one}/shares", self._list_shares)
        r("PUT", rf"{one}/shares", self._share)
        r("DELETE", rf"{one}/shares/(?P<user>{_SEG})", self._unshare)
        r("GET", rf"{one}/template", self._template)
        r("PUT", rf"{one}/widgets/(?P<widget>{_SEG})/variables", self._link)
