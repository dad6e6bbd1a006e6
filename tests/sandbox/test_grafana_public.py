"""The sandbox's public dashboards, as pkg/services/publicdashboards behaves (sandbox/grafana/public.py)."""

from __future__ import annotations

import httpx

from sandbox.grafana import GrafanaSandbox
from tests.sandbox.grafana_support import board

TOKEN_HEX = "0123456789abcdef0123456789abcdef"


def test_a_create_keeps_uid_and_access_token_and_defaults_the_rest(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    uid = sb.add_dashboard(board("Shared"))
    res = client.post(
        f"/api/dashboards/uid/{uid}/public-dashboards", json={"uid": "pub-1", "accessToken": TOKEN_HEX}
    )
    assert res.status_code == 200
    body = res.json()
    assert (body["uid"], body["accessToken"], body["dashboardUid"]) == ("pub-1", TOKEN_HEX, uid)
    assert (body["isEnabled"], body["annotationsEnabled"], body["share"]) == (False, False, "public")
    assert client.get(f"/api/dashboards/uid/{uid}/public-dashboards").json() == body
    again = client.post(f"/api/dashboards/uid/{uid}/public-dashboards", json={})
    assert again.json()["messageId"] == "publicdashboards.dashboardIsPublic"
    other = sb.add_dashboard(board("Other"))
    taken = client.post(f"/api/dashboards/uid/{other}/public-dashboards", json={"accessToken": TOKEN_HEX})
    assert taken.json()["messageId"] == "publicdashboards.accessTokenExists"
    bad = client.post(f"/api/dashboards/uid/{other}/public-dashboards", json={"accessToken": "not-a-uuid"})
    assert (bad.status_code, bad.json()["messageId"]) == (400, "publicdashboards.invalidAccessToken")


def test_a_patch_sets_switches_only(sb: GrafanaSandbox, client: httpx.Client) -> None:
    uid = sb.add_dashboard(board("Shared"))
    made = sb.add_public_dashboard(uid, uid="pub", access_token=TOKEN_HEX, is_enabled=False)
    res = client.patch(
        f"/api/dashboards/uid/{uid}/public-dashboards/pub",
        json={"isEnabled": True, "accessToken": "ffffffffffffffffffffffffffffffff", "uid": "x"},
    )
    assert res.status_code == 200
    assert (res.json()["isEnabled"], res.json()["accessToken"], res.json()["uid"]) == (True, TOKEN_HEX, "pub")
    assert res.json()["createdAt"] == made["createdAt"]


def test_not_found_is_said_in_grafanas_words_and_a_deleted_dashboard_takes_its_public_one(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    missing = client.get("/api/dashboards/uid/nope/public-dashboards")
    assert (missing.status_code, missing.json()) == (
        404,
        {
            "statusCode": 404,
            "messageId": "publicdashboards.notFound",
            "message": "Public dashboard not found",
        },
    )
    uid = sb.add_dashboard(board("Shared"))
    sb.add_public_dashboard(uid)
    assert client.delete(f"/api/dashboards/uid/{uid}").status_code == 200
    assert client.get(f"/api/dashboards/uid/{uid}/public-dashboards").status_code == 404


def test_the_list_is_by_title_and_off_means_a_plain_404(sb: GrafanaSandbox, client: httpx.Client) -> None:
    for title in ("Zulu", "Alpha"):
        sb.add_public_dashboard(sb.add_dashboard(board(title)))
    listed = client.get("/api/dashboards/public-dashboards").json()
    assert [p["title"] for p in listed["publicDashboards"]] == ["Alpha", "Zulu"]
    assert (listed["totalCount"], listed["page"], listed["perPage"]) == (2, 1, 1000)
    sb.public_dashboards_enabled = False
    off = client.get("/api/dashboards/public-dashboards")
    assert (off.status_code, off.json()) == (404, {"message": "Not found"})


def test_only_an_org_admin_may_make_a_dashboard_public(sb: GrafanaSandbox) -> None:
    token = sb.add_service_account("editor", "Editor")
    uid = sb.add_dashboard(board("Shared"))
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {token}"}) as editor:
        res = editor.post(f"/api/dashboards/uid/{uid}/public-dashboards", json={})
    assert res.status_code == 403 and "dashboards.public:write" in res.json()["message"]
