"""The one place HTTP clients are built, and the one place HTTP failures become dashvault errors.

`make_client` returns an `httpx.Client` that retries with exponential backoff and full jitter, honours
`Retry-After` and never retries a non-idempotent request the server may have processed.
`request` / `request_json` send one request and map every failure to `UnreachableError`, `AuthError`
or `ResponseError`, with one-line messages naming the source and the URL path, never a credential.

Expected non-2xx statuses: pass them in `expect` (e.g. `expect=(200, 404)`) and look at
`ApiResponse.status` / `.body`; any status not in `expect` raises, and `ResponseError.status` carries it.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
import re
import ssl
import urllib.request
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
from httpx_retries import Retry, RetryTransport
from pydantic import SecretStr

from sources.errors import AccessDeniedError, AuthError, ResponseError, UnreachableError
from storage import jsontext, redaction

__all__ = [
    "REDACTED_KEYS",
    "USER_AGENT",
    "ApiResponse",
    "BasicAuth",
    "BearerAuth",
    "body_digest",
    "make_client",
    "redact_url",
    "request",
    "request_json",
]

logger = logging.getLogger("dashvault.http")

try:
    _VERSION = version("dashvault")
except PackageNotFoundError:  # running from a source tree that is not installed
    _VERSION = "0+unknown"

USER_AGENT = f"dashvault/{_VERSION}"

#: Query or form keys whose values are replaced by `***` whenever a URL is logged.
REDACTED_KEYS: frozenset[str] = frozenset(
    {"token", "access_token", "password", "client_secret", "client_id", "api_key", "apikey", "secret"}
)

_RETRY_STATUSES = (429, 502, 503, 504)
_IDEMPOTENT_METHODS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
_UNSAFE_METHODS = ("POST", "PATCH")
# Raised before a single byte of the request reached the server, so even a POST is safe to resend.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_EXCERPT = 200
_ATTEMPTS = "dashvault.attempts"

_E = TypeVar("_E", bound=BaseException)


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>` on every request; the token stays a SecretStr until sent."""

    def __init__(self, token: SecretStr) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header (httpx calls this once per request)."""
        request.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token=SecretStr('**********'))"


class BasicAuth(httpx.BasicAuth):
    """HTTP basic auth from a username and a SecretStr password."""

    def __init__(self, username: str, password: SecretStr) -> None:
        super().__init__(username, password.get_secret_value())
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=SecretStr('**********'))"


class _Retry(Retry):
    """A Retry that does not resend after a TLS certificate failure: it would only fail again."""

    def is_retryable_exception(self, exception: Exception) -> bool:
        """Whether `exception` is worth another attempt."""
        if _cause(exception, ssl.SSLCertVerificationError) is not None:
            return False
        return super().is_retryable_exception(exception)


class _CountingTransport(httpx.BaseTransport):
    """Sends one attempt and reads its whole body, counting the attempts in the request's extensions
    (so errors can say how many were made).

    The body is read here, under the retry transport, because httpx's client reads it only after the
    transport has returned: a connection reset or a body cut short after the status line would
    otherwise escape every retry. Whether such an error is retried is still the method's policy (a
    POST whose answer was cut is never sent again: the server may have done it).
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one attempt and read its answer."""
        request.extensions[_ATTEMPTS] = int(request.extensions.get(_ATTEMPTS, 0)) + 1
        response = self._inner.handle_request(request)
        try:
            response.read()
        except BaseException:
            response.close()
            raise
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()


class _MethodAwareRetryTransport(RetryTransport):
    """Uses the POST/PATCH policy for non-idempotent requests unless the request brings its own Retry.

    `RetryTransport` looks only at `request.extensions["retry"]` (falling back to its own Retry) and then
    at `is_retryable_method`, `is_retryable_status_code`, `is_retryable_exception` and `is_exhausted`;
    it never calls `Retry.is_retry`, so that method's `not has_retry_after` clause does not apply here.
    """

    def __init__(self, transport: httpx.BaseTransport, retry: Retry, unsafe_retry: Retry) -> None:
        super().__init__(transport=transport, retry=retry)
        self._unsafe_retry = unsafe_retry

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` with the retry policy of its method."""
        if "retry" not in request.extensions and request.method in _UNSAFE_METHODS:
            request.extensions["retry"] = self._unsafe_retry
        return super().handle_request(request)


def make_client(
    *,
    base_url: str,
    auth: BearerAuth | BasicAuth | None,
    timeout: float,
    connect_timeout: float,
    retries: int,
    verify: bool = True,
    headers: Mapping[str, str] | None = None,
    max_connections: int = 16,
    backoff_factor: float = 0.5,
    max_backoff: float = 30.0,
) -> httpx.Client:
    """An httpx.Client with timeouts, a connection pool, auth, a User-Agent and bounded retries.

    GET/HEAD/PUT/DELETE are retried on connect errors, timeouts, network errors and 429/502/503/504;
    POST/PATCH only on 429 and on errors raised before the request was sent. `retries` counts the
    attempts after the first; `Retry-After` (seconds or HTTP date) wins over the backoff, capped at
    `max_backoff`.
    """
    common: dict[str, Any] = {
        "total": retries,
        "backoff_factor": backoff_factor,
        "max_backoff_wait": max_backoff,
        "backoff_jitter": 1.0,
        "respect_retry_after_header": True,
    }
    retry = _Retry(
        allowed_methods=_IDEMPOTENT_METHODS,
        status_forcelist=_RETRY_STATUSES,
        retry_on_exceptions=(httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError),
        **common,
    )
    unsafe_retry = _Retry(
        allowed_methods=_UNSAFE_METHODS,
        status_forcelist=(429,),
        retry_on_exceptions=_NOT_SENT_ERRORS,
        **common,
    )
    inner = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        verify=verify,
        proxy=_env_proxy(base_url),
    )
    transport = _MethodAwareRetryTransport(_CountingTransport(inner), retry, unsafe_retry)
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    all_headers.update(headers or {})
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        headers=all_headers,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        transport=transport,
        follow_redirects=False,
    )


@dataclass(frozen=True)
class ApiResponse:
    """A response whose status was in `expect`: `body` is the parsed JSON (None for an empty body)."""

    status: int
    body: Any
    headers: httpx.Headers
    response: httpx.Response = field(repr=False)
    #: sha256 of the body, when the request was given `unless_digest` (else empty).
    digest: str = ""
    same: bool = False  # the body had the digest `unless_digest` named, so it was not parsed

    @property
    def text(self) -> str:
        """The body as text; decoded only when asked (a 40 MB listing must not be held twice)."""
        return self.response.text

    @property
    def size(self) -> int:
        """The body's length in bytes."""
        return len(self.response.content)


def body_digest(content: bytes) -> str:
    """sha256 of a response body: equal digests mean byte-identical responses."""
    return hashlib.sha256(content).hexdigest()


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    source: str,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    expect: Iterable[int] = (200,),
    unless_digest: str | None = None,
) -> ApiResponse:
    """Send one request (retried per the client's policy) and return it if its status is in `expect`.

    A 2xx body must be JSON (or empty). For an expected non-2xx status a body that is not JSON gives
    `body=None` (the raw text is in `.text`). Raises UnreachableError when the host cannot be reached,
    AuthError on an unexpected 401/403, ResponseError (with `.status`) on any other unexpected status.
    Given `unless_digest`, the body's `digest` is computed, and a body with that digest is not parsed
    (`body=None`, `same=True`).
    """
    expected = frozenset(expect)
    if json is not None:
        # httpx would encode with the standard library, several times slower on large dashboards.
        headers = {**(headers or {}), "Content-Type": "application/json"}
        req = client.build_request(method, url, params=params, content=jsontext.dumps(json), headers=headers)
    else:
        req = client.build_request(method, url, params=params, data=data, headers=headers)
    call = _Call(source, method, req.url.path or "/", client.auth, _secrets_of(client, params, data))
    try:
        response = client.send(req)
    except httpx.TransportError as exc:
        attempts = int(req.extensions.get(_ATTEMPTS, 1))
        origin = f"{req.url.scheme}://{req.url.netloc.decode('ascii', 'replace')}"
        reason = _short(call.scrub(_transport_reason(exc)))
        plural = "s" if attempts != 1 else ""
        raise UnreachableError(
            f"{source}: cannot reach {origin} ({reason}) after {attempts} attempt{plural}"
        ) from None
    except httpx.HTTPError as exc:
        raise ResponseError(
            f"{source}: {method} {call.path} failed: {_short(call.scrub(str(exc)))}"
        ) from None
    # httpx's stream wrapper points back at its response: a reference cycle that would keep every body
    # alive until the cyclic collector runs. The body has been read, so the wrapper can go.
    response.stream = httpx.ByteStream(b"")
    logger.debug("%s %s -> %s", method, redact_url(str(req.url)), response.status_code)
    if response.status_code in expected:
        if unless_digest is None:
            return call.parse(response)
        digest = body_digest(response.content)
        if digest == unless_digest:
            return ApiResponse(
                response.status_code, None, response.headers, response, digest=digest, same=True
            )
        return replace(call.parse(response), digest=digest)
    raise call.status_error(response, attempts=int(req.extensions.get(_ATTEMPTS, 1)))


def request_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    source: str,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    expect: Iterable[int] = (200,),
) -> Any:
    """Like `request` but return only the parsed JSON body (None for an empty body)."""
    return request(
        client,
        method,
        url,
        source=source,
        params=params,
        json=json,
        data=data,
        headers=headers,
        expect=expect,
    ).body


def _env_proxy(base_url: str) -> str | None:
    """The proxy from HTTP(S)_PROXY / NO_PROXY for `base_url`'s host, or None.

    httpx ignores these variables once a custom transport is given, so they are applied here.
    """
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    host = url.host
    if not proxy or not host or host in ("localhost", "127.0.0.1", "::1"):
        return None
    if urllib.request.proxy_bypass(host):
        return None
    return proxy


def redact_url(url: str) -> str:
    """`url` with the values of credential-like query keys replaced by `***`, safe to log."""
    parsed = httpx.URL(url)
    if not parsed.query:
        return url
    pairs = parse_qsl(parsed.query.decode("ascii", "replace"), keep_blank_values=True)
    clean = [(key, "***" if key.lower() in REDACTED_KEYS else value) for key, value in pairs]
    return str(parsed.copy_with(query=urlencode(clean, safe="*").encode("ascii")))


# --- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """What the error messages of one request need to know."""

    source: str
    method: str
    path: str
    auth: httpx.Auth | None
    secrets: list[str]

    def scrub(self, text: str) -> str:
        """`text` with every secret of this request, and every registered one, in any encoding, masked."""
        own = redaction.Redactor()  # built only when a message is made: errors are rare
        username = self.auth.username if isinstance(self.auth, BasicAuth) else None
        for secret in self.secrets:
            own.register(secret, username=username)
        return redaction.scrub(own.scrub(text))

    def parse(self, response: httpx.Response) -> ApiResponse:
        """The ApiResponse of an expected status; a 2xx body that is not JSON is a ResponseError."""
        status = response.status_code
        body: Any = None
        if response.content.strip():
            try:
                body = jsontext.loads(response.content)
            except ValueError as exc:
                if 200 <= status < 300:
                    start = self.scrub(response.text)[:60]
                    why = _short(f"{exc}; body starts {start!r}")
                    raise ResponseError(
                        f"{self.source}: {self.path} returned a body that is not JSON ({why})", status=status
                    ) from None
        return ApiResponse(status=status, body=body, headers=response.headers, response=response)

    def status_error(self, response: httpx.Response, *, attempts: int) -> AuthError | ResponseError:
        """The error for a status the caller did not expect."""
        status = response.status_code
        reason = response.reason_phrase or "HTTP error"
        detail = _server_message(response, self.scrub)
        said = f" (server says: {detail})" if detail else ""
        if status == 401:
            if isinstance(self.auth, BearerAuth):
                hint = "check the token"
            elif isinstance(self.auth, httpx.BasicAuth):
                hint = "check the username and password"
            else:
                hint = "check the credentials"
            return AuthError(f"{self.source}: 401 {reason} from {self.path}: {hint}{said}")
        if status == 403:
            return AccessDeniedError(
                f"{self.source}: 403 {reason} from {self.path}: the credentials lack this permission{said}"
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return ResponseError(
            f"{self.source}: {self.method} {self.path} returned {status} {reason}{tries}{said}", status=status
        )


def _server_message(response: httpx.Response, scrub: Callable[[str], str]) -> str:
    """A short excerpt of the error the server gave: its JSON `message`-like field, else the body."""
    # Scrubbed before it is cut short, so no prefix of a secret can survive at the cut.
    text = scrub(response.text)
    try:
        body = jsonlib.loads(text) if text.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        # Grafana uses `message`, Arduino (goa) `detail`, OAuth2 `error_description` / `error`.
        for key in ("message", "error_description", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _short(value)
    return _short(text)


def _short(text: str) -> str:
    one_line = re.sub(r"\s+", " ", text).strip()
    return one_line if len(one_line) <= _EXCERPT else one_line[: _EXCERPT - 3] + "..."


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, httpx.ReadTimeout):
        return "read timed out"
    if isinstance(exc, httpx.WriteTimeout):
        return "write timed out"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    cert = _cause(exc, ssl.SSLCertVerificationError)
    if cert is not None:
        return f"TLS certificate verification failed: {cert.verify_message or cert}"
    message = str(exc) or type(exc).__name__
    # "[Errno 111] Connection refused" -> "connection refused"
    message = re.sub(r"^\[Errno -?\d+\]\s*", "", message)
    return message[:1].lower() + message[1:]


def _cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of type `kind` in `exc`'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _secrets_of(
    client: httpx.Client, params: Mapping[str, Any] | None, data: Mapping[str, str] | None
) -> list[str]:
    """Values that must never appear in a message, even if a server echoes them back."""
    found: list[str] = []
    auth = client.auth
    if isinstance(auth, BearerAuth):
        found.append(auth.token.get_secret_value())
    elif isinstance(auth, BasicAuth):
        found.append(auth.password.get_secret_value())
    for mapping in (params, data):
        for key, value in (mapping or {}).items():
            if key.lower() in REDACTED_KEYS and isinstance(value, str):
                found.append(value)
    return [secret for secret in found if secret]
