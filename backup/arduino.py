"""ArduinoClient (IoT API v2 dashboards, OAuth2 client credentials) and ArduinoCollector.

A dashboard's content is ``{"name", "widgets"}``: widgets without their server-assigned ids, in layout
order, each with its linked variables reduced to stable references (property and thing ids and names).
Restored dashboards get new widget ids from the cloud, so they hash the same as the snapshot they came from.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from backup.config import ArduinoSourceConfig
from backup.errors import AuthError, ResponseError, SourceError
from backup.http import BearerAuth, make_client, request
from backup.pool import pooled
from backup.run import ItemFailure
from storage.hashing import canonical
from storage.model import Item

__all__ = [
    "AUDIENCE",
    "TOKEN_PATH",
    "ArduinoClient",
    "ArduinoCollector",
    "Dashboard",
    "DashboardInput",
    "DashboardTemplate",
    "LinkedVariable",
    "RateLimiter",
    "Share",
    "ThingOverride",
    "Widget",
    "WidgetInput",
    "dashboard_content",
    "dashboard_item",
    "shares_content",
    "shares_item",
    "widget_content",
]

log = logging.getLogger("dashvault.arduino")

TOKEN_PATH = "/iot/v1/clients/token"  # noqa: S105 - an endpoint, not a credential
AUDIENCE = "https://api2.arduino.cc/iot"
DASHBOARDS = "/iot/v2/dashboards"
#: Widget fields that place it on the desktop and mobile grids.
LAYOUT_FIELDS = ("x", "y", "width", "height", "x_mobile", "y_mobile", "width_mobile", "height_mobile")
# A token is renewed this share of its lifetime before it expires (at most RENEW_MARGIN_MAX seconds).
RENEW_FRACTION = 0.2
RENEW_MARGIN_MAX = 60.0
CREDENTIALS_HINT = "check client_id and client_secret"

Result = Item | ItemFailure
# Grid positions are whole numbers in practice; a fraction must not fail the whole dashboard.
Number = int | float
M = TypeVar("M", bound=BaseModel)


def seg(value: str) -> str:
    """Percent-encode an id as one URL path segment (ids come from stored keys, not only from the cloud)."""
    return quote(value, safe="").replace(".", "%2E")


# -- API models ---------------------------------------------------------------------------------


class _ApiModel(BaseModel):
    # Fields we do not rely on are kept, so that nothing the cloud sends is lost on a round trip.
    model_config = ConfigDict(extra="allow")


class UserRef(_ApiModel):
    """A user as the cloud names one: `{user_id, username}`."""

    user_id: str
    username: str | None = None


class Share(UserRef):
    """One user a dashboard is shared with (`dashboardshare`)."""


class LinkedVariable(_ApiModel):
    """A thing property linked to a widget (`ArduinoLinkedvariable`)."""

    id: str
    name: str | None = None
    thing_id: str | None = None
    thing_name: str | None = None
    type: str | None = None
    permission: str | None = None
    variable_name: str | None = None
    last_value: Any = None


class _WidgetLayout(_ApiModel):
    """What every widget shape shares: identity, type, options and its desktop and mobile layout."""

    id: str
    type: str
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    x: Number | None = None
    y: Number | None = None
    width: Number | None = None
    height: Number | None = None
    x_mobile: Number | None = None
    y_mobile: Number | None = None
    width_mobile: Number | None = None
    height_mobile: Number | None = None


class Widget(_WidgetLayout):
    """A widget of a dashboard as the cloud returns it (`ArduinoWidgetv2`)."""

    variables: list[LinkedVariable] = Field(default_factory=list)

    @field_validator("variables", "options", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return [] if info.field_name == "variables" else {}
        return value


class Dashboard(_ApiModel):
    """A dashboard as the cloud returns it (`ArduinoDashboardv2`)."""

    id: str
    name: str
    widgets: list[Widget] = Field(default_factory=list)
    organization_id: str | None = None
    created_by: UserRef | None = None
    shared_by: UserRef | None = None
    shared_with: list[UserRef] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    deleted_at: str | None = None

    @field_validator("widgets", "shared_with", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class WidgetInput(_WidgetLayout):
    """A widget in a create or update body (`widget`): `variables` are property ids."""

    variables: list[str] | None = None


class DashboardInput(_ApiModel):
    """A create or update body (`dashboardv2`)."""

    name: str
    widgets: list[WidgetInput] = Field(default_factory=list)


class ThingOverride(_ApiModel):
    """In a clone: link the copy's widgets to `new_thing_id` where they were linked to `old_thing_id`."""

    old_thing_id: str
    new_thing_id: str


class DashboardTemplate(_ApiModel):
    """`GET /dashboards/{id}/template`: the dashboard as a reusable template."""

    name: str | None = None
    widgets: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("widgets", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class _Token(_ApiModel):
    access_token: SecretStr
    expires_in: float = 300.0
    token_type: str = "Bearer"  # noqa: S105 - a scheme name


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
        token = _parse(_Token, res.body, f"{source}: {TOKEN_PATH}")
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
    """Typed calls to the Arduino IoT Cloud dashboards API v2 of one account or shared space."""

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
            max_connections=config.concurrency * 2,
        )

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
        """`GET /iot/v2/dashboards`, optionally filtered by name or by a user it belongs to."""
        params = {k: v for k, v in (("name", name), ("user_id", user_id)) if v is not None}
        _, data = self.call("GET", DASHBOARDS, params=params or None)
        if not isinstance(data, list):
            raise ResponseError(f"{self._what('GET', DASHBOARDS)} did not return a JSON list")
        return [self._dashboard(d, "GET", DASHBOARDS) for d in data]

    def show_dashboard(self, dashboard_id: str) -> Dashboard | None:
        """`GET /iot/v2/dashboards/{id}`; None if there is no such dashboard."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}"
        status, data = self.call("GET", path, ok=(200, 404))
        return self._dashboard(data, "GET", path) if status == 200 else None

    def create_dashboard(self, dashboard: DashboardInput) -> Dashboard:
        """`POST /iot/v2/dashboards`: the cloud assigns the dashboard's and its widgets' ids."""
        _, data = self.call("POST", DASHBOARDS, json=_body(dashboard), ok=(200, 201))
        return self._dashboard(data, "POST", DASHBOARDS)

    def update_dashboard(self, dashboard_id: str, dashboard: DashboardInput) -> Dashboard:
        """`PUT /iot/v2/dashboards/{id}`: replace name and widgets."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}"
        _, data = self.call("PUT", path, json=_body(dashboard))
        return self._dashboard(data, "PUT", path)

    def patch_dashboard(self, dashboard_id: str, fields: dict[str, Any]) -> Dashboard:
        """`PATCH /iot/v2/dashboards/{id}`: change only the given fields."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}"
        _, data = self.call("PATCH", path, json=fields)
        return self._dashboard(data, "PATCH", path)

    def delete_dashboard(self, dashboard_id: str, *, force: bool = False) -> bool:
        """`DELETE /iot/v2/dashboards/{id}[?force=true]`; False if it did not exist."""
        params = {"force": "true"} if force else None
        status, _ = self.call(
            "DELETE", f"{DASHBOARDS}/{seg(dashboard_id)}", params=params, ok=(200, 204, 404)
        )
        return status != 404

    def clone_dashboard(
        self, dashboard_id: str, name: str, overwrites: Sequence[ThingOverride] = ()
    ) -> Dashboard:
        """`PUT /iot/v2/dashboards/{id}/clone`: a copy called `name`, optionally relinked to other things."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}/clone"
        body = {"name": name, "overwrites": [o.model_dump(mode="json") for o in overwrites]}
        _, data = self.call("PUT", path, json=body, ok=(200, 201))
        return self._dashboard(data, "PUT", path)

    def request_access(self, dashboard_id: str, user_id: str | None = None) -> None:
        """`PUT /iot/v2/dashboards/{id}/share_request`: ask the owner for access."""
        body = {"user_id": user_id} if user_id else {}
        self.call("PUT", f"{DASHBOARDS}/{seg(dashboard_id)}/share_request", json=body)

    def list_shares(self, dashboard_id: str) -> list[Share] | None:
        """`GET /iot/v2/dashboards/{id}/shares`; None if there is no such dashboard."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}/shares"
        status, data = self.call("GET", path, ok=(200, 404))
        if status == 404:
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
        """`GET /iot/v2/dashboards/{id}/template`."""
        path = f"{DASHBOARDS}/{seg(dashboard_id)}/template"
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


def _body(dashboard: DashboardInput) -> dict[str, Any]:
    # Only what was set: an absent `variables` leaves a widget's links alone on an update.
    return dashboard.model_dump(mode="json", exclude_unset=True)


# -- content and items --------------------------------------------------------------------------


def variable_ref(variable: LinkedVariable) -> dict[str, Any]:
    """The stable part of a linked variable: property and thing ids, names for readers."""
    return {
        "id": variable.id,
        "name": variable.name,
        "thing_id": variable.thing_id,
        "thing_name": variable.thing_name,
    }


def widget_content(widget: Widget) -> dict[str, Any]:
    """A widget without its server-assigned id, its links reduced to `variable_ref`s."""
    data = widget.model_dump(mode="json", exclude={"id", "variables"})
    out = {k: v for k, v in data.items() if v is not None}
    refs = [variable_ref(v) for v in widget.variables]
    out["variables"] = sorted(refs, key=lambda r: (str(r["thing_id"]), r["id"]))
    return out


def widget_order(content: dict[str, Any]) -> tuple[float, float, str, str, bytes]:
    """Layout order (top to bottom, left to right), then anything that tells widgets apart."""

    def num(key: str) -> float:
        value = content.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else -1

    return (num("y"), num("x"), str(content.get("type")), str(content.get("name")), canonical(content))


def dashboard_content(dashboard: Dashboard) -> dict[str, Any]:
    """What a dashboard is, independent of when it was saved and of the ids the cloud gave it."""
    widgets = sorted((widget_content(w) for w in dashboard.widgets), key=widget_order)
    return {"name": dashboard.name, "widgets": widgets}


def shares_content(dashboard_id: str, shares: Iterable[UserRef]) -> dict[str, Any]:
    """The users a dashboard is shared with, sorted by user id."""
    users = {s.user_id: {"user_id": s.user_id, "username": s.username} for s in shares}
    return {"dashboard": dashboard_id, "users": [users[k] for k in sorted(users)]}


def dashboard_item(source: str, dashboard: Dashboard) -> Item:
    """The `dashboard` item of one dashboard."""
    extra = dashboard.model_extra or {}
    creator = dashboard.created_by.username if dashboard.created_by else None
    return Item(
        source=source,
        kind="dashboard",
        key=dashboard.id,
        title=dashboard.name,
        content=dashboard_content(dashboard),
        meta={
            "id": dashboard.id,
            "created_at": dashboard.created_at,
            "updated_at": dashboard.updated_at,
            "updated_by": extra.get("updated_by") or creator,
            "widgets": len(dashboard.widgets),
        },
    )


def shares_item(source: str, dashboard: Dashboard, shares: Iterable[UserRef]) -> Item:
    """The `shares` item of one dashboard."""
    return Item(
        source=source,
        kind="shares",
        key=dashboard.id,
        title=dashboard.name,
        content=shares_content(dashboard.id, shares),
    )


# -- collector ----------------------------------------------------------------------------------


class ArduinoCollector:
    """Collects every dashboard of one Arduino Cloud space, with the users each one is shared with."""

    def __init__(self, config: ArduinoSourceConfig, client: ArduinoClient | None = None) -> None:
        self.config = config
        self.client = client or ArduinoClient(config)

    @property
    def source(self) -> str:
        """The configured source name."""
        return self.config.name

    def collect(self, known: Iterable[tuple[str, str]] = ()) -> Iterator[Result]:
        """Yield every item; dashboards of the last snapshot that the listing misses are re-checked by id."""
        try:
            listed = [d.id for d in self.client.list_dashboards()]
            have = set(listed)
            recheck = sorted({key for kind, key in known if kind == "dashboard" and key not in have})
            yield from self._pooled(self._task(i) for i in dict.fromkeys([*listed, *recheck]))
        finally:
            self.client.close()

    def _task(self, dashboard_id: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            try:
                dashboard = self.client.show_dashboard(dashboard_id)
            except SourceError as exc:
                return [
                    ItemFailure("dashboard", dashboard_id, exc.message),
                    ItemFailure("shares", dashboard_id, exc.message),
                ]
            if dashboard is None:
                return []  # deleted since it was listed
            item = dashboard_item(self.source, dashboard)
            try:
                shares = self.client.list_shares(dashboard_id)
            except SourceError as exc:
                return [item, ItemFailure("shares", dashboard_id, exc.message)]
            if shares is None:
                return []  # deleted between the two calls
            return [item, shares_item(self.source, dashboard, shares)]

        return run

    def _pooled(self, tasks: Iterable[Callable[[], list[Result]]]) -> Iterator[Result]:
        return pooled(tasks, limit=self.config.concurrency, name=self.source)
