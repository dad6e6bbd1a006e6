"""The Arduino sandbox as Arduino's OpenAPI document describes the cloud, over real sockets: client-set
widget ids, required fields and limits, cloud-computed flags, v3 pages beside v2, shares, the token's
space; and the Arduino contract checker on hand-made records."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from sandbox.arduino import AUDIENCE, TOKEN_PATH, ArduinoSandbox
from sandbox.server import RequestRecord
from sources.http import USER_AGENT
from tests.arduino_support import CLIENT_ID, CLIENT_SECRET
from tests.contract import arduino as contract

V2, V3 = "/iot/v2/dashboards", "/iot/v3/dashboards"


class Cloud:
    """Plain HTTP calls to the sandbox with a token for one space."""

    def __init__(self, arduino: ArduinoSandbox, org: str = "") -> None:
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        form |= {"audience": AUDIENCE, **({"organization_id": org} if org else {})}
        token = httpx.post(arduino.url + TOKEN_PATH, data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", **({"X-Organization": org} if org else {})}
        self.http = httpx.Client(base_url=arduino.url, headers=headers)

    def __call__(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.http.request(method, path, json=body, headers=headers)


def widget(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "value",
        "options": {},
        "x": 0,
        "y": 0,
        "width": 1,
        "height": 1,
    } | fields


def test_a_create_keeps_the_client_widget_ids_and_drops_what_the_model_lacks(arduino: ArduinoSandbox) -> None:
    cloud = Cloud(arduino)
    w = widget(name="Reading", has_unlinked_variable=True, color="red", x_mobile=1)
    res = cloud("POST", V2, {"name": "Board", "widgets": [w], "cover_image": "c.png"})
    assert res.status_code == 201
    assert res.headers["content-type"] == "application/vnd.arduino.dashboardv2+json"
    [got] = res.json()["widgets"]
    assert got["id"] == w["id"] and got["x_mobile"] == 1
    assert "color" not in got and got["has_unlinked_variable"] is False  # computed, not taken from the client
    assert res.json()["cover_image"] == "c.png"
    # ArduinoDashboardv2 has no created_at or deleted_at.
    assert set(res.json()) == {
        "id",
        "name",
        "updated_at",
        "cover_image",
        "created_by",
        "shared_with",
        "widgets",
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "B", "widgets": [{k: v for k, v in widget().items() if k != "id"}]}, '"id" is missing'),
        ({"name": "B", "widgets": [widget(id="w1")]}, "widget.id must be formatted as a uuid"),
        (
            {"name": "B", "widgets": [{k: v for k, v in widget().items() if k != "height"}]},
            '"height" is missing',
        ),
        ({"name": "B", "widgets": [widget(x=1.5)]}, "widget.x must be an integer"),
        ({"name": "x" * 65}, "length must be less or equal than 64"),
        ({"name": "   "}, "must match the regular expression"),
        ({"name": "B", "cover_image": "c" * 1025}, "cover_image length"),
        ({"widgets": []}, '"name" is missing'),
    ],
)
def test_a_body_the_request_model_refuses_is_a_400_and_creates_nothing(
    arduino: ArduinoSandbox, body: dict[str, Any], detail: str
) -> None:
    res = Cloud(arduino)("POST", V2, body)
    assert res.status_code == 400
    assert res.headers["content-type"] == "application/vnd.goa.error+json"
    assert detail in res.json()["detail"]
    assert arduino.dashboards() == []


def test_a_name_of_64_characters_is_accepted(arduino: ArduinoSandbox) -> None:
    res = Cloud(arduino)("POST", V2, {"name": "n" * 64})
    assert res.status_code == 201 and res.json()["name"] == "n" * 64


def test_the_cloud_flags_follow_the_properties_not_the_dashboard(arduino: ArduinoSandbox) -> None:
    thing = arduino.add_thing("Boiler")
    burner = arduino.add_property(thing, "burner", type="BOOLEAN")
    board = arduino.add_dashboard("Boiler", [{"type": "switch", "variables": [burner]}])
    before = arduino.get_dashboard(board)
    arduino.set_property_permission(burner, "READ_ONLY")
    after = arduino.get_dashboard(board)
    assert before is not None and after is not None
    assert before["widgets"][0]["has_permission_incompatibility"] is False
    assert after["widgets"][0]["has_permission_incompatibility"] is True
    assert after["updated_at"] == before["updated_at"]


def test_pages_through_v3_and_what_v2_shows_of_them(arduino: ArduinoSandbox) -> None:
    cloud = Cloud(arduino)
    page = {"id": str(uuid.uuid4()), "name": "Cellar", "position": 1, "icon": "wine"}
    main, cellar = widget(name="main"), widget(name="cellar", page_id=page["id"])
    res = cloud("POST", V3, {"name": "House", "pages": [page], "widgets": [main, cellar]})
    assert res.status_code == 201, res.text
    assert res.headers["content-type"] == "application/vnd.arduino.dashboardv3+json"
    d = res.json()
    assert d["pages"] == [page]
    assert [(w["name"], w["page_id"]) for w in d["widgets"]] == [("main", "0"), ("cellar", page["id"])]
    # A page the dashboard does not have is refused.
    stray = widget(page_id=str(uuid.uuid4()))
    assert cloud("PUT", f"{V3}/{d['id']}", {"name": "House", "widgets": [stray]}).status_code == 400
    # v2 has no pages: every widget, no page_id.
    v2 = cloud("GET", f"{V2}/{d['id']}").json()
    assert "pages" not in v2 and [w["name"] for w in v2["widgets"]] == ["main", "cellar"]
    assert all("page_id" not in w for w in v2["widgets"])
    # A v2 write keeps the pages and the page of each widget it names again; new widgets go to the main page.
    extra = widget(name="new")
    body = {"name": "House", "widgets": [main, {**cellar, "page_id": None}, extra]}
    assert cloud("PUT", f"{V2}/{d['id']}", body).status_code == 200
    again = cloud("GET", f"{V3}/{d['id']}").json()
    assert again["pages"] == [page]
    assert [(w["name"], w["page_id"]) for w in again["widgets"]] == [
        ("main", "0"),
        ("cellar", page["id"]),
        ("new", "0"),
    ]


def test_a_cloud_without_v3_answers_404_there(arduino: ArduinoSandbox) -> None:
    arduino.serves_v3 = False
    cloud = Cloud(arduino)
    assert cloud("GET", V3).status_code == 404
    assert cloud("GET", V2).status_code == 200


def test_shares_by_id_by_username_and_as_a_list(arduino: ArduinoSandbox) -> None:
    cloud = Cloud(arduino)
    alice, bob, carol = (arduino.add_user(n) for n in ("alice", "bob", "carol"))
    board = arduino.add_dashboard("Board")
    assert cloud("PUT", f"{V2}/{board}/shares", {"user_id": alice}).status_code == 200
    assert cloud("PUT", f"{V2}/{board}/shares", {"username": "bob"}).status_code == 200
    assert cloud("PUT", f"{V2}/{board}/shares", {"users": [{"username": "carol"}]}).status_code == 200
    assert arduino.shares(board) == [alice, bob, carol]
    listed = cloud("GET", f"{V2}/{board}/shares")
    assert listed.headers["content-type"] == "application/vnd.arduino.dashboardshare+json; type=collection"
    assert [s["username"] for s in listed.json()] == ["alice", "bob", "carol"]


def test_a_token_is_for_the_space_it_was_asked_for(arduino: ArduinoSandbox) -> None:
    org = arduino.add_organization()
    personal = Cloud(arduino)
    assert personal("GET", V2, **{"X-Organization": org}).status_code == 200  # works, at the wrong rate limit
    assert arduino.org_mismatches == 1
    arduino.strict_org_tokens = True
    assert personal("GET", V2, **{"X-Organization": org}).status_code == 429
    assert Cloud(arduino, org)("GET", V2).status_code == 200
    assert arduino.token_spaces == ["", org]


# -- the contract checker ------------------------------------------------------------------------

pytestmark_checker = pytest.mark.skipif(
    not contract.available(), reason=f"Arduino's OpenAPI document is not present at {contract.SPEC}"
)


def _record(
    method: str,
    path: str,
    status: int,
    body: Any = None,
    *,
    sent: Any = None,
    media: str = "application/vnd.arduino.dashboardv2+json",
) -> RequestRecord:
    return RequestRecord(
        method=method,
        path=path,
        query={},
        headers={"User-Agent": USER_AGENT},
        status=status,
        time=0.0,
        duration=0.0,
        json=sent,
        response=json.dumps(body).encode() if body is not None else b"",
        response_type=media,
        route="r",
    )


@pytestmark_checker
def test_the_checker_reports_the_bodies_the_document_does_not_describe() -> None:
    specs = contract.load()
    board = "8f2b1c4e-0000-4000-8000-000000000001"
    clone = _record("PUT", f"{V2}/{board}/clone", 201, sent={"overrides": [{"old_thing_id": "t"}]})
    named = _record("POST", V2, 201, sent={"name": "n" * 65, "widgets": [{"id": "w1", "type": "value"}]})
    answer = _record("GET", f"{V2}/{board}", 200, {"id": board, "name": "B"})
    found = contract.check_arduino(specs, [clone, named, answer])
    text = "\n".join(f"{d.where}: {d.problem}" for d in found)
    assert "request body at $.overrides[0]: 'new_thing_id' is a required property" in text
    assert "request body at $.name" in text and "request body at $.widgets[0]" in text
    assert "response body at $: 'updated_at' is a required property" in text
    # The same exchanges as the document describes them pass.
    answered = {"id": board, "name": "B", "updated_at": "2026-12-01T00:00:00Z"}
    ok = _record("PUT", f"{V2}/{board}/clone", 201, answered, sent={"overrides": []})
    assert contract.check_arduino(specs, [ok]) == []
    assert contract.check_arduino(specs, [_record("GET", V2, 418, [])])[0].where == "status"
