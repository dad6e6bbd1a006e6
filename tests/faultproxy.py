"""A hostile reverse proxy on loopback: forwards to a sandbox and breaks the answers it is told to.

What a misrouted load balancer, a caching proxy or a flaky network does to an API's answers, as rules
matched on method and path (a regular expression, searched in the path with its query), each for a
number of requests or for all of them:

- ``reset``: status and headers, half the body, then a TCP reset;
- ``truncate``: half the body, with a Content-Length that matches it (``consistent=True``) or that of
  the whole body, then the connection closed;
- ``html``: an HTML page with the given status, as a proxy's own error page;
- ``body_of``: the upstream answer to another path, as a caching proxy mixing objects up;
- ``json``: a fixed JSON body and status (``{}``, ``[]``);
- ``echo``: an error (``status``) whose message quotes the request's Authorization header;
- ``s3_error``: an S3 error document with ``status`` and ``body`` = (code, message);
- ``rewrite``: the upstream JSON body passed through a function (short, empty and shifting pages);
- ``slow``: the upstream answer after a delay;
- ``drop_header``: the request forwarded without ``header``, as a server that ignores it;
- ``done_then_fail``: the request forwarded (the upstream does it), then answered with ``status``.

Every request that reached the proxy is logged with the rule it met (``hits``), and the most requests
it held at once is kept (``peak_in_flight``): a client's concurrency as the server sees it.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
    b"<hr><address>nginx</address></body></html>"
)


@dataclass
class Rule:
    """One fault: which requests it breaks, how, and how many more times."""

    method: str
    path: re.Pattern[str]
    fault: str
    times: int | None  # None: every matching request
    status: int = 200
    body: Any = None
    other_path: str = ""
    rewrite: Callable[[Any], Any] | None = None
    consistent: bool = False
    delay: float = 0.0
    header: str = ""
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return (self.method in ("*", method)) and self.path.search(path) is not None


@dataclass(frozen=True)
class Hit:
    """A request the proxy saw, and the fault it met ("" when forwarded untouched)."""

    method: str
    path: str
    fault: str


@dataclass
class FaultProxy:
    """A reverse proxy in front of `upstream` (a base URL), serving on a free loopback port."""

    upstream: str
    rules: list[Rule] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(
        self, fault: str, path: str, *, method: str = "GET", times: int | None = 1, **options: Any
    ) -> Rule:
        """Break the next `times` requests (None: all) whose method and path match."""
        rule = Rule(method=method, path=re.compile(path), fault=fault, times=times, **options)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Forward everything untouched from now on."""
        with self._lock:
            self.rules.clear()

    def faulted(self, fault: str | None = None) -> list[Hit]:
        """The requests that met a fault (of kind `fault`)."""
        return [h for h in self.hits if h.fault and (fault is None or h.fault == fault)]

    def reset_peak(self) -> None:
        """Count the peak of requests in flight afresh from now on."""
        with self._lock:
            self.peak_in_flight = self.in_flight

    def _entered(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.used += 1
                    self.hits.append(Hit(method, path, rule.fault))
                    return rule
            self.hits.append(Hit(method, path, ""))
            return None

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """The upstream's answer to one request."""
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS], data
        finally:
            conn.close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        self.owner._entered(1)
        try:
            self._answer()
        finally:
            self.owner._entered(-1)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS | {"host"}}
        rule = self.owner._take(self.command, self.path)
        if rule is not None and rule.fault == "drop_header":
            # A server that ignores a header: the request goes on without it.
            headers = {k: v for k, v in headers.items() if k.lower() != rule.header.lower()}
            rule = None
        if rule is None:
            self._send(*self.owner.forward(self.command, self.path, headers, body))
            return
        if rule.fault == "html":
            self._send(rule.status, [("Content-Type", "text/html")], HTML_PAGE)
            return
        if rule.fault == "echo":
            # A server that quotes the request's credentials back in its error.
            said = {"message": f"invalid credentials: {self.headers.get('Authorization', '')}"}
            self._send(rule.status, [("Content-Type", "application/json")], json.dumps(said).encode())
            return
        if rule.fault == "s3_error":
            code, message = rule.body
            xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            self._send(rule.status, [("Content-Type", "application/xml")], xml.encode())
            return
        if rule.fault == "json":
            self._send(rule.status, [("Content-Type", "application/json")], json.dumps(rule.body).encode())
            return
        path = rule.other_path or self.path
        status, out_headers, data = self.owner.forward(self.command, path, headers, body)
        if rule.fault == "done_then_fail":
            # The upstream did it; the client is told it failed (a proxy's timeout, a 500 after commit).
            xml = b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>x</Message></Error>"
            self._send(rule.status, [("Content-Type", "application/xml")], xml)
            return
        if rule.fault == "slow":
            time.sleep(rule.delay)
        elif rule.fault == "rewrite":
            assert rule.rewrite is not None
            data = json.dumps(rule.rewrite(json.loads(data))).encode()
        elif rule.fault == "reset":
            self._send_head(status, out_headers, len(data))
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            # SO_LINGER with a zero timeout makes close() send a RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        elif rule.fault == "truncate":
            cut = data[: len(data) // 2]
            self._send_head(status, out_headers, len(cut) if rule.consistent else len(data))
            self.wfile.write(cut)
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, out_headers, data)

    def _send_head(self, status: int, headers: list[tuple[str, str]], length: int) -> None:
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in ("date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self._send_head(status, headers, len(data))
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def started(upstream: str) -> Iterator[FaultProxy]:
    """A running proxy, stopped afterwards (the body of the `fault_proxy` fixtures)."""
    proxy = FaultProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.stop()
