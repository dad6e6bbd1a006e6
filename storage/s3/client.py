"""The S3 client and its errors: one boto3 session per process, a client made from the store's options
(endpoint_url, region, credentials, retries, pool size), and botocore's errors translated into
StoreError messages that name the store and never a secret.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from storage import redaction
from storage.errors import StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
)


_SESSION_LOCK = threading.Lock()
_SESSION: list[boto3.session.Session] = []


def _session() -> boto3.session.Session:
    """One boto3 session per process: it caches the service models every client would load again."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _precondition_failed(exc: ClientError) -> bool:
    return _code(exc) in _PRECONDITION_CODES or _status(exc) == 412


def _not_implemented(exc: ClientError) -> bool:
    return _code(exc) == "NotImplemented" or _status(exc) == 501


def _missing(exc: ClientError) -> bool:
    return _code(exc) in ("NoSuchKey", "404") or (_status(exc) == 404 and _code(exc) != "NoSuchBucket")


def _clean_url(url: str) -> str:
    """An endpoint URL without user info, query or fragment, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Client:
    """The bottom of S3Store: its settings, the boto3 client made from them, and error translation."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    _credentials: tuple[str | None, str | None] | None
    workers: int
    retries: int
    _client: S3Client | None
    _client_lock: threading.Lock

    def describe(self) -> str:
        where = f"s3 store s3://{self.bucket}/{self.prefix}"
        return f"{where} at {_clean_url(self.endpoint_url)}" if self.endpoint_url else where

    # -- the client and its errors ------------------------------------------------------------

    @property
    def client(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> S3Client:
        options: dict[str, Any] = {
            "retries": {"max_attempts": self.retries + 1, "mode": "standard"},
            "max_pool_connections": self.workers * 2 + 4,
            "connect_timeout": 10,
            "read_timeout": 60,
        }
        if self.endpoint_url:
            # S3-compatible servers are addressed by path and may not know the newer default checksums;
            # every blob is verified by its sha256 anyway.
            options["s3"] = {"addressing_style": "path"}
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        key_id, secret = self._credentials or (None, None)
        try:
            with _SESSION_LOCK:
                return _session().client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    aws_access_key_id=key_id,
                    aws_secret_access_key=secret,
                    config=BotoConfig(**options),
                )
        except (BotoCoreError, ValueError) as exc:
            raise StoreError(self._scrub(f"{self.describe()}: cannot set up the S3 client: {exc}")) from exc

    def _scrub(self, text: str) -> str:
        own = redaction.Redactor()  # the store's keys in every encoding, as every output scrubs them
        for secret in self._credentials or ():
            own.register(secret)
        return _one_line(redaction.scrub(own.scrub(text)))

    def _error(self, exc: Exception, action: str, key: str = "") -> StoreError:
        where = f"{self.describe()}: {action}" + (f" {key}" if key else "")
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code == "NoSuchBucket":
                text = f"{self.describe()}: bucket {self.bucket!r} does not exist"
            elif code in ("AccessDenied", "AllAccessDisabled", "403") or _status(exc) == 403:
                text = f"{where}: access denied"
            elif code in _CREDENTIAL_CODES:
                text = f"{self.describe()}: the credentials were rejected ({code})"
            else:
                message = str(exc.response.get("Error", {}).get("Message", ""))
                text = f"{where}: {code or _status(exc)} {message}".rstrip()
        elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
            text = (
                f"{self.describe()}: no S3 credentials: set access_key_id and secret_access_key in "
                "[storage], or configure the AWS credential chain (environment, profile, instance role)"
            )
        elif isinstance(
            exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError
        ):
            endpoint = _clean_url(self.endpoint_url) if self.endpoint_url else "AWS S3"
            text = f"{self.describe()}: cannot reach {endpoint} ({type(exc).__name__})"
        else:
            text = f"{where}: {exc}"
        return StoreError(self._scrub(text))
