"""The contract checker itself, on hand-made log records: what it reports, and what it allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.server import RequestRecord
from sources.http import USER_AGENT
from tests.contract import spec
from tests.contract.check import MAX_BODIES, Checker, Deviation, check_records, report
from tests.contract.pending import PENDING, Pending, pending

pytestmark = pytest.mark.skipif(
    not spec.available(), reason=f"Grafana's API documents are not present at {spec.SPECS} (a fresh clone)"
)

APIS = "/apis/dashboard.grafana.app/v1beta1/namespaces/default/dashboards"
V2 = "/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards"
STATUS_404 = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": 'dashboards.dashboard.grafana.app "x" not found',
    "reason": "NotFound",
    "code": 404,
}


def record(
    method: str,
    path: str,
    status: int = 200,
    body: Any = None,
    *,
    query: dict[str, list[str]] | None = None,
    sent: Any = None,
    dashvault: bool = True,
    route: str | None = "a route",
    raw: bytes | None = None,
    fault: str | None = None,
) -> RequestRecord:
    """A log record as the sandbox writes it (bodies logged)."""
    headers = {"User-Agent": USER_AGENT if dashvault else "python-httpx/0.28"}
    if sent is not None:
        headers["Content-Type"] = "application/json"
    return RequestRecord(
        method=method,
        path=path,
        query=query or {},
        headers=headers,
        status=status,
        time=0.0,
        duration=0.0,
        json=sent,
        fault=fault,
        response=raw if raw is not None else json.dumps(body).encode(),
        response_type="application/json",
        route=route,
    )


def check(*records: RequestRecord) -> list[Deviation]:
    return check_records(spec.load(), records)


def where(deviations: list[Deviation]) -> list[str]:
    return [d.where for d in deviations]


def test_response_bodies_are_validated_against_the_declared_schema() -> None:
    hit = {"id": 1, "uid": "u", "title": "T", "type": "dash-db", "tags": ["a"], "folderUid": "f"}
    assert check(record("GET", "/api/search", body=[hit])) == []
    bad = check(record("GET", "/api/search", body=[{**hit, "id": "one", "tags": "a"}]))
    assert where(bad) == ["response body at $[0].id", "response body at $[0].tags"]
    assert bad[0].expected == 'type: "integer"' and "is not of type 'integer'" in bad[0].problem
    assert "GET /api/search -> 200" in str(bad[0]) and "api-merged.json" in str(bad[0])
    # Formats count: a date-time that is not one is a deviation.
    meta = {"dashboard": {"title": "T"}, "meta": {"created": "yesterday", "version": 1}}
    assert where(check(record("GET", "/api/dashboards/uid/u", body=meta))) == [
        "response body at $.meta.created"
    ]


def test_statuses_must_be_declared() -> None:
    (dev,) = check(record("GET", "/api/search", 404, {"message": "org not found"}))
    assert dev.where == "status" and dev.expected == "responses: 200, 401, 422, 500"
    assert "org not found" in dev.problem
    assert check(record("GET", "/api/search", 500, {"message": "Search failed"})) == []
    # Injected faults stand for the network or a proxy: their answers are not checked.
    assert check(record("GET", "/api/search", 429, {"message": "slow down"}, fault="429")) == []


def test_paths_no_document_describes() -> None:
    (dev,) = check(record("GET", "/api/nowhere", 404, {"message": "Not found"}))
    assert dev.where == "path" and dev.expected == "no document describes this path"
    (verb,) = check(record("PATCH", "/api/dashboards/db", 404, {"message": "Not found"}))
    assert verb.where == "method" and "declares POST" in verb.expected
    # A test's own probe of an endpoint that does not exist, answered by no route: fine.
    assert check(record("GET", "/api/nowhere", 404, {}, dashvault=False, route=None)) == []
    # A route the sandbox serves that no document describes is a deviation whoever calls it.
    assert where(check(record("GET", "/api/nowhere", 200, {}, dashvault=False))) == ["path"]
    # The allow-list: Kubernetes API discovery.
    assert check(record("GET", "/apis", body={"kind": "APIGroupList", "groups": []})) == []
    # Outside /api and /apis nothing is checked.
    assert check(record("POST", "/_sandbox/reset", 200, {})) == []


def test_dashvault_requests_are_checked() -> None:
    devs = check(record("GET", "/api/search", body=[], query={"limit": ["ten"], "bogus": ["1"]}))
    assert where(devs) == ["query parameter 'limit'", "query parameter 'bogus'"]
    assert "not declared" in devs[1].problem and "folderUIDs" in devs[1].expected
    ok = {"type": ["dash-db"], "limit": ["500"], "page": ["2"], "tag": ["a", "b"]}
    assert check(record("GET", "/api/search", body=[], query=ok)) == []
    assert where(check(record("GET", "/api/users/lookup", 404, {"message": "user not found"}))) == [
        "query parameter 'loginOrEmail'"
    ]
    folder = {"id": 1, "uid": "f", "title": "F", "version": 1}
    assert where(check(record("POST", "/api/folders", body=folder, sent={"title": 5}))) == [
        "request body at $.title"
    ]
    assert where(check(record("POST", "/api/folders", 400, {"message": "bad"}))) == ["request body"]
    versions = f"{'/api/dashboards/uid/u/versions'}/two"
    assert where(check(record("GET", versions, 404, {"message": "x"}))) == [
        "path parameter 'DashboardVersionID'"
    ]
    # The same requests from a test are not dashvault's: only the answers are checked.
    assert check(record("POST", "/api/folders", body=folder, sent={"title": 5}, dashvault=False)) == []


def test_known_differences_are_allowed_and_nothing_more() -> None:
    saved = {"id": 1, "uid": "u", "url": "/d/u/t", "status": "success", "version": 1, "slug": "t"}
    assert check(record("POST", "/api/dashboards/db", body=saved, sent={"dashboard": {"title": "T"}})) == []
    del saved["slug"]
    assert where(check(record("POST", "/api/dashboards/db", body=saved, sent={"dashboard": {}}))) == [
        "response body at $"
    ]
    assert check(record("DELETE", "/api/folders/f", body={"message": "Folder deleted"})) == []
    assert where(check(record("DELETE", "/api/folders/f", body={}))) == ["response body at $"]
    teams = {"totalCount": 1, "teams": [{"id": 1, "name": "SRE", "accessControl": None}], "page": 1}
    assert check(record("GET", "/api/teams/search", body=teams)) == []
    asked = record("GET", "/api/teams/search", body=teams, query={"accesscontrol": ["true"]}, dashvault=False)
    assert where(check(asked)) == ["response body at $.teams[0].accessControl"]
    version = {"id": 1, "version": 2, "created": "2024-05-01T10:00:00Z", "message": ""}
    for body in ([version], {"versions": [version], "continueToken": ""}):
        assert check(record("GET", "/api/dashboards/uid/u/versions", body=body)) == []
    wrapped = {"versions": [{**version, "version": "2"}]}
    assert where(check(record("GET", "/api/dashboards/uid/u/versions", body=wrapped))) == [
        "response body at $.versions[0].version"
    ]
    # Statuses Grafana answers where the document omits them, with its usual error body.
    assert check(record("DELETE", "/api/dashboards/uid/u", 400, {"message": "provisioned"})) == []
    assert where(check(record("DELETE", "/api/dashboards/uid/u", 400, {"error": "no message"}))) == [
        "response body at $"
    ]
    assert where(check(record("DELETE", "/api/dashboards/uid/u", 409, {"message": "x"}))) == ["status"]


def test_apis_errors_are_kubernetes_statuses_except_the_401() -> None:
    assert check(record("GET", f"{APIS}/x", 404, STATUS_404)) == []
    plain = check(record("GET", f"{APIS}/x", 404, {"message": "Not found"}))
    assert {d.problem for d in plain} == {
        f"'{name}' is a required property" for name in ("kind", "apiVersion", "status", "reason", "code")
    }
    assert where(check(record("GET", f"{APIS}/x", 409, STATUS_404))) == ["response body at $.code"]
    assert check(record("GET", f"{APIS}/x", 401, {"message": "Unauthorized"})) == []
    assert where(check(record("GET", f"{APIS}/x", 401, {"error": "no message"}))) == ["response body at $"]


def test_a_failed_v2_conversion_is_allowed_in_spec_only() -> None:
    failed = {"conversion": {"failed": True, "storedVersion": "v1beta1", "error": "x"}}
    body = {
        "kind": "Dashboard",
        "apiVersion": "dashboard.grafana.app/v2beta1",
        "metadata": {"name": "x"},
        "spec": {"title": "T"},
        "status": failed,
    }
    assert check(record("GET", f"{V2}/x", body=body)) == []
    body["status"] = {}
    assert check(record("GET", f"{V2}/x", body=body)) != []
    listing = {"metadata": {}, "items": [{**body, "metadata": {"name": 5}, "status": failed}]}
    assert where(check(record("GET", V2, body=listing))) == ["response body at $.items[0].metadata.name"]


def test_bodies_checked_per_test_are_capped_and_a_cut_listing_page_is_no_deviation() -> None:
    bad = [record("GET", "/api/search", body=[{"id": "x"}]) for _ in range(MAX_BODIES + 5)]
    checker = Checker(spec.load())
    assert sum(len(checker.check(r)) for r in bad) == MAX_BODIES
    assert checker.checked == {("GET", "/api/search", 200)}
    assert check(record("GET", "/api/search", raw=b'[{"id": 1, "ti')) == []
    assert check(record("GET", APIS, raw=b'{"items": [')) == []
    assert where(check(record("GET", "/api/dashboards/uid/u", raw=b'{"dash'))) == ["response body"]
    html = record("GET", "/api/search", body=[])
    html.response_type = "text/html; charset=utf-8"
    (dev,) = check(html)
    assert dev.where == "response Content-Type" and dev.expected == "produces: application/json"
    # HEAD is the GET without its body.
    assert check(record("HEAD", "/api/health", raw=b"")) == []


def test_report_groups_alike_deviations() -> None:
    devs = check(*(record("GET", "/api/search", body=[{"id": "x"}, {"id": "y"}]) for _ in range(3)))
    text = report(devs)
    assert text.startswith("6 deviation(s) from Grafana's API documents (1 distinct):")
    assert "(and 5 more like it)" in text and "$[0].id" in text


def test_pending_entries_match_only_their_deviation() -> None:
    entry = Pending(
        "DELETE",
        "/api/dashboards/uid/{uid}",
        "response body at $",
        "the fix",
        status=200,
        problem="'uid' is a required property",
    )
    (missing_uid,) = check(
        record("DELETE", "/api/dashboards/uid/u", body={"title": "T", "message": "m", "id": 1})
    )
    assert entry.matches(missing_uid)
    (other,) = check(record("DELETE", "/api/dashboards/uid/u", body={"uid": "u", "title": 1, "message": "m"}))
    assert not entry.matches(other) and pending(other) is None
    assert PENDING == ()  # every deviation found so far is fixed
