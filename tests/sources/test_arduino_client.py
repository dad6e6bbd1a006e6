"""ArduinoClient against the Arduino sandbox over real sockets: every endpoint, tokens, rate limit, spaces."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from sandbox.arduino import TOKEN_PATH, ArduinoSandbox
from sandbox.arduino.protocol import DASHBOARDS_V3
from sources.arduino.client import ArduinoClient, RateLimiter
from sources.arduino.models import DashboardInput, ThingOverride, WidgetInput
from sources.errors import AuthError, ResponseError
from tests.arduino_support import CLIENT_ID, CLIENT_SECRET, arduino_config

# The endpoints of the dashboards API document, as (method, path pattern): v3 where served (with pages),
# v2 for the rest and for a cloud without v3.
_BOTH = {
    ("GET", "/dashboards"),
    ("POST", "/dashboards"),
    ("GET", "/dashboards/{id}"),
    ("PUT", "/dashboards/{id}"),
    ("PATCH", "/dashboards/{id}"),
    ("PUT", "/dashboards/{id}/clone"),
    ("GET", "/dashboards/{id}/template"),
}
_V2_ONLY = {
    ("DELETE", "/iot/v2/dashboards/{id}"),
    ("PUT", "/iot/v2/dashboards/{id}/share_request"),
    ("GET", "/iot/v2/dashboards/{id}/shares"),
    ("PUT", "/iot/v2/dashboards/{id}/shares"),
    ("DELETE", "/iot/v2/dashboards/{id}/shares/{user_id}"),
    ("PUT", "/iot/v2/dashboards/{id}/widgets/{widgetId}/variables"),
}
DOCUMENTED = {
    True: {(m, "/iot/v3" + p) for m, p in _BOTH} | _V2_ONLY,
    False: {(m, "/iot/v2" + p) for m, p in _BOTH} | _V2_ONLY,
}
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def endpoint(path: str) -> str:
    """`/iot/v2/dashboards/<uuid>/shares/<uuid>` -> `/iot/v2/dashboards/{id}/shares/{user_id}`."""
    path = re.sub(rf"(/dashboards/){_UUID}", r"\1{id}", path)
    path = re.sub(rf"(/shares/){_UUID}", r"\1{user_id}", path)
    return re.sub(rf"(/widgets/){_UUID}", r"\1{widgetId}", path)


@pytest.fixture
def client(arduino: ArduinoSandbox) -> Iterator[ArduinoClient]:
    c = ArduinoClient(arduino_config(arduino.url))
    try:
        yield c
    finally:
        c.close()


@pytest.mark.parametrize("v3", [True, False], ids=["v3", "v2-only"])
def test_every_documented_endpoint(arduino: ArduinoSandbox, client: ArduinoClient, v3: bool) -> None:
    arduino.serves_v3 = v3
    greenhouse = arduino.add_thing("Greenhouse")
    temperature = arduino.add_property(greenhouse, "temperature")
    humidity = arduino.add_property(greenhouse, "humidity")
    barn = arduino.add_thing("Barn")
    barn_temperature = arduino.add_property(barn, "temperature")
    alice, bob = arduino.add_user("alice"), arduino.add_user("bob")
    w1, w2 = str(uuid.uuid4()), str(uuid.uuid4())

    body = DashboardInput(
        name="Greenhouse",
        widgets=[
            WidgetInput(id=w1, type="gauge", name="Temp", options={"min": 0, "max": 50}, x=0, y=0,
                        width=2, height=2, variables=[temperature]),
            WidgetInput(id=w2, type="chart", name="History", options={"type": "line"}, x=2, y=0,
                        width=4, height=2),
        ],
    )  # fmt: skip
    created = client.create_dashboard(body)
    assert client.api == ("v3" if v3 else "v2")
    assert created.name == "Greenhouse"
    # The cloud assigns the dashboard's id; a widget's is the client's ("set by client").
    assert re.fullmatch(_UUID, created.id)
    assert [w.id for w in created.widgets] == [w1, w2]
    gauge, chart = created.widgets
    assert [v.id for v in gauge.variables] == [temperature]
    assert gauge.variables[0].thing_name == "Greenhouse" and gauge.variables[0].name == "temperature"
    assert created.created_by is not None and created.updated_at

    shown = client.show_dashboard(created.id)
    assert shown is not None and shown.id == created.id and shown.widgets[1].options == {"type": "line"}
    other = client.create_dashboard(DashboardInput(name="Barn"))
    assert {d.name for d in client.list_dashboards()} == {"Greenhouse", "Barn"}
    assert [d.id for d in client.list_dashboards(name="green")] == [created.id]

    linked = client.link_widget_variables(created.id, chart.id, [temperature, humidity])
    assert linked == [temperature, humidity]
    with pytest.raises(ResponseError) as missing:
        client.link_widget_variables(created.id, chart.id, ["00000000-0000-4000-8000-000000000000"])
    assert missing.value.status == 400

    renamed = client.patch_dashboard(created.id, {"name": "Greenhouse North"})
    assert renamed.name == "Greenhouse North" and len(renamed.widgets) == 2
    replaced = client.update_dashboard(
        created.id,
        DashboardInput(
            name="Greenhouse North",
            widgets=[
                WidgetInput(
                    id=chart.id,
                    type="chart",
                    name="History",
                    options={"type": "spline"},
                    x=0,
                    y=0,
                    width=4,
                    height=2,
                )
            ],
        ),
    )
    # A widget sent with its current id keeps it, and its links.
    assert [w.id for w in replaced.widgets] == [chart.id]
    assert [v.id for v in replaced.widgets[0].variables] == [temperature, humidity]

    template = client.dashboard_template(created.id)
    assert template.name == "Greenhouse North" and template.widgets[0]["type"] == "chart"

    clone = client.clone_dashboard(created.id, [ThingOverride(old_thing_id=greenhouse, new_thing_id=barn)])
    assert clone.id != created.id and clone.name == "Greenhouse North (copy)"
    assert [v.id for v in clone.widgets[0].variables] == [barn_temperature]
    assert client.patch_dashboard(clone.id, {"name": "Barn climate"}).name == "Barn climate"

    client.share_dashboard(created.id, alice, "alice")
    client.share_dashboard(created.id, bob)
    shares = client.list_shares(created.id)
    assert shares is not None and {(s.user_id, s.username) for s in shares} == {
        (alice, "alice"),
        (bob, "bob"),
    }
    assert [d.id for d in client.list_dashboards(user_id=bob)] == [created.id]
    assert client.delete_share(created.id, bob) is True
    assert client.delete_share(created.id, bob) is False
    assert arduino.shares(created.id) == [alice]

    client.request_access(other.id, message="may I see the barn?")
    assert arduino.share_requests() == [(other.id, arduino.owner_id, "may I see the barn?")]

    assert client.delete_dashboard(other.id, force=True) is True
    assert client.delete_dashboard(other.id) is False
    assert client.show_dashboard(other.id) is None
    assert client.list_shares(other.id) is None
    force = [r for r in arduino.logged_requests() if r.method == "DELETE" and r.path.endswith(other.id)]
    assert force[0].query == {"force": ["true"]}

    hit = {(r.method, endpoint(r.path)) for r in arduino.logged_requests() if r.path != TOKEN_PATH}
    # A cloud without v3 was asked once whether it serves it (404), then spoken to in v2.
    probes = {("GET", "/iot/v3/dashboards")} if not v3 else set()
    assert hit == DOCUMENTED[v3] | probes


def test_token_is_fetched_once_and_sent_as_bearer(arduino: ArduinoSandbox, client: ArduinoClient) -> None:
    for _ in range(5):
        client.list_dashboards()
    [token_call] = arduino.token_requests()
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_call.json is None  # a form, not JSON
    api = [r for r in arduino.logged_requests() if r.path == DASHBOARDS_V3]
    # Whether v3 is served is asked once, with a name no dashboard has; then five listings.
    assert [r.query for r in api] == [{"name": ["dashvault-probe-7f3a9c"]}] + [{}] * 5
    assert {r.auth_scheme for r in api} == {"Bearer"} and {r.status for r in api} == {200}
    # A personal space: no organization on the token request.
    assert arduino.token_spaces == [""]


def test_token_renewed_before_it_expires(arduino: ArduinoSandbox) -> None:
    arduino.token_lifetime = 1.0
    client = ArduinoClient(arduino_config(arduino.url))
    try:
        # Until three tokens were used (the lifetime passed twice), however slow the machine is.
        deadline = time.monotonic() + 30
        while len(arduino.token_requests()) < 3 and time.monotonic() < deadline:
            client.list_dashboards()
            time.sleep(0.05)
    finally:
        client.close()
    assert len(arduino.token_requests()) >= 3
    # Renewed ahead of time: the cloud never had to refuse an expired token.
    assert not [r for r in arduino.logged_requests() if r.status == 401]


def test_a_refused_token_is_renewed_once(arduino: ArduinoSandbox, client: ArduinoClient) -> None:
    client.list_dashboards()
    arduino.revoke_tokens()
    assert client.list_dashboards() == []
    assert len(arduino.token_requests()) == 2
    assert [r.status for r in arduino.logged_requests() if r.path == DASHBOARDS_V3] == [200, 200, 401, 200]

    arduino.clear_requests()
    arduino.reject_tokens = True
    with pytest.raises(AuthError) as info:
        client.list_dashboards()
    assert info.value.message.startswith("arduino: 401")
    # One renewal, one more attempt, then the error: no loop.
    assert len(arduino.token_requests()) == 1
    assert [r.status for r in arduino.logged_requests() if r.path == DASHBOARDS_V3] == [401, 401]


def test_wrong_secret_is_one_line_naming_the_source_without_the_secret(arduino: ArduinoSandbox) -> None:
    client = ArduinoClient(
        arduino_config(arduino.url, name="arduino-home", client_secret="wrong-" + CLIENT_SECRET)
    )
    try:
        with pytest.raises(AuthError) as info:
            client.list_dashboards()
    finally:
        client.close()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("arduino-home: 401")
    assert "client_id and client_secret" in message
    assert CLIENT_SECRET not in message and CLIENT_ID not in message
    assert CLIENT_SECRET not in repr(client.http.auth)
    # The API itself was never called with no token.
    assert [r.path for r in arduino.logged_requests()] == [TOKEN_PATH]


def test_x_organization_selects_the_space(arduino: ArduinoSandbox) -> None:
    org = arduino.add_organization()
    arduino.add_dashboard("Personal board")
    shared = arduino.add_dashboard("Team board", org=org)
    personal_client = ArduinoClient(arduino_config(arduino.url))
    org_client = ArduinoClient(arduino_config(arduino.url, organization=org))
    stranger = ArduinoClient(arduino_config(arduino.url, organization="1d0e6d1e-0000-4000-8000-00000000dead"))
    try:
        assert [d.name for d in personal_client.list_dashboards()] == ["Personal board"]
        [team] = org_client.list_dashboards()
        assert team.id == shared and team.organization_id == org
        assert personal_client.show_dashboard(shared) is None
        with pytest.raises(AuthError, match="403"):
            stranger.list_dashboards()
    finally:
        for c in (personal_client, org_client, stranger):
            c.close()
    stray = "1d0e6d1e-0000-4000-8000-00000000dead"
    sent = [r.headers.get("X-Organization") for r in arduino.logged_requests() if r.path != TOKEN_PATH]
    # Each client asks once whether v3 is served, in its own space.
    assert sent == [None, None, org, org, None, stray]
    # The token of a space is asked for that space (arduino-cloud-cli internal/iot/token.go).
    assert arduino.token_spaces == ["", org, stray]
    assert arduino.org_mismatches == 0


def test_requests_are_spaced_by_the_rate_limit(arduino: ArduinoSandbox) -> None:
    client = ArduinoClient(arduino_config(arduino.url, rate_limit=20.0, concurrency=4))
    try:
        client.list_dashboards()  # the token first
        arduino.clear_requests()
        threads = [threading.Thread(target=client.list_dashboards) for _ in range(12)]
        started = time.time()  # the sandbox stamps arrivals with time.time() too
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        client.close()
    times = sorted(r.time for r in arduino.logged_requests())
    assert len(times) == 12
    # The k-th request leaves the client no earlier than k/20 s after the start, and nothing arrives
    # before it is sent, so the k-th arrival is no earlier either. Gaps between arrivals are not checked:
    # a busy machine delays some arrivals and bunches them, while this bound holds on any machine.
    late = [(k, t - started) for k, t in enumerate(times) if t - started < k * 0.05 - 0.001]
    assert not late, late


def test_rate_limiter_spacing_is_exact() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == pytest.approx([0.25] * 4)
    now[0] += 10  # idle: no debt carried over
    limiter.wait()
    assert len(slept) == 4


def test_throttling_429_is_retried(arduino: ArduinoSandbox, client: ArduinoClient) -> None:
    arduino.add_dashboard("Board")
    arduino.rate_429, arduino.retry_after = 0.3, 0
    for _ in range(6):
        assert [d.name for d in client.list_dashboards()] == ["Board"]
    assert any(r.status == 429 for r in arduino.logged_requests())
