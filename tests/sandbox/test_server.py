"""The base sandbox server over real sockets: routing, errors, keep-alive, restarts, latency."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from typing import Any

import httpx
import pytest

from sandbox.grafana import GrafanaSandbox
from sandbox.server import HTTPError, Request, Response, SandboxServer, json_response
from tests.sandbox.grafana_support import TOKEN, board

# -- the base server ------------------------------------------------------------------------------


class Echo(SandboxServer):
    """A minimal subclass: one route, one failing route, token auth via a header."""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.route("POST", r"/echo/(?P<name>[^/]+)", self.echo)
        self.route("GET", r"/boom", self.boom)
        self.route("GET", r"/teapot", self.teapot)

    def authenticate(self, request: Request) -> str | None:
        return "ok" if request.header("X-Key") == "k" else None

    def echo(self, request: Request) -> Response:
        return json_response({"name": request.params["name"], "json": request.json, "q": request.query})

    def boom(self, request: Request) -> Response:
        raise RuntimeError("handler bug")

    def teapot(self, request: Request) -> Response:
        raise HTTPError(418, {"message": "short and stout"}, {"X-Why": "because"})


def test_base_server_routing_errors_and_keep_alive() -> None:
    with Echo() as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:

            def call(method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
                headers = {"X-Key": "k", "Content-Type": "application/json"}
                conn.request(method, path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read()
                assert int(res.headers["Content-Length"]) == len(data)
                return res.status, dict(res.headers), data

            status, _, data = call("POST", "/echo/a%2Fb?x=1&x=2", b'{"k": [1]}')
            assert status == 200
            assert json.loads(data) == {"name": "a/b", "json": {"k": [1]}, "q": {"x": ["1", "2"]}}
            assert call("GET", "/boom")[0] == 500
            assert call("POST", "/echo/x", b"{not json")[:1] == (400,)
            status, headers, _ = call("GET", "/teapot")
            assert status == 418 and headers["X-Why"] == "because"
            assert json.loads(call("GET", "/nothing")[2]) == {"message": "Not found"}
            # All of the above went over one keep-alive connection.
            assert len(server._connections) == 1
        finally:
            conn.close()
        assert httpx.get(f"{server.url}/teapot").status_code == 401
    server.stop()  # idempotent
    assert not server.running


def test_base_server_restart_and_latency() -> None:
    server = Echo(latency=0.05).start()
    port = server.port
    started = time.monotonic()
    assert httpx.get(f"{server.url}/teapot", headers={"X-Key": "k"}).status_code == 418
    assert time.monotonic() - started >= 0.05
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/teapot")
    server.start()
    try:
        assert server.port == port
        assert httpx.get(f"{server.url}/teapot", headers={"X-Key": "k"}).status_code == 418
    finally:
        server.stop()


def test_concurrent_clients_with_latency(sb: GrafanaSandbox) -> None:
    uids = [sb.add_dashboard(board(f"C{n}")) for n in range(40)]
    sb.latency = 0.05
    errors: list[str] = []

    def worker(part: list[str]) -> None:
        with httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            for uid in part:
                res = c.get(f"/api/dashboards/uid/{uid}")
                if res.status_code != 200 or res.json()["dashboard"]["uid"] != uid:
                    errors.append(uid)

    threads = [threading.Thread(target=worker, args=(uids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Served concurrently, not one after another: answered one at a time, each answer would come at
    # least one 50 ms latency after the one before; served side by side, some come together. Read from
    # the server's own record rather than a wall-clock bound, which a busy machine stretches.
    ends = sorted(r.time + r.duration for r in sb.logged_requests() if r.path.startswith("/api/dashboards/"))
    assert len(ends) == 40
    assert min(b - a for a, b in itertools.pairwise(ends)) < 0.025, ends
