"""Every Grafana endpoint dashvault uses, against the sandbox, checked against Grafana's documents.

dashvault's own client makes the calls (so its requests are under contract too), each endpoint with
its success and its error answers; then every logged exchange is checked (``tests.contract``) and
each test asserts which (operation, status) pairs were checked, so none is silently skipped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.grafana import GrafanaSandbox
from sources.config import GrafanaSourceConfig
from sources.grafana.client import GrafanaClient
from sources.http import USER_AGENT
from tests.contract import spec
from tests.contract.check import Checker
from tests.contract.plugin import judge

pytestmark = pytest.mark.skipif(
    not spec.available(), reason=f"Grafana's API documents are not present at {spec.SPECS} (a fresh clone)"
)

TOKEN = "contract-token-7d1e"
NS = "/apis/dashboard.grafana.app/v1beta1/namespaces/{namespace}"
DASHBOARDS = f"{NS}/dashboards"
DASHBOARD = f"{NS}/dashboards/{{name}}"


def board(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "panels": [{"id": 1, "type": "text", "title": "t"}], "schemaVersion": 41, **extra}


@pytest.fixture
def sb() -> Iterator[GrafanaSandbox]:
    sandbox = GrafanaSandbox(token=TOKEN, seed=11).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def client_for(sb: GrafanaSandbox, **extra: Any) -> GrafanaClient:
    """dashvault's client of the sandbox: with the token, or with ``username``/``password``."""
    auth: dict[str, Any] = {"token": TOKEN} if "username" not in extra else {}
    config = GrafanaSourceConfig.model_validate(
        {"name": "contract", "type": "grafana", "url": sb.url, "retries": 0, "page_size": 2, **auth, **extra}
    )
    return GrafanaClient(config)


@pytest.fixture
def client(sb: GrafanaSandbox) -> Iterator[GrafanaClient]:
    c = client_for(sb)
    try:
        yield c
    finally:
        c.close()


def raw(sb: GrafanaSandbox, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request as dashvault's client would send it, for answers the client raises on."""
    headers = {"User-Agent": USER_AGENT, "Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    with httpx.Client(base_url=sb.url, headers=headers) as c:
        return c.request(method, path, **kwargs)


def conforms(sb: GrafanaSandbox, *expected: tuple[str, str, int]) -> Checker:
    """Check the sandbox's log (deviations fail the test) and that these exchanges were checked."""
    checker = Checker(spec.load())
    judge([d for record in sb.logged_requests() for d in checker.check(record)])
    missing = [e for e in expected if e not in checker.checked]
    assert not missing, f"not checked against any operation: {missing}; checked: {sorted(checker.checked)}"
    return checker


def test_discovery(sb: GrafanaSandbox, client: GrafanaClient) -> None:
    assert client.health()["database"] == "ok"
    assert client.has_apis() is True
    admin = client_for(sb, username="admin", password="admin", orgs="all")
    try:
        assert admin.org_ids() == [1]
    finally:
        admin.close()
    assert raw(sb, "GET", "/api/orgs").status_code == 403  # a service account may not list orgs
    conforms(sb, ("GET", "/api/health", 200), ("GET", "/api/orgs", 200), ("GET", "/api/orgs", 403))


def test_legacy_reads(sb: GrafanaSandbox, client: GrafanaClient) -> None:
    sb.add_folder("top", "Top")
    sb.add_folder("sub", "Sub", parent_uid="top")
    uids = [sb.add_dashboard(board(f"D{n}", tags=["t"]), folder_uid="sub") for n in range(3)]
    alice = sb.add_user("alice")
    team = sb.add_team("SRE", uid="team-sre")
    sb.set_permissions("folder", "top", [{"teamId": team, "permission": 2}])
    sb.set_permissions(
        "dashboard", uids[0], [{"userId": alice, "permission": 4}, {"role": "Viewer", "permission": 1}]
    )

    assert sum(len(page) for page in client.search_pages(1, "dash-folder")) == 2
    assert sorted(h["uid"] for page in client.search_pages(1, "dash-db") for h in page) == sorted(uids)
    assert client.folder(1, "sub") is not None and client.folder(1, "gone") is None
    assert client.dashboard(1, uids[0]) is not None and client.dashboard(1, "gone") is None
    assert client.permissions(1, "folder", "sub") is not None
    assert client.permissions(1, "dashboard", uids[0]) is not None
    assert client.permissions(1, "folder", "gone") is None
    assert client.permissions(1, "dashboard", "gone") is None
    assert client.user_id(1, "alice") == alice and client.user_id(1, "nobody") is None
    assert client.user_id(1, "sa-1-sandbox") is not None  # the token's own service account
    assert client.team_id(1, "team-sre", "SRE") == team
    assert client.find_dashboard_uid(1, "D1", "sub") == uids[1]
    conforms(
        sb,
        ("GET", "/api/search", 200),
        ("GET", "/api/folders/{folder_uid}", 200),
        ("GET", "/api/folders/{folder_uid}", 404),
        ("GET", "/api/dashboards/uid/{uid}", 200),
        ("GET", "/api/dashboards/uid/{uid}", 404),
        ("GET", "/api/folders/{folder_uid}/permissions", 200),
        ("GET", "/api/folders/{folder_uid}/permissions", 404),
        ("GET", "/api/dashboards/uid/{uid}/permissions", 200),
        ("GET", "/api/dashboards/uid/{uid}/permissions", 404),
        ("GET", "/api/org/users/lookup", 200),
        ("GET", "/api/serviceaccounts/search", 200),
        ("GET", "/api/teams/search", 200),
    )


def test_apis_reads_with_paging_and_an_expired_continue_token(
    sb: GrafanaSandbox, client: GrafanaClient
) -> None:
    sb.add_folder("f", "F")
    names = sorted(sb.add_dashboard(board(f"A{n}"), folder_uid="f" if n % 2 else None) for n in range(5))
    sb.expire_next_continue = 1  # the second page's token has expired: 410, then a fresh listing
    assert sorted(r["metadata"]["name"] for r in client.list_resources(1)) == names
    assert client.resource(1, names[0]) is not None and client.resource(1, "gone") is None
    conforms(
        sb,
        ("GET", DASHBOARDS, 200),
        ("GET", DASHBOARDS, 410),
        ("GET", DASHBOARD, 200),
        ("GET", DASHBOARD, 404),
    )


def test_legacy_writes_and_their_refusals(sb: GrafanaSandbox, client: GrafanaClient) -> None:
    assert client.create_folder(1, "top", "Top", "")[0] == 200
    assert client.create_folder(1, "sub", "Sub", "top")[0] == 200
    assert client.create_folder(1, "top", "Top again", "")[0] == 409  # the uid is taken
    missing_parent = raw(sb, "POST", "/api/folders", json={"uid": "x", "title": "X", "parentUid": "nope"})
    assert missing_parent.status_code == 404
    assert raw(sb, "POST", "/api/folders", json={"title": ""}).status_code == 400

    version = (client.folder(1, "top") or {})["version"]
    assert client.update_folder(1, "top", "Top 2", version=version, overwrite=False)[0] == 200
    assert client.update_folder(1, "top", "Top 3", version=version, overwrite=False)[0] == 412  # stale
    assert raw(sb, "PUT", "/api/folders/gone", json={"title": "G", "version": 1}).status_code == 404
    assert client.move_folder(1, "sub", "")[0] == 200
    assert raw(sb, "POST", "/api/folders/gone/move", json={"parentUid": "top"}).status_code == 404

    status, saved = client.save_dashboard(1, board("Saved", uid="saved"), "top", message="m", overwrite=False)
    assert status == 200 and saved["uid"] == "saved"
    stale = board("Saved", uid="saved", version=saved["version"] - 1)
    assert client.save_dashboard(1, stale, "top", message="m", overwrite=False)[0] == 412  # version-mismatch
    assert raw(sb, "POST", "/api/dashboards/db", json={"dashboard": {"title": " "}}).status_code == 400

    alice = sb.add_user("alice")
    team = sb.add_team("SRE")
    client.set_permissions(1, "folder", "top", [{"userId": alice, "permission": 2}])
    client.set_permissions(1, "dashboard", "saved", [{"role": "Editor", "permission": 2}])
    both = {"items": [{"userId": alice, "teamId": team, "permission": 1}]}  # invalid: 400
    assert raw(sb, "POST", "/api/folders/top/permissions", json=both).status_code == 400
    assert raw(sb, "POST", "/api/dashboards/uid/saved/permissions", json=both).status_code == 400
    nobody = {"items": [{"userId": 999, "permission": 1}]}  # refused by the permission store: 500
    assert raw(sb, "POST", "/api/folders/top/permissions", json=nobody).status_code == 500
    assert raw(sb, "POST", "/api/dashboards/uid/saved/permissions", json=nobody).status_code == 500
    assert raw(sb, "POST", "/api/dashboards/uid/gone/permissions", json={"items": []}).status_code == 404
    conforms(
        sb,
        ("POST", "/api/folders", 200),
        ("POST", "/api/folders", 409),
        ("POST", "/api/folders", 404),
        ("POST", "/api/folders", 400),
        ("PUT", "/api/folders/{folder_uid}", 200),
        ("PUT", "/api/folders/{folder_uid}", 412),
        ("PUT", "/api/folders/{folder_uid}", 404),
        ("POST", "/api/folders/{folder_uid}/move", 200),
        ("POST", "/api/folders/{folder_uid}/move", 404),
        ("POST", "/api/dashboards/db", 200),
        ("POST", "/api/dashboards/db", 412),
        ("POST", "/api/dashboards/db", 400),
        ("POST", "/api/folders/{folder_uid}/permissions", 200),
        ("POST", "/api/folders/{folder_uid}/permissions", 400),
        ("POST", "/api/folders/{folder_uid}/permissions", 500),
        ("POST", "/api/dashboards/uid/{uid}/permissions", 200),
        ("POST", "/api/dashboards/uid/{uid}/permissions", 400),
        ("POST", "/api/dashboards/uid/{uid}/permissions", 500),
        ("POST", "/api/dashboards/uid/{uid}/permissions", 404),
    )


def test_apis_writes_and_their_conflicts(sb: GrafanaSandbox, client: GrafanaClient) -> None:
    sb.add_folder("f", "F")
    status, created = client.create_resource(1, "res", board("Res"), "f", message="made")
    assert status == 201
    assert client.create_resource(1, "res", board("Res"), "f", message="again")[0] == 409  # exists
    rv = created["metadata"]["resourceVersion"]
    assert client.update_resource(1, "res", board("Res 2"), "", message="m", resource_version=rv)[0] == 200
    assert client.update_resource(1, "res", board("Res 3"), "", message="m", resource_version=rv)[0] == 409
    missing = raw(
        sb,
        "PUT",
        "/apis/dashboard.grafana.app/v1beta1/namespaces/default/dashboards/gone",
        json={"metadata": {"name": "gone"}, "spec": board("G"), "status": {}},
    )
    assert missing.status_code == 404
    untitled = raw(
        sb,
        "POST",
        "/apis/dashboard.grafana.app/v1beta1/namespaces/default/dashboards",
        json={"metadata": {"name": "u"}, "spec": {}, "status": {}},
    )
    assert untitled.status_code == 400
    conforms(
        sb,
        ("POST", DASHBOARDS, 201),
        ("POST", DASHBOARDS, 409),
        ("POST", DASHBOARDS, 400),
        ("PUT", DASHBOARD, 200),
        ("PUT", DASHBOARD, 409),
        ("PUT", DASHBOARD, 404),
    )


def test_unauthenticated_requests(sb: GrafanaSandbox) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    assert raw(sb, "GET", "/api/search", headers=wrong).status_code == 401
    assert raw(sb, "GET", "/api/dashboards/uid/x", headers=wrong).status_code == 401
    # /apis answers Grafana's plain JSON error too: the sign-in middleware runs first.
    listing = raw(
        sb, "GET", "/apis/dashboard.grafana.app/v1beta1/namespaces/default/dashboards", headers=wrong
    )
    assert listing.status_code == 401 and "message" in listing.json()
    basic = base64.b64encode(b"admin:wrong").decode()
    assert raw(sb, "GET", "/api/folders/x", headers={"Authorization": f"Basic {basic}"}).status_code == 401
    conforms(
        sb,
        ("GET", "/api/search", 401),
        ("GET", "/api/dashboards/uid/{uid}", 401),
        ("GET", "/api/folders/{folder_uid}", 401),
        ("GET", DASHBOARDS, 401),
    )


def test_dashboard_versions(sb: GrafanaSandbox) -> None:
    uid = sb.add_dashboard(board("V"))
    sb.update_dashboard(uid, {"description": "second"})
    assert raw(sb, "GET", f"/api/dashboards/uid/{uid}/versions").status_code == 200
    assert raw(sb, "GET", f"/api/dashboards/uid/{uid}/versions/2").status_code == 200
    assert raw(sb, "GET", f"/api/dashboards/uid/{uid}/versions/9").status_code == 404
    assert raw(sb, "DELETE", f"/api/dashboards/uid/{uid}").status_code == 200
    assert raw(sb, "DELETE", f"/api/dashboards/uid/{uid}").status_code == 404
    conforms(
        sb,
        ("GET", "/api/dashboards/uid/{uid}/versions", 200),
        ("GET", "/api/dashboards/uid/{uid}/versions/{DashboardVersionID}", 200),
        ("GET", "/api/dashboards/uid/{uid}/versions/{DashboardVersionID}", 404),
        ("DELETE", "/api/dashboards/uid/{uid}", 200),
        ("DELETE", "/api/dashboards/uid/{uid}", 404),
    )
