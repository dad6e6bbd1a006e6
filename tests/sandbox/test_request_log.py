"""The sandbox server's request log: what it keeps of each exchange, with and without bodies."""

from __future__ import annotations

import json

import httpx

from sandbox.grafana import GrafanaSandbox
from sandbox.server import Request, Response, SandboxServer, json_response

TOKEN = "log-token-51a2"


class Cutting(SandboxServer):
    """One ordinary route, and one whose answer simulates a body cut short."""

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/whole/(?P<n>[0-9]+)", self.whole)
        self.route("GET", r"/cut", self.cut)

    def whole(self, request: Request) -> Response:
        return json_response({"n": int(request.params["n"])})

    def cut(self, request: Request) -> Response:
        return Response(raw=b'{"items": [', fault="cut")


def test_responses_are_logged_as_sent_with_the_route_that_answered() -> None:
    with Cutting() as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/whole/7").json() == {"n": 7}
        assert client.get("/cut").content == b'{"items": ['
        assert client.get("/nowhere").status_code == 404
        assert client.head("/whole/8").content == b""
        whole, cut, nowhere, head = server.logged_requests()
    assert json.loads(whole.response or b"") == {"n": 7} and whole.response_type == "application/json"
    assert whole.route == r"/whole/(?P<n>[0-9]+)" and whole.fault is None
    # A handler's simulated failure is logged as a fault, like the injected ones.
    assert cut.fault == "cut" and cut.response == b'{"items": ['
    assert nowhere.route is None and json.loads(nowhere.response or b"") == {"message": "Not found"}
    assert head.route == whole.route and head.response == b""


def test_grafana_log_keeps_request_and_response_bodies() -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with GrafanaSandbox(token=TOKEN) as sb, httpx.Client(base_url=sb.url, headers=auth) as client:
        client.post("/api/dashboards/db", json={"dashboard": {"title": "Logged"}})
        (post,) = sb.logged_requests()
    assert post.json == {"dashboard": {"title": "Logged"}} and post.route == "/api/dashboards/db"
    assert json.loads(post.response or b"")["status"] == "success"


def test_without_log_bodies_no_body_is_kept() -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with GrafanaSandbox(token=TOKEN, log_bodies=False) as sb, httpx.Client(base_url=sb.url) as client:
        client.post("/api/dashboards/db", json={"dashboard": {"title": "B"}}, headers=auth)
        (post,) = sb.logged_requests()
    assert post.status == 200 and post.route == "/api/dashboards/db"
    assert post.json is None and post.response is None and post.response_type is None
