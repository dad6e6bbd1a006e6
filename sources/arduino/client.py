"""ArduinoClient: typed calls to the IoT dashboards API (v3, v2) with OAuth2 client credentials, rate limit
and token renewal."""

import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from sources.arduino.models import (
    Dashboard,
    DashboardInput,
    DashboardTemplate,
    Share,
    ThingOverride,
    TokenResponse,
)
from sources.config import ArduinoSourceConfig
from sources.errors import AuthError, ResponseError
from sources.http import BearerAuth, make_client, request

log = logging.getLogger("dashvault.arduino")

TOKEN_PATH = "/iot/v1/clients/token"  # noqa: S105 - an endpoint, not a credential
AUDIENCE = "https://api2.arduino.cc/iot"
DASHBOARDS = "/iot/v2/dashboards"
# Dashboards with pages (2026-04); list, show, create, update, patch only: delete, shares and widget links
# stay on v2 for every dashboard (arduino-cloud-cli internal/iot/client.go calls DashboardsV3Api for
# list/show/create and DashboardsV2Api for delete).
DASHBOARDS_V3 = "/iot/v3/dashboards"
# A name filter no dashboard has: the v3 probe lists nothing ("It support like matching").
_PROBE_NAME = "dashvault-probe-7f3a9c"
# A token is renewed this share of its lifetime before it expires (at most RENEW_MARGIN_MAX seconds).
RENEW_FRACTION = 0.2
RENEW_MARGIN_MAX = 60.0
CREDENTIALS_HINT = "check client_id and client_secret"

M = TypeVar("M", bound=BaseModel)


def seg(value: str) -> str:
    """Percent-encode an id as one URL path segment (ids come from stored keys, not only from the cloud)."""
    return quote(value, safe="").replace(".", "%2E")


# -- rate limit and token -----------------------------------------------------------------------


class RateLimiter:
    """Spaces calls at least `1 / rate` seconds apart, across every thread that shares it."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller's slot has come."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class _TokenSource:
    """The cached access token: fetched on first use, renewed before it expires and on demand."""

    def __init__(self, config: ArduinoSourceConfig, limiter: RateLimiter, clock: Callable[[], float]) -> None:
        self.config = config
        self.limiter = limiter
        self.clock = clock
        self.fetched = 0
        self._token: SecretStr | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self.http = make_client(
            base_url=config.base_url,
            auth=None,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            retries=config.retries,
            verify=config.verify_tls,
            max_connections=2,
        )

    def current(self) -> SecretStr:
        """A token that is not about to expire."""
        with self._lock:
            if self._token is None or self.clock() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def renew(self, refused: SecretStr) -> SecretStr:
        """A new token after `refused` got a 401 (unless another thread renewed it meanwhile)."""
        with self._lock:
            if self._token is None or self._token.get_secret_value() == refused.get_secret_value():
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        source = self.config.name
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id.get_secret_value(),
            "client_secret": self.config.client_secret.get_secret_value(),
            "audience": AUDIENCE,
        }
        if self.config.organization:
            # arduino-cloud-cli internal/iot/token.go (arduino-cloud-cli#164): the space the token is for.
            # Without it the token gets the personal rate limit and an org space meets 429s
            # (node-red-contrib-arduino-iot-cloud#58).
            form["organization_id"] = self.config.organization
        started = self.clock()
        self.limiter.wait()
        try:
            res = request(self.http, "POST", TOKEN_PATH, source=source, data=form)
        except AuthError as exc:
            raise AuthError(exc.message.replace("check the credentials", CREDENTIALS_HINT)) from None
        except ResponseError as exc:
            # OAuth2 servers answer 400 invalid_client as often as 401: both mean the credentials.
            if exc.status == 400:
                raise AuthError(f"{exc.message}: {CREDENTIALS_HINT}") from None
            raise
        token = _parse(TokenResponse, res.body, f"{source}: {TOKEN_PATH}")
        if not token.access_token.get_secret_value():
            raise ResponseError(f"{source}: {TOKEN_PATH} returned an empty access_token")
        lifetime = max(token.expires_in, 0.0)
        self._token = token.access_token
        self._renew_at = started + lifetime - min(lifetime * RENEW_FRACTION, RENEW_MARGIN_MAX)
        self.fetched += 1
        log.debug("access token renewed", extra={"source": source, "expires_in": lifetime})

    def close(self) -> None:
        self.http.close()


class _CloudAuth(BearerAuth):
    """Bearer auth with the cached token, the rate limit, and one renewal on a 401."""

    def __init__(self, tokens: _TokenSource, limiter: RateLimiter) -> None:
        super().__init__(SecretStr(""))
        self.tokens = tokens
        self.limiter = limiter

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the current token; on a 401 renew it once and send again."""
        token = self.tokens.current()
        # Kept on the instance too, so error messages scrub it like any bearer token.
        self.token = token
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self.limiter.wait()
        response = yield request
        if response.status_code != 401:
            return
        log.info("access token refused, renewing it", extra={"source": self.tokens.config.name})
        token = self.tokens.renew(token)
        self.token = token
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self.limiter.wait()
        yield request

    def __repr__(self) -> str:
        return "ArduinoAuth(token=SecretStr('**********'))"


def _parse(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ResponseError(f"{what} returned an unexpected body ({where}: {first['msg']})") from None


# -- client -------------------------------------------------------------------------------------


class ArduinoClient:
    """Typed calls to the Arduino IoT Cloud dashboards API of one account or shared space."""

    def __init__(self, config: ArduinoSourceConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.name = config.name
        self.limiter = RateLimiter(config.rate_limit, clock=clock)
        self.tokens = _TokenSource(config, self.limiter, clock)
        headers = {"X-Organization": config.organization} if config.organization else {}
        self.http = make_client(
            base_url=config.base_url,
            auth=_CloudAuth(self.tokens, self.limiter),
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            retries=config.retries,
            verify=config.verify_tls,
            headers=headers,
            # The connections are the cap on requests in flight, the listing's pages among them:
            # `concurrency` is what the server sees at once (tests/backup/test_backup_concurrency.py).
            max_connections=config.concurrency,
        )
        self._api: str | None = None
        self._api_lock = threading.Lock()

    @property
    def api(self) -> str:
        """`v3` when the cloud serves dashboards with pages (asked once), else `v2`."""
        with self._api_lock:
            if self._api is None:
                status, data = self.call("GET", DASHBOARDS_V3, params={"name": _PROBE_NAME}, ok=(200, 404))
                if status == 200 and not isinstance(data, list):
                    raise ResponseError(f"{self._what('GET', DASHBOARDS_V3)} did not return a JSON list")
                self._api = "v3" if status == 200 else "v2"
                log.debug("dashboards API", extra={"source": self.name, "api": self._api})
            return self._api

    def _base(self) -> str:
        return DASHBOARDS_V3 if self.api == "v3" else DASHBOARDS

    def close(self) -> None:
        """Close both HTTP clients."""
        self.http.close()
        self.tokens.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """One request; a status outside `ok` raises the matching `SourceError`."""
        res = request(self.http, method, path, source=self.name, params=params, json=json, expect=ok)
        return res.status, res.body

    def _what(self, method: str, path: str) -> str:
        return f"{self.name}: {method} {path}"

    def _dashboard(self, data: Any, method: str, path: str) -> Dashboard:
        return _parse(Dashboard, data, self._what(method, path))

    # -- dashboards ---------------------------------------------------------------------------

    def list_dashboards(self, *, name: str | None = None, user_id: str | None = None) -> list[Dashboard]:
        """`GET /iot/v3/dashboards` (v2 where v3 is not served), optionally filtered by name or user."""
        params = {k: v for k, v in (("name", name), ("user_id", user_id)) if v is not None}
        path = self._base()
        _, data = self.call("GET", path, params=params or None)
        if not isinstance(data, list):
            raise ResponseError(f"{self._what('GET', path)} did not return a JSON list")
        return [self._dashboard(d, "GET", path) for d in data]

    def show_dashboard(self, dashboard_id: str) -> Dashboard | None:
        """`GET /iot/v3/dashboards/{id}` (or v2); None if there is no such dashboard."""
        path = f"{self._base()}/{seg(dashboard_id)}"
        status, data = self.call("GET", path, ok=(200, 404))
        if status == 404:
            self._check_gone(data, "GET", path)
            return None
        dashboard = self._dashboard(data, "GET", path)
        if dashboard.id != dashboard_id:
            raise ResponseError(
                f"{self._what('GET', path)} answered with dashboard {dashboard.id!r}: another object's body"
            )
        return dashboard

    def _check_gone(self, data: Any, method: str, path: str) -> None:
        """Accept only the cloud's own 404 (its goa error body: ``code``, ``detail``, ``status``; the
        document's ``error`` schema); any other 404 (a proxy's page) says nothing of the object."""
        if isinstance(data, dict) and any(isinstance(data.get(k), str) for k in ("code", "detail", "id")):
            return
        raise ResponseError(
            f"{self._what(method, path)} answered 404 without the cloud's error body: a proxy or another "
            "server answered, so nothing is taken as deleted",
            status=404,
        )

    def create_dashboard(self, dashboard: DashboardInput) -> Dashboard:
        """`POST /iot/v3/dashboards` (or v2): the cloud assigns its id, the client its widgets' ids."""
        path = self._base()
        _, data = self.call("POST", path, json=self._body(dashboard), ok=(200, 201))
        return self._dashboard(data, "POST", path)

    def update_dashboard(self, dashboard_id: str, dashboard: DashboardInput) -> Dashboard:
        """`PUT /iot/v3/dashboards/{id}` (or v2): replace name, widgets (and pages)."""
        path = f"{self._base()}/{seg(dashboard_id)}"
        _, data = self.call("PUT", path, json=self._body(dashboard))
        return self._dashboard(data, "PUT", path)

    def patch_dashboard(self, dashboard_id: str, fields: dict[str, Any]) -> Dashboard:
        """`PATCH /iot/v3/dashboards/{id}` (or v2): change only the given fields."""
        path = f"{self._base()}/{seg(dashboard_id)}"
        _, data = self.call("PATCH", path, json=fields)
        return self._dashboard(data, "PATCH", path)

    def _body(self, dashboard: DashboardInput) -> dict[str, Any]:
        # Only what was set (an absent `variables` leaves a widget's links alone on an update), and on v2
        # nothing v2 does not model.
        body = dashboard.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        if self.api == "v2":
            body.pop("pages", None)
            for widget in body.get("widgets", []):
                widget.pop("page_id", None)
        return body

    def delete_dashboard(self, dashboard_id: str, *, force: bool = False) -> bool:
        """`DELETE /iot/v2/dashboards/{id}[?force=true]`; False if it did not exist."""
        params = {"force": "true"} if force else None
        status, _ = self.call(
            "DELETE", f"{DASHBOARDS}/{seg(dashboard_id)}", params=params, ok=(200, 204, 404)
        )
        return status != 404

    def clone_dashboard(self, dashboard_id: str, overrides: Sequence[ThingOverride] = ()) -> Dashboard:
        """`PUT /iot/v3/dashboards/{id}/clone` (`clone{overrides}`, or v2): a copy, optionally relinked to
        other things (the cloud names it; rename it with `patch_dashboard`)."""
        path = f"{self._base()}/{seg(dashboard_id)}/clone"
        body = {"overrides": [o.model_dump(mode="json") for o in overrides]}
        _, data = self.call("PUT", path, json=body, ok=(200, 201))
        return self._dashboard(data, "PUT", path)

    def request_access(self, dashboard_id: str, message: str | None = None) -> None:
        """`PUT /iot/v2/dashboards/{id}/share_request` (`sharerequest{message}`): ask the owner for access."""
        body = {"message": message} if message else {}
        self.call("PUT", f"{DASHBOARDS}/{seg(dashboard_id)}/share_request", json=body)

    def list_shares(self, dashboard_id: str) -> list[Share] | None:
        """`GET /iot/v2/dashboards/{id}/shares`; None if there is no such dashboard."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}/shares"
        status, data = self.call("GET", path, ok=(200, 404))
        if status == 404:
            self._check_gone(data, "GET", path)
            return None
        if isinstance(data, dict) and isinstance(data.get("users"), list):
            data = data["users"]
        if data is None:
            return []
        if not isinstance(data, list):
            raise ResponseError(f"{self._what('GET', path)} did not return a JSON list")
        return [_parse(Share, s, self._what("GET", path)) for s in data]

    def share_dashboard(self, dashboard_id: str, user_id: str, username: str | None = None) -> None:
        """`PUT /iot/v2/dashboards/{id}/shares`: share with one user."""
        body: dict[str, Any] = {"user_id": user_id}
        if username:
            body["username"] = username
        self.call("PUT", f"{DASHBOARDS}/{seg(dashboard_id)}/shares", json=body, ok=(200, 201, 204))

    def delete_share(self, dashboard_id: str, user_id: str) -> bool:
        """`DELETE /iot/v2/dashboards/{id}/shares/{user_id}`; False if it was not shared with them."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}/shares/{seg(user_id)}"
        status, _ = self.call("DELETE", path, ok=(200, 204, 404))
        return status != 404

    def dashboard_template(self, dashboard_id: str) -> DashboardTemplate:
        """`GET /iot/v3/dashboards/{id}/template` (or v2)."""
        path = f"{self._base()}/{seg(dashboard_id)}/template"
        _, data = self.call("GET", path)
        return _parse(DashboardTemplate, data, self._what("GET", path))

    def link_widget_variables(self, dashboard_id: str, widget_id: str, variables: Sequence[str]) -> list[str]:
        """`PUT /iot/v2/dashboards/{id}/widgets/{widgetId}/variables`: set the widget's linked properties.

        An unknown property raises `ResponseError` with the cloud's status (400 or 404).
        """
        path = f"{DASHBOARDS}/{seg(dashboard_id)}/widgets/{seg(widget_id)}/variables"
        _, data = self.call("PUT", path, json={"variables": list(variables)})
        linked = data.get("variables") if isinstance(data, dict) else None
        return [str(v) for v in linked] if isinstance(linked, list) else list(variables)
