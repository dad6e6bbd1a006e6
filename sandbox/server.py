"""A small threaded HTTP/1.1 JSON server used as a base for local API stand-ins.

It binds to loopback on a free port, routes requests by method and path regex, logs every exchange
(with ``log_bodies``, the request's JSON and the response body as sent, so that tests can check both),
and can inject latency and transient faults (429/503) so that clients can be tested against them.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from storage import jsontext

__all__ = [
    "HTTPError",
    "Handler",
    "Request",
    "RequestRecord",
    "Response",
    "Router",
    "SandboxServer",
    "encode_json",
    "json_response",
]


def encode_json(body: Any) -> bytes:
    """Compact JSON as UTF-8; falls back to ASCII escapes for strings UTF-8 cannot carry."""
    try:
        return orjson.dumps(body)
    except TypeError:
        pass  # a lone surrogate, an integer beyond 64 bits or a non-string key: the slower encoder
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (possible in hostile test input) are only representable as \u escapes.
        return json.dumps(body, separators=(",", ":")).encode("ascii")


@dataclass
class Request:
    """One parsed HTTP request as seen by a route handler."""

    method: str
    path: str
    """The raw (still percent-encoded) path, without the query string."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names are lower-cased; use :meth:`header` for lookups."""
    body: bytes = b""
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    """Route captures, percent-decoded."""
    user: str | None = None
    """The principal returned by the server's ``authenticate`` hook."""
    route: str | None = None
    """The pattern of the route that matched, None when none did (answered by ``not_found``)."""

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """All values of query parameter ``name``."""
        return list(self.query.get(name, []))

    def int_arg(self, name: str, default: int) -> int:
        """Query parameter ``name`` as an int, ``default`` when absent or not a number."""
        value = self.arg(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            return default

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name.lower(), default)

    @property
    def form(self) -> dict[str, str]:
        """The body decoded as ``application/x-www-form-urlencoded`` (first values)."""
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Response:
    """A response: JSON-encoded ``body`` unless ``raw`` bytes are given."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    fault: str | None = None
    """Set by a handler whose answer simulates a failure (e.g. ``"cut"`` for a body cut short):
    logged as the record's ``fault``, so that checks of the log can tell it from a real answer."""

    def payload(self) -> bytes:
        """The bytes sent as the response body."""
        if self.raw is not None:
            return self.raw
        return encode_json(self.body)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Build a JSON :class:`Response`."""
    return Response(status=status, body=body, headers=dict(headers or {}))


class HTTPError(Exception):
    """Raised by handlers to answer with a given response (an error status, usually)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = json_response(body, status, headers)


Handler = Callable[[Request], Response]


class Router:
    """Maps (method, path regex) to handlers; the regex is matched against the raw path."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a full-match regex over the raw path."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        """Find the handler for a request; named groups are returned percent-decoded."""
        found = self.resolve(method, path)
        return (found[0], found[1]) if found is not None else None

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str], str] | None:
        """Like :meth:`match`, and also the pattern of the route that matched."""
        for route_method, regex, handler in self._routes:
            if route_method != method:
                continue
            m = regex.fullmatch(path)
            if m is not None:
                # Match on the raw path first so an encoded "/" inside a segment stays in that segment.
                params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
                return handler, params, regex.pattern
        return None


@dataclass
class RequestRecord:
    """One entry of the request log."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int
    time: float
    duration: float
    json: Any = None
    fault: str | None = None
    """``"429"``, ``"503"``, an injected status or a handler's ``Response.fault``: a simulated failure."""
    auth_scheme: str | None = None
    """``"Bearer"``, ``"Basic"`` ... (never the credentials)."""
    response: bytes | None = None
    """The response body as sent (empty for HEAD), kept only when the server's ``log_bodies`` is on."""
    response_type: str | None = None
    """The response's Content-Type, when ``log_bodies`` is on."""
    route: str | None = None
    """The pattern of the route that answered; None for ``not_found``, 401s and injected faults."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Bursts of concurrent clients must not overflow the accept backlog (SYN retries cost a second).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanishing mid-response is normal in tests; stay quiet.
        return


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox"
    sys_version = ""

    @property
    def _sandbox(self) -> SandboxServer:
        return cast(_HTTPServer, self.server).sandbox

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write, but disable Nagle anyway so small
        # responses on keep-alive connections are never held back by delayed ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sandbox._track(self.connection, add=True)

    def finish(self) -> None:
        self._sandbox._track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        n = int(length)
        if n < 0:
            raise ValueError("negative Content-Length")
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
        return data

    def _dispatch(self) -> None:
        sandbox = self._sandbox
        started = time.time()
        split = urlsplit(self.path)
        path = split.path or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(method=self.command, path=path, query=query, headers=headers)
        fault: str | None = None
        try:
            request.body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            response = json_response({"message": "bad request"}, 400)
        else:
            response, fault = sandbox._process(request)
            fault = fault or response.fault
        try:
            payload = response.payload()
        except (TypeError, ValueError) as exc:
            # A handler returned something JSON cannot carry: still answer, as a 500.
            response = json_response({"message": "internal server error", "error": repr(exc)}, 500)
            payload = response.payload()
        head = self.command == "HEAD"
        headers = {"Content-Type": "application/json", **response.headers}
        sent = b"" if head else payload
        sandbox._log(request, response.status, started, fault, sent, headers["Content-Type"])
        self._send(response, payload, headers, head=head)

    def _send(self, response: Response, payload: bytes, headers: dict[str, str], *, head: bool) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        headers["Content-Length"] = str(len(payload))
        if self.close_connection:
            headers["Connection"] = "close"
        lines = [f"HTTP/1.1 {response.status} {reason}\r\n"]
        lines.append(f"Server: {self.server_version}\r\n")
        lines.append(f"Date: {self.date_time_string()}\r\n")
        lines.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1", "replace")
        if not head:
            data += payload
        self.wfile.write(data)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch
    do_HEAD = _dispatch
    do_OPTIONS = _dispatch


class SandboxServer:
    """Threaded loopback HTTP server with a router, a request log, auth hook and fault knobs.

    Subclasses register routes in ``__init__`` via :meth:`route` and override :meth:`authenticate`.
    """

    #: Requests whose path starts with one of these are never faulted (control/health endpoints).
    fault_exempt_prefixes: tuple[str, ...] = ("/_sandbox",)
    #: Request headers copied into the request log (when present).
    logged_headers: tuple[str, ...] = ("Content-Type", "Accept", "User-Agent")

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rate_429: float = 0.0,
        retry_after: int = 1,
        rate_503: float = 0.0,
        seed: int | None = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        log_bodies: bool = True,
    ) -> None:
        self.latency = latency
        self.rate_429 = rate_429
        self.retry_after = retry_after
        self.rate_503 = rate_503
        self.log_bodies = log_bodies
        #: ``(method, raw path)`` -> status: that request alone is answered with this error status
        #: (a test's way to make one object unreadable while everything else answers). Empty by default.
        self.fail_requests: dict[tuple[str, str], int] = {}
        self.requests: list[RequestRecord] = []
        self.router = Router()
        self._host = host
        self._port = port
        self._rng_lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self._log_lock = threading.Lock()
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def seed(self) -> int | None:
        """Seed of the fault draws; setting it restarts the sequence."""
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        with self._rng_lock:
            self._seed = value
            self._rng = random.Random(value)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind (to the previous port when restarted) and serve in a background thread."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections; idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = None
        self._thread = None
        httpd.shutdown()
        httpd.server_close()
        # Keep-alive connections would otherwise keep being served by their daemon threads.
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently serving."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound TCP port (0 before the first start)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._port == 0:
            raise RuntimeError("server not started")
        return f"http://{self._host}:{self._port}"

    # -- extension points --------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a handler for a method and a full-match regex over the raw path."""
        self.router.add(method, pattern, handler)

    def authenticate(self, request: Request) -> str | None:
        """Return the principal for the request, or None to answer 401. Everyone is let in here."""
        return "anonymous"

    def unauthorized(self, request: Request) -> Response:
        """The 401 answer."""
        return json_response({"message": "Unauthorized"}, 401)

    def not_found(self, request: Request) -> Response:
        """The answer for requests no route matches."""
        return json_response({"message": "Not found"}, 404)

    # -- request log -------------------------------------------------------------------------------

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._log_lock:
            self.requests.clear()

    def logged_requests(self) -> list[RequestRecord]:
        """A snapshot copy of the request log."""
        with self._log_lock:
            return list(self.requests)

    # -- internals ---------------------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _draw_fault(self) -> int | None:
        rate_429, rate_503 = self.rate_429, self.rate_503
        if rate_429 <= 0 and rate_503 <= 0:
            return None
        with self._rng_lock:
            if rate_429 > 0 and self._rng.random() < rate_429:
                return 429
            if rate_503 > 0 and self._rng.random() < rate_503:
                return 503
        return None

    def _process(self, request: Request) -> tuple[Response, str | None]:
        if self.latency > 0:
            time.sleep(self.latency)
        if not request.path.startswith(self.fault_exempt_prefixes):
            fault = self._draw_fault()
            if fault == 429:
                headers = {"Retry-After": str(self.retry_after)}
                return json_response({"message": "Too Many Requests"}, 429, headers), "429"
            if fault == 503:
                return json_response({"message": "Service Unavailable"}, 503), "503"
            injected = self.fail_requests.get((request.method, request.path))
            if injected is not None:
                return json_response({"message": "injected failure"}, injected), str(injected)
        try:
            user = self.authenticate(request)
            if user is None:
                return self.unauthorized(request), None
            request.user = user
            method = "GET" if request.method == "HEAD" else request.method
            found = self.router.resolve(method, request.path)
            if found is None:
                return self.not_found(request), None
            handler, request.params, request.route = found
            if request.body and self._wants_json(request):
                try:
                    request.json = jsontext.loads(request.body)
                except ValueError:
                    return json_response({"message": "bad request data"}, 400), None
            return handler(request), None
        except HTTPError as exc:
            return exc.response, None
        except Exception as exc:
            return json_response({"message": "internal server error", "error": repr(exc)}, 500), None

    @staticmethod
    def _wants_json(request: Request) -> bool:
        content_type = (request.header("content-type") or "").lower()
        return not content_type.startswith(("application/x-www-form-urlencoded", "multipart/"))

    def _log(
        self,
        request: Request,
        status: int,
        started: float,
        fault: str | None,
        payload: bytes,
        content_type: str,
    ) -> None:
        wanted = {name.lower(): name for name in self.logged_headers}
        headers = {wanted[k]: v for k, v in request.headers.items() if k in wanted}
        auth = request.header("authorization")
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=headers,
            status=status,
            time=started,
            duration=time.time() - started,
            json=request.json if self.log_bodies else None,
            fault=fault,
            auth_scheme=auth.split(" ", 1)[0] if auth else None,
            # The bytes object is the one just sent, so logging it costs a reference, not a copy.
            response=payload if self.log_bodies else None,
            response_type=content_type if self.log_bodies else None,
            route=request.route,
        )
        with self._log_lock:
            self.requests.append(record)
