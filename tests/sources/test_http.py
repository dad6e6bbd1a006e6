"""sources.http against a scripted HTTP server on loopback: retries, Retry-After, auth, error mapping."""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from sources.errors import AuthError, ResponseError, UnreachableError
from sources.http import (
    USER_AGENT,
    BasicAuth,
    BearerAuth,
    _Retry,
    make_client,
    redact_url,
    request,
    request_json,
)

SECRET = "glsa_s3cr3t-t0ken-value-0123456789"


@dataclass
class Reply:
    """One scripted response: status, headers, body; `delay` seconds of silence before it."""

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Scripted:
    """A ThreadingHTTPServer whose replies per path are scripted; the last reply of a script repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with scripted.lock:
                    scripted.seen.append(Seen(self.command, path, dict(self.headers.items()), body))
                    script = scripted.scripts.get(path, [Reply(404, {"message": "not found"})])
                    reply = script.pop(0) if len(script) > 1 else script[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, bytes):
                    payload = reply.body
                elif callable(reply.body):
                    payload = reply.body(self)
                else:
                    payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval keeps shutdown (once per test) fast.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def script(self, path: str, *replies: Reply) -> None:
        with self.lock:
            self.scripts[path] = list(replies)

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for seen in self.seen if seen.path == path)


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    scripted.thread.start()
    try:
        yield scripted
    finally:
        scripted.server.shutdown()
        scripted.server.server_close()


def client_for(url: str, *, retries: int = 3, **extra: Any) -> httpx.Client:
    options: dict[str, Any] = {
        "base_url": url,
        "auth": BearerAuth(SecretStr(SECRET)),
        "timeout": 5.0,
        "connect_timeout": 2.0,
        "retries": retries,
        "backoff_factor": 0.01,
        "max_backoff": 5.0,
    }
    options.update(extra)
    return make_client(**options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- retries ------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(server: Scripted) -> None:
    server.script(
        "/api/search", Reply(429, {"message": "slow down"}, {"Retry-After": "1"}), Reply(200, [1, 2])
    )
    with client_for(server.url) as client:
        start = time.monotonic()
        body = request_json(client, "GET", "/api/search", source="grafana-prod")
        elapsed = time.monotonic() - start
    assert body == [1, 2]
    assert server.hits("/api/search") == 2
    assert elapsed >= 1.0  # the backoff alone (factor 0.01) would have been far shorter


def test_retry_after_as_http_date_is_capped_at_max_backoff(server: Scripted) -> None:
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.script("/x", Reply(503, {}, {"Retry-After": later}), Reply(200, {"ok": True}))
    with client_for(server.url, max_backoff=0.3) as client:
        start = time.monotonic()
        assert request_json(client, "GET", "/x", source="s") == {"ok": True}
        assert time.monotonic() - start < 3.0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_502_503_504_then_success(server: Scripted, method: str) -> None:
    server.script("/d", Reply(503), Reply(502), Reply(504), Reply(200, {"ok": 1}))
    with client_for(server.url, retries=5) as client:
        assert request_json(client, method, "/d", source="s") == {"ok": 1}
    assert server.hits("/d") == 4


@pytest.mark.parametrize("retries", [0, 2])
def test_always_503_fails_after_retries_plus_one_attempts(server: Scripted, retries: int) -> None:
    server.script("/api/health", Reply(503, {"message": "maintenance"}))
    with client_for(server.url, retries=retries) as client, pytest.raises(ResponseError) as info:
        request_json(client, "GET", "/api/health", source="grafana-prod")
    assert server.hits("/api/health") == retries + 1
    assert info.value.status == 503
    assert str(info.value).startswith("grafana-prod: GET /api/health returned 503")
    assert "maintenance" in str(info.value)


def test_post_is_not_retried_on_503(server: Scripted) -> None:
    server.script("/api/dashboards/db", Reply(503), Reply(200, {"status": "success"}))
    with client_for(server.url, retries=3) as client, pytest.raises(ResponseError) as info:
        request_json(client, "POST", "/api/dashboards/db", source="s", json={"dashboard": {}})
    assert info.value.status == 503
    assert server.hits("/api/dashboards/db") == 1


def test_post_is_retried_on_429(server: Scripted) -> None:
    server.script("/api/dashboards/db", Reply(429), Reply(200, {"status": "success"}))
    with client_for(server.url, retries=3) as client:
        body = request_json(client, "POST", "/api/dashboards/db", source="s", json={"dashboard": {"a": 1}})
    assert body == {"status": "success"}
    assert server.hits("/api/dashboards/db") == 2
    assert [json.loads(seen.body) for seen in server.seen] == [{"dashboard": {"a": 1}}] * 2


def test_read_timeout_retries_get_but_not_post(server: Scripted) -> None:
    server.script("/slow", Reply(200, {}, delay=1.0))
    with client_for(server.url, retries=1, timeout=0.2) as client:
        with pytest.raises(UnreachableError, match=r"read timed out\) after 2 attempts"):
            request_json(client, "GET", "/slow", source="s")
        assert server.hits("/slow") == 2
        with pytest.raises(UnreachableError, match=r"read timed out\) after 1 attempt$"):
            request_json(client, "POST", "/slow", source="s", json={})
        assert server.hits("/slow") == 3


def test_connection_refused_is_unreachable_and_fast() -> None:
    port = free_port()
    with client_for(f"http://127.0.0.1:{port}", retries=1) as client:
        start = time.monotonic()
        with pytest.raises(UnreachableError) as info:
            request_json(client, "GET", "/api/search", source="grafana-prod")
        assert time.monotonic() - start < 2.0
    message = str(info.value)
    assert (
        message == f"grafana-prod: cannot reach http://127.0.0.1:{port} (connection refused) after 2 attempts"
    )


def test_post_is_retried_when_the_connection_was_refused() -> None:
    with (
        client_for(f"http://127.0.0.1:{free_port()}", retries=2) as client,
        pytest.raises(UnreachableError, match="after 3 attempts"),
    ):
        request_json(client, "POST", "/api/x", source="s", json={})


def test_certificate_failures_are_not_retried() -> None:
    retry = _Retry(total=3)
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    wrapped = httpx.ConnectError("certificate verify failed")
    wrapped.__cause__ = cert
    assert not retry.is_retryable_exception(wrapped)
    assert retry.is_retryable_exception(httpx.ConnectError("[Errno 111] Connection refused"))


# --- status and body mapping --------------------------------------------------------------------


def test_401_is_auth_error_naming_source_and_path(server: Scripted) -> None:
    server.script("/api/search", Reply(401, {"message": "invalid API key"}))
    with client_for(server.url, retries=3) as client, pytest.raises(AuthError) as info:
        request_json(client, "GET", "/api/search", source="grafana-prod", params={"query": "a"})
    assert str(info.value).startswith("grafana-prod: 401 Unauthorized from /api/search: check the token")
    assert server.hits("/api/search") == 1
    assert info.value.exit_code == 1


def test_403_is_auth_error(server: Scripted) -> None:
    server.script("/api/folders", Reply(403, {"message": "Permission denied"}))
    with client_for(server.url) as client, pytest.raises(AuthError, match=r"403 Forbidden from /api/folders"):
        request_json(client, "GET", "/api/folders", source="g")


def test_non_json_body_is_response_error(server: Scripted) -> None:
    server.script("/api/search", Reply(200, b"<html>login page</html>", {"Content-Type": "text/html"}))
    with client_for(server.url) as client, pytest.raises(ResponseError) as info:
        request_json(client, "GET", "/api/search", source="grafana-prod")
    assert str(info.value).startswith("grafana-prod: /api/search returned a body that is not JSON (")
    assert info.value.status == 200


def test_expected_statuses_are_returned_with_body_and_headers(server: Scripted) -> None:
    server.script("/api/dashboards/uid/x", Reply(404, {"message": "Dashboard not found"}))
    server.script("/api/dashboards/db", Reply(412, {"status": "version-mismatch"}, {"X-Trace": "t1"}))
    server.script("/api/folders/a", Reply(204, b""))
    with client_for(server.url) as client:
        missing = request(client, "GET", "/api/dashboards/uid/x", source="g", expect=(200, 404))
        assert (missing.status, missing.body) == (404, {"message": "Dashboard not found"})
        conflict = request(client, "POST", "/api/dashboards/db", source="g", json={}, expect=(200, 412))
        assert conflict.body["status"] == "version-mismatch"
        assert conflict.headers["x-trace"] == "t1"
        assert request_json(client, "DELETE", "/api/folders/a", source="g", expect=(200, 204)) is None


def test_unexpected_status_carries_the_status(server: Scripted) -> None:
    server.script("/api/x", Reply(409, {"message": "a dashboard with the same name exists"}))
    with client_for(server.url) as client, pytest.raises(ResponseError) as info:
        request_json(client, "POST", "/api/x", source="g", json={})
    assert info.value.status == 409
    assert "a dashboard with the same name exists" in str(info.value)


def test_long_error_bodies_are_cut_short(server: Scripted) -> None:
    server.script("/x", Reply(500, b"e" * 5000))
    with client_for(server.url) as client, pytest.raises(ResponseError) as info:
        request_json(client, "GET", "/x", source="s")
    assert len(str(info.value)) < 300
    assert "\n" not in str(info.value)


# --- auth, headers and secrets ------------------------------------------------------------------


def test_bearer_and_user_agent_headers_are_sent(server: Scripted) -> None:
    server.script("/api/user", Reply(200, {"login": "admin"}))
    with client_for(server.url) as client:
        request_json(client, "GET", "/api/user", source="g")
    headers = {k.lower(): v for k, v in server.seen[0].headers.items()}
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("dashvault/")


def test_basic_auth_is_sent(server: Scripted) -> None:
    server.script("/api/orgs", Reply(200, []))
    auth = BasicAuth("admin", SecretStr("pa:ss word"))
    with client_for(server.url, auth=auth) as client:
        request_json(client, "GET", "/api/orgs", source="g")
    header = {k.lower(): v for k, v in server.seen[0].headers.items()}["authorization"]
    assert header == "Basic " + base64.b64encode(b"admin:pa:ss word").decode()
    assert "pa:ss word" not in repr(auth)


def test_extra_headers_are_sent(server: Scripted) -> None:
    server.script("/iot/v2/dashboards", Reply(200, []))
    with client_for(server.url, auth=None, headers={"X-Organization": "org-1"}) as client:
        request_json(client, "GET", "/iot/v2/dashboards", source="a")
    assert {k.lower(): v for k, v in server.seen[0].headers.items()}["x-organization"] == "org-1"


def _echo_authorization(handler: BaseHTTPRequestHandler) -> bytes:
    return json.dumps({"message": f"bad header {handler.headers.get('Authorization')}"}).encode()


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_token_never_appears_in_error_messages(server: Scripted, status: int) -> None:
    server.script("/api/search", Reply(status, _echo_authorization))
    with client_for(server.url, retries=0) as client, pytest.raises((AuthError, ResponseError)) as info:
        request_json(client, "GET", "/api/search", source="g", params={"token": SECRET})
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_token_never_appears_when_unreachable() -> None:
    with (
        client_for(f"http://127.0.0.1:{free_port()}", retries=0) as client,
        pytest.raises(UnreachableError) as info,
    ):
        request_json(client, "GET", "/api/search", source="g", params={"token": SECRET})
    assert SECRET not in str(info.value)


def test_form_secrets_echoed_by_a_server_are_scrubbed(server: Scripted) -> None:
    def echo_body(handler: BaseHTTPRequestHandler) -> bytes:
        return json.dumps({"error": "invalid_client", "error_description": f"no client {SECRET}"}).encode()

    server.script("/iot/v1/clients/token", Reply(400, echo_body))
    with client_for(server.url, auth=None) as client, pytest.raises(ResponseError) as info:
        request_json(
            client,
            "POST",
            "/iot/v1/clients/token",
            source="arduino",
            data={"grant_type": "client_credentials", "client_secret": SECRET},
        )
    assert SECRET not in str(info.value)
    assert "no client ***" in str(info.value)


def test_bearer_auth_repr_hides_the_token() -> None:
    assert SECRET not in repr(BearerAuth(SecretStr(SECRET)))


def test_redact_url() -> None:
    url = f"https://h/api?client_secret={SECRET}&page=2&token=abc"
    redacted = redact_url(url)
    assert SECRET not in redacted
    assert "abc" not in redacted
    assert "page=2" in redacted
    assert redact_url("https://h/api/search") == "https://h/api/search"


def test_a_response_is_freed_as_soon_as_it_is_dropped(server: Scripted) -> None:
    # A reference cycle through the response would keep every body until the cyclic collector ran:
    # hundreds of megabytes during a large run.
    import gc
    import weakref

    server.script("/big", Reply(200, {"panels": ["x" * 1000] * 100}))
    with client_for(server.url) as client:
        gc.disable()
        try:
            res = request(client, "GET", "/big", source="s")
            assert res.body["panels"][0] == "x" * 1000
            gone = weakref.ref(res.response)
            del res
            assert gone() is None
        finally:
            gc.enable()


def test_json_bodies_are_sent_as_compact_utf8(server: Scripted) -> None:
    server.script("/post", Reply(200, {"ok": 1}))
    with client_for(server.url) as client:
        request(client, "POST", "/post", source="s", json={"title": "Température", "n": 2**70})
    sent = server.seen[-1]
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"title": "Température", "n": 2**70}
