"""What the Grafana sandbox tests share: a token, request helpers and the sandbox fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.grafana import GrafanaSandbox
from tests.contract import watch

TOKEN = "test-token-3b9d"
APIS = "/apis/dashboard.grafana.app/v1beta1/namespaces"


def seg(uid: str) -> str:
    """One path segment; dots too, so "." and ".." are not collapsed by URL normalisation."""
    return quote(uid, safe="").replace(".", "%2E")


def board(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "panels": [{"id": 1, "type": "text", "title": "t"}], "schemaVersion": 41, **extra}


def v2_spec(title: str, **extra: Any) -> dict[str, Any]:
    """A v2beta1 dashboard spec with one panel in a grid (the v2beta1 document's DashboardSpec)."""
    panel = {
        "kind": "Panel",
        "spec": {
            "id": 1,
            "title": "Requests",
            "description": "",
            "links": [],
            "data": {
                "kind": "QueryGroup",
                "spec": {"queries": [], "transformations": [], "queryOptions": {}},
            },
            "vizConfig": {
                "kind": "VizConfig",
                "group": "timeseries",
                "version": "",
                "spec": {"options": {}, "fieldConfig": {"defaults": {}, "overrides": []}},
            },
        },
    }
    item = {
        "kind": "GridLayoutItem",
        "spec": {
            "x": 0,
            "y": 0,
            "width": 12,
            "height": 8,
            "element": {"kind": "ElementReference", "name": "p1"},
        },
    }
    return {
        "title": title,
        "cursorSync": "Off",
        "preload": False,
        "editable": True,
        "tags": ["v2"],
        "links": [],
        "annotations": [],
        "variables": [],
        "elements": {"p1": panel},
        "layout": {"kind": "GridLayout", "spec": {"items": [item]}},
        "timeSettings": {
            "from": "now-6h",
            "to": "now",
            "autoRefresh": "",
            "autoRefreshIntervals": ["5s", "1m"],
            "hideTimepicker": False,
            "fiscalYearStartMonth": 0,
        },
        **extra,
    }


@pytest.fixture
def sb(request: pytest.FixtureRequest) -> Iterator[GrafanaSandbox]:
    sandbox = watch(request, GrafanaSandbox(token=TOKEN, seed=3).start())
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def client(sb: GrafanaSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        yield c


def page_all_search(client: httpx.Client, kind: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    page = 1
    while True:
        res = client.get("/api/search", params={"type": kind, "limit": limit, "page": page, **params})
        assert res.status_code == 200
        chunk = res.json()
        hits.extend(chunk)
        if len(chunk) < limit:
            return hits
        page += 1


def list_all_apis(
    client: httpx.Client, ns: str = "default", limit: int = 5, headers: dict[str, str] | None = None
) -> tuple[list[str], int]:
    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if token:
            params["continue"] = token
        res = client.get(f"{APIS}/{ns}/dashboards", params=params, headers=headers)
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["kind"] == "DashboardList"
        pages += 1
        names.extend(item["metadata"]["name"] for item in body["items"])
        token = body["metadata"].get("continue")
        if not token:
            return names, pages
