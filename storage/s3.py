"""S3Store: content-addressed zstd blobs and one manifest object per snapshot (DESIGN.md section 4).

Layout under the prefix: ``config.json`` (format, compression), ``blobs/<hh>/<sha256>`` (zstd of the
canonical JSON, written only when absent), ``dictionaries/<dict id>`` (zstd dictionaries, never
deleted) and ``snapshots/<YYYYMMDDTHHMMSSZ>-<run>.json.zst`` (the manifest, written last with
``If-None-Match: *``). A snapshot is visible only once its manifest exists, and every blob it names
was uploaded before, so a crash at any point leaves the previous snapshots whole. Writers and prune
hold ``lock``, an object created with a conditional write and refreshed while they run.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import os
import random
import re
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3
import zstandard
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
from pydantic import ValidationError

from storage import jsontext
from storage.errors import CorruptDataError, NotFoundError, StoreError, StoreLockedError
from storage.hashing import canonical, sha256_hex
from storage.model import Changes, Entry, Manifest, SnapshotInfo
from storage.retention import KeepPolicy, apply_policy
from storage.store import PruneReport

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("dashvault.s3")

#: Version of the layout described in README.md ("Storage format: s3").
STORE_FORMAT = 1
COMPRESSION_LEVEL = 10
#: Dictionary size: the benchmark (benchmarks/compression.py) found 64 KB the best trade-off.
DICTIONARY_SIZE = 64 * 1024
MANIFEST_SUFFIX = ".json.zst"
SNAPSHOT_ID = re.compile(r"(\d{8}T\d{6}Z)-([0-9a-f]{8})")
_HASH = re.compile(r"[0-9a-f]{64}")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# Nothing dashvault stores comes near this; a frame claiming more is corrupt or hostile.
_MAX_OBJECT = 512 * 1024 * 1024
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
)
_DELETE_BATCH = 1000
# Training a dictionary: how many of the store's blobs to sample, and how much data at most.
_DICT_SAMPLES = 256
_DICT_SAMPLE_BYTES = 16 * 1024 * 1024
# A dictionary is kept only if it saves at least this share on blobs it was not trained on.
_DICT_MIN_SAVING = 0.10

T = TypeVar("T")
U = TypeVar("U")


_SESSION_LOCK = threading.Lock()
_SESSION: list[boto3.session.Session] = []


def _session() -> boto3.session.Session:
    """One boto3 session per process: it caches the service models every client would load again."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def snapshot_name(time: datetime, run: str) -> str:
    """The id (and object name, without suffix) of a snapshot: ``<YYYYMMDDTHHMMSSZ>-<run>``."""
    return f"{time.astimezone(UTC).strftime(_TIME_FORMAT)}-{run}"


def _name_time(snapshot_id: str) -> datetime:
    return datetime.strptime(snapshot_id[:16], _TIME_FORMAT).replace(tzinfo=UTC)


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


@dataclass
class _Object:
    body: bytes
    etag: str
    last_modified: datetime
    server_time: datetime | None


@dataclass(frozen=True)
class _Compression:
    level: int
    dictionary: zstandard.ZstdCompressionDict | None = None


class S3Store:
    """Snapshots in an S3 bucket (AWS, MinIO, Ceph, R2 ... via `endpoint_url`); ids are `<time>-<run>`."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "dashvault/",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        sse: str | None = None,
        kms_key_id: str | None = None,
        storage_class: str | None = None,
        lock_ttl: float = 300.0,
        workers: int = 8,
        retries: int = 4,
        dictionary_min_blobs: int = 64,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        keys = (access_key_id, secret_access_key)
        self._credentials = keys if access_key_id and secret_access_key else None
        self.sse = sse or None
        self.kms_key_id = kms_key_id or None
        self.storage_class = storage_class or None
        self.lock_ttl = lock_ttl
        self.workers = max(1, workers)
        self.retries = retries
        self.dictionary_min_blobs = dictionary_min_blobs
        self._client: S3Client | None = None
        self._client_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._infos: dict[str, SnapshotInfo] = {}
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}
        self._config: dict[str, Any] | None = None
        self._config_etag = ""

    def describe(self) -> str:
        where = f"s3 store s3://{self.bucket}/{self.prefix}"
        return f"{where} at {_clean_url(self.endpoint_url)}" if self.endpoint_url else where

    # -- keys ---------------------------------------------------------------------------------

    def blob_location(self, digest: str) -> str:
        """The object key of the blob with this content hash."""
        return f"{self.prefix}blobs/{digest[:2]}/{digest}"

    def _manifest_key(self, snapshot_id: str) -> str:
        return f"{self.prefix}snapshots/{snapshot_id}{MANIFEST_SUFFIX}"

    def _dictionary_key(self, dict_id: int) -> str:
        return f"{self.prefix}dictionaries/{dict_id:08x}"

    @property
    def _config_key(self) -> str:
        return f"{self.prefix}config.json"

    @property
    def _lock_key(self) -> str:
        return f"{self.prefix}lock"

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
        for secret in self._credentials or ():
            if secret and len(secret) >= 8:  # real keys are 20 and 40 characters; never mask a letter
                text = text.replace(secret, "***")
        return _one_line(text)

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

    # -- object operations --------------------------------------------------------------------

    def _get(self, key: str) -> _Object | None:
        """The object, or None if there is no such key."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise self._error(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "reading", key) from exc
        date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        server_time = None
        if date:
            with contextlib.suppress(TypeError, ValueError):
                server_time = email.utils.parsedate_to_datetime(date)
        return _Object(body, str(resp.get("ETag", "")), resp["LastModified"], server_time)

    def _put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str = "", data: bool = False
    ) -> str:
        """Write an object; returns its ETag. Precondition failures surface as ClientError."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match:
            args["IfMatch"] = if_match
        if self.sse:
            args["ServerSideEncryption"] = self.sse
            if self.kms_key_id:
                args["SSEKMSKeyId"] = self.kms_key_id
        if data and self.storage_class:
            args["StorageClass"] = self.storage_class
        try:
            resp = self.client.put_object(**args)
        except ClientError as exc:
            if (if_none_match or if_match) and (_precondition_failed(exc) or _not_implemented(exc)):
                raise
            raise self._error(exc, "writing", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "writing", key) from exc
        return str(resp.get("ETag", ""))

    def _delete(self, key: str, *, if_match: str = "") -> None:
        try:
            if if_match:
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=if_match)
            else:
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if if_match and (_precondition_failed(exc) or _not_implemented(exc)):
                raise
            if _missing(exc):
                return
            raise self._error(exc, "deleting", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "deleting", key) from exc

    def _delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                resp = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._error(exc, "deleting", f"{len(batch)} objects") from exc
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                raise StoreError(
                    self._scrub(
                        f"{self.describe()}: deleting {first.get('Key', '?')} failed: "
                        f"{first.get('Code', '')} {first.get('Message', '')} ({len(errors)} objects failed)"
                    )
                )

    def _list(self, sub: str) -> Iterator[tuple[str, int]]:
        """(key relative to the prefix + `sub`, size) of every object under `<prefix><sub>`."""
        start = self.prefix + sub
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(start) :], int(obj.get("Size", 0))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "listing", start) from exc

    def _map(self, fn: Callable[[T], U], items: Iterable[T]) -> Iterator[U]:
        """`fn` over `items` on the worker threads, in order, never more than a few results ahead."""
        pending = list(items)
        if len(pending) <= 1:
            yield from map(fn, pending)
            return
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="s3") as pool:
            step = self.workers * 2
            for start in range(0, len(pending), step):
                yield from pool.map(fn, pending[start : start + step])

    # -- compression --------------------------------------------------------------------------

    def _decompress(self, data: bytes, what: str) -> bytes:
        try:
            params = zstandard.get_frame_parameters(data)
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"{what} is not zstd data ({exc})") from exc
        if params.content_size != zstandard.CONTENTSIZE_UNKNOWN and params.content_size > _MAX_OBJECT:
            raise CorruptDataError(f"{what} claims an implausible size ({params.content_size} bytes)")
        dictionary = self._dictionary(params.dict_id, what) if params.dict_id else None
        if dictionary is not None:
            dctx = zstandard.ZstdDecompressor(dict_data=dictionary)
        else:
            dctx = zstandard.ZstdDecompressor()
        try:
            return dctx.decompress(data, max_output_size=_MAX_OBJECT)
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"{what} does not decompress ({exc})") from exc

    def _dictionary(self, dict_id: int, what: str) -> zstandard.ZstdCompressionDict:
        with self._cache_lock:
            found = self._dictionaries.get(dict_id)
        if found is not None:
            return found
        key = self._dictionary_key(dict_id)
        obj = self._get(key)
        if obj is None:
            raise CorruptDataError(f"{what} needs dictionary {key}, which is missing")
        listed = self._read_config().get("dictionaries")
        recorded = {d.get("id"): d.get("sha256") for d in listed or [] if isinstance(d, dict)}
        expected = recorded.get(f"{dict_id:08x}")
        if expected and sha256_hex(obj.body) != expected:
            raise CorruptDataError(f"{self.describe()}: dictionary {key} does not match its hash")
        dictionary = zstandard.ZstdCompressionDict(obj.body)
        if dictionary.dict_id() != dict_id:
            raise CorruptDataError(f"{self.describe()}: dictionary {key} has id {dictionary.dict_id():08x}")
        with self._cache_lock:
            self._dictionaries[dict_id] = dictionary
        return dictionary

    # -- config.json --------------------------------------------------------------------------

    def _read_config(self) -> dict[str, Any]:
        """The store's config.json ({} if there is none yet), checked for a format we can read."""
        if self._config is None:
            obj = self._get(self._config_key)
            if obj is None:
                return {}
            try:
                config = json.loads(obj.body)
            except ValueError as exc:
                raise CorruptDataError(f"{self.describe()}: {self._config_key} is not valid JSON") from exc
            if not isinstance(config, dict):
                raise CorruptDataError(f"{self.describe()}: {self._config_key} is not a JSON object")
            version = config.get("format")
            if not isinstance(version, int) or version > STORE_FORMAT:
                raise StoreError(
                    f"{self.describe()}: store format {version!r} is not supported by this version of "
                    f"dashvault (it reads format {STORE_FORMAT})"
                )
            self._config, self._config_etag = config, obj.etag
        return self._config

    def _ensure_config(self) -> dict[str, Any]:
        config = self._read_config()
        if config:
            return config
        fresh = {
            "format": STORE_FORMAT,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "compression": {"algorithm": "zstd", "level": COMPRESSION_LEVEL, "checksum": True},
            "dictionaries": [],
        }
        try:
            self._put(self._config_key, _json_bytes(fresh, indent=True), if_none_match=True)
        except ClientError as exc:
            if not _precondition_failed(exc):  # created by another writer at the same moment: fine
                raise self._error(exc, "writing", self._config_key) from exc
        return self._read_config()

    def _update_config(self, config: dict[str, Any]) -> None:
        """Replace config.json (under the lock), refusing if it changed since it was read."""
        body = _json_bytes(config, indent=True)
        try:
            etag = self._put(self._config_key, body, if_match=self._config_etag)
        except ClientError as exc:
            if not _not_implemented(exc):
                raise self._error(exc, "updating", self._config_key) from exc
            etag = self._put(self._config_key, body)  # conditional overwrite unsupported; we hold the lock
        self._config, self._config_etag = config, etag

    # -- reading ------------------------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        """Every snapshot id found under `snapshots/`, newest first, without reading the manifests."""
        ids = []
        for name, _ in self._list("snapshots/"):
            if name.endswith(MANIFEST_SUFFIX):
                stem = name[: -len(MANIFEST_SUFFIX)]
                if SNAPSHOT_ID.fullmatch(stem):
                    ids.append(stem)
        return sorted(ids, reverse=True)

    def blob_index(self) -> dict[str, int]:
        """Every stored blob: content hash -> stored (compressed) size, from one listing."""
        index = {}
        for name, size in self._list("blobs/"):
            head, _, digest = name.partition("/")
            if _HASH.fullmatch(digest) and head == digest[:2]:
                index[digest] = size
        return index

    def snapshots(self) -> list[SnapshotInfo]:
        self._read_config()
        ids = self.snapshot_ids()
        with self._cache_lock:
            todo = [i for i in ids if i not in self._infos]
        for _ in self._map(self.manifest, todo):
            pass
        with self._cache_lock:
            return [self._infos[i] for i in ids]

    def manifest(self, snapshot_id: str) -> Manifest:
        match = SNAPSHOT_ID.fullmatch(snapshot_id)
        if match is None:
            raise NotFoundError(f"{self.describe()}: no snapshot {snapshot_id!r}")
        with self._cache_lock:
            cached = self._manifests.get(snapshot_id)
            if cached is not None:
                self._manifests.move_to_end(snapshot_id)
                return cached
        key = self._manifest_key(snapshot_id)
        obj = self._get(key)
        if obj is None:
            raise NotFoundError(f"{self.describe()}: snapshot {snapshot_id} not found ({key})")
        raw = self._decompress(obj.body, f"{self.describe()}: manifest {key}")
        try:
            manifest = Manifest.model_validate_json(raw)
        except ValidationError as exc:
            raise CorruptDataError(
                f"{self.describe()}: manifest {key} is corrupt ({exc.error_count()} errors)"
            ) from exc
        if manifest.run != match.group(2):
            raise CorruptDataError(f"{self.describe()}: manifest {key} belongs to run {manifest.run!r}")
        self._remember(snapshot_id, manifest)
        return manifest

    def _remember(self, snapshot_id: str, manifest: Manifest) -> SnapshotInfo:
        info = SnapshotInfo(id=snapshot_id, time=manifest.time, run=manifest.run, sources=manifest.sources)
        with self._cache_lock:
            self._infos[snapshot_id] = info
            self._manifests[snapshot_id] = manifest
            self._manifests.move_to_end(snapshot_id)
            while len(self._manifests) > 8:
                self._manifests.popitem(last=False)
        return info

    def read_blob(self, digest: str, *, what: str = "") -> bytes:
        """A blob's canonical JSON bytes, verified against its hash (CorruptDataError otherwise)."""
        key = self.blob_location(digest)
        label = f"{self.describe()}: blob {key}" + (f" ({what})" if what else "")
        obj = self._get(key)
        if obj is None:
            raise CorruptDataError(f"{label} is missing")
        raw = self._decompress(obj.body, label)
        if sha256_hex(raw) != digest:
            raise CorruptDataError(f"{label} does not match its hash (corrupt)")
        return raw

    def load(self, snapshot_id: str, entry: Entry) -> dict[str, Any]:
        what = f"{entry.source} {entry.kind} {entry.key} in snapshot {snapshot_id}"
        raw = self.read_blob(entry.hash, what=what)
        try:
            content = jsontext.loads(raw)
        except ValueError as exc:
            raise CorruptDataError(f"{self.describe()}: blob of {what} is not valid JSON") from exc
        if not isinstance(content, dict):
            raise CorruptDataError(f"{self.describe()}: blob of {what} is not a JSON object")
        return content

    def history(self, source: str, kind: str, key: str) -> Iterator[tuple[SnapshotInfo, Entry | None]]:
        ident = (source, kind, key)

        def entry_of(snapshot_id: str) -> tuple[SnapshotInfo, Entry | None]:
            manifest = self.manifest(snapshot_id)
            info = SnapshotInfo(
                id=snapshot_id, time=manifest.time, run=manifest.run, sources=manifest.sources
            )
            return info, manifest.index().get(ident)

        newer: tuple[SnapshotInfo, Entry | None] | None = None
        for current in self._map(entry_of, self.snapshot_ids()):
            if newer is not None and _hash_of(newer[1]) != _hash_of(current[1]):
                yield newer
            newer = current
        if newer is not None and newer[1] is not None:
            yield newer

    # -- writing ------------------------------------------------------------------------------

    def begin(self) -> S3SnapshotWriter:
        lock = S3Lock(self, "backup")
        lock.acquire()
        self._config = None  # another run may have changed it (a new dictionary): read it under the lock
        try:
            return S3SnapshotWriter(self, lock)
        except BaseException:
            lock.release()
            raise

    def _compression(self, known: dict[str, int]) -> _Compression:
        """What new blobs are compressed with: trains a dictionary first if the store is ready for one."""
        config = self._ensure_config()
        compression = config.get("compression")
        level = compression.get("level") if isinstance(compression, dict) else None
        level = level if isinstance(level, int) and 1 <= level <= 22 else COMPRESSION_LEVEL
        dictionaries = config.get("dictionaries") or []
        if dictionaries:
            try:
                current = int(dictionaries[-1]["id"], 16)
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptDataError(
                    f"{self.describe()}: {self._config_key} names no valid dictionary"
                ) from exc
            return _Compression(level, self._dictionary(current, f"{self.describe()}: dictionary"))
        retry_at = max(self.dictionary_min_blobs, int(config.get("dictionary_retry_at", 0)))
        if self.dictionary_min_blobs <= 0 or len(known) < retry_at:
            return _Compression(level)
        return _Compression(level, self._train_dictionary(config, known, level))

    def _train_dictionary(
        self, config: dict[str, Any], known: dict[str, int], level: int
    ) -> zstandard.ZstdCompressionDict | None:
        """Train a dictionary on a sample of the store's blobs; keep it only if it pays for itself."""
        rng = random.Random(len(known))
        chosen = rng.sample(sorted(known), min(_DICT_SAMPLES, len(known)))
        samples: list[bytes] = []
        total = 0

        def fetch(digest: str) -> bytes | None:
            try:
                return self.read_blob(digest)
            except CorruptDataError:  # verify reports those; they just do not train anything
                return None

        for raw in self._map(fetch, chosen):
            if raw is not None and total < _DICT_SAMPLE_BYTES:
                samples.append(raw)
                total += len(raw)
        held_out, training = samples[::4], [s for n, s in enumerate(samples) if n % 4]
        verdict = _evaluate_dictionary(training, held_out, level, sum(known.values()))
        if verdict is None:
            config = {**config, "dictionary_retry_at": 2 * len(known)}
            self._update_config(config)
            log.info("zstd dictionary not worth it yet", extra={"event": "s3.dictionary.skipped"})
            return None
        dictionary, saving = verdict
        data = dictionary.as_bytes()
        key = self._dictionary_key(dictionary.dict_id())
        try:
            self._put(key, data, if_none_match=True)
        except ClientError as exc:
            if not _precondition_failed(exc):
                raise self._error(exc, "writing", key) from exc
            existing = self._get(key)
            if existing is None or existing.body != data:
                return None  # an unrelated dictionary with the same id: go on without one
        record = {
            "id": f"{dictionary.dict_id():08x}",
            "sha256": sha256_hex(data),
            "size": len(data),
            "samples": len(training),
            "saving": round(saving, 3),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._update_config({**config, "dictionaries": [*config.get("dictionaries", []), record]})
        with self._cache_lock:
            self._dictionaries[dictionary.dict_id()] = dictionary
        log.info(
            "trained a zstd dictionary",
            extra={"event": "s3.dictionary.trained", "dictionary": record["id"], "saving": record["saving"]},
        )
        return dictionary

    # -- retention ----------------------------------------------------------------------------

    def prune(self, policy: KeepPolicy, *, dry_run: bool = False) -> PruneReport:
        if policy.empty:
            raise StoreError(f"{self.describe()}: refusing to prune with a policy that keeps nothing")
        lock = None if dry_run else S3Lock(self, "prune")
        if lock is not None:
            lock.acquire()
        try:
            return self._prune(policy, lock)
        finally:
            if lock is not None:
                lock.release()

    def _prune(self, policy: KeepPolicy, lock: S3Lock | None) -> PruneReport:
        infos = self.snapshots()
        by_id = {s.id: s for s in infos}
        verdict = apply_policy([(s.id, s.time) for s in infos], policy)
        report = PruneReport(dry_run=lock is None)
        report.kept = [(by_id[i], reasons) for i, reasons in verdict.keep.items()]
        report.removed = [by_id[i] for i in verdict.remove]
        # Every kept manifest must be readable before anything is deleted.
        referenced: set[str] = set()
        for manifest in self._map(self.manifest, list(verdict.keep)):
            referenced.update(e.hash for e in manifest.entries)
        if lock is not None and report.removed:
            lock.check()
            self._delete_many([self._manifest_key(s.id) for s in report.removed])
            with self._cache_lock:
                for s in report.removed:
                    self._infos.pop(s.id, None)
                    self._manifests.pop(s.id, None)
        if lock is not None and set(self.snapshot_ids()) - set(verdict.keep):
            raise StoreError(f"{self.describe()}: a snapshot appeared during prune; blobs left in place")
        index = self.blob_index()
        unused = sorted(set(index) - referenced)
        report.blobs_kept = len(index) - len(unused)
        report.blobs_removed = len(unused)
        report.bytes_removed = sum(index[d] for d in unused)
        if lock is not None and unused:
            lock.check()
            self._delete_many([self.blob_location(d) for d in unused])
        return report


def _hash_of(entry: Entry | None) -> str | None:
    return entry.hash if entry is not None else None


def _json_bytes(data: Any, *, indent: bool = False) -> bytes:
    if indent:
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _evaluate_dictionary(
    training: list[bytes], held_out: list[bytes], level: int, store_bytes: int
) -> tuple[zstandard.ZstdCompressionDict, float] | None:
    """A dictionary and its saving on `held_out`, if it saves enough to be worth its own size."""
    if len(training) < 16 or not held_out:
        return None
    size = min(DICTIONARY_SIZE, max(4096, sum(map(len, training)) // 10))
    try:
        dictionary = zstandard.train_dictionary(
            size, list[bytes | bytearray | memoryview](training), level=level
        )
    except zstandard.ZstdError:
        return None
    plain = zstandard.ZstdCompressor(level=level)
    with_dict = zstandard.ZstdCompressor(level=level, dict_data=dictionary)
    before = sum(len(plain.compress(s)) for s in held_out)
    after = sum(len(with_dict.compress(s)) for s in held_out)
    saving = 1 - after / before if before else 0.0
    if saving < _DICT_MIN_SAVING or saving * store_bytes < len(dictionary.as_bytes()):
        return None
    return dictionary, saving


class S3Lock:
    """The store's lock object: created with ``If-None-Match: *``, refreshed while held, expiring.

    Expiry is judged on the server's clock (the object's Last-Modified against the response's Date),
    so clients with skewed clocks agree. A lock left by a dead process on this host is taken over at
    once; any other is taken over once it is `lock_ttl` seconds old without a refresh.
    """

    def __init__(self, store: S3Store, operation: str) -> None:
        self._store = store
        self.operation = operation
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._etag = ""
        self._created = ""
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return self._store._lock_key

    def _body(self) -> bytes:
        now = datetime.now(UTC)
        self._created = self._created or now.isoformat(timespec="seconds")
        return _json_bytes(
            {
                "owner": self.owner,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "boot": _boot_id(),
                "pidns": _pid_namespace(),
                "operation": self.operation,
                "created": self._created,
                "refreshed": now.isoformat(timespec="seconds"),
                "ttl": self._store.lock_ttl,
            },
            indent=True,
        )

    def acquire(self) -> None:
        """Take the lock or raise StoreLockedError naming its holder."""
        store = self._store
        for _ in range(4):
            try:
                self._etag = store._put(self.key, self._body(), if_none_match=True)
            except ClientError as exc:
                if not _precondition_failed(exc):
                    raise store._error(exc, "creating", self.key) from exc
            else:
                if self._confirm():
                    self._start_heartbeat()
                    return
                continue
            current = store._get(self.key)
            if current is None:
                continue  # released in between: try again
            holder = _lock_info(current.body)
            if not self._stale(current, holder):
                raise StoreLockedError(
                    f"{store.describe()}: another dashvault run holds the lock "
                    f"({holder.get('operation', '?')} by {holder.get('owner', '?')} "
                    f"since {holder.get('created', '?')}); "
                    f"it expires {holder.get('ttl', store.lock_ttl)}s after its last refresh"
                )
            log.warning(
                "taking over a stale lock",
                extra={"event": "s3.lock.takeover", "owner": holder.get("owner"), "key": self.key},
            )
            if self._take_over(current):
                self._start_heartbeat()
                return
        raise StoreLockedError(f"{store.describe()}: could not take the lock {self.key} (contended)")

    def _take_over(self, current: _Object) -> bool:
        store = self._store
        try:
            self._etag = store._put(self.key, self._body(), if_match=current.etag)
        except ClientError as exc:
            if _precondition_failed(exc):
                return False
            if not _not_implemented(exc):
                raise store._error(exc, "replacing", self.key) from exc
            # No conditional overwrite on this server: delete, then create as usual.
            store._delete(self.key)
            try:
                self._etag = store._put(self.key, self._body(), if_none_match=True)
            except ClientError as again:
                if _precondition_failed(again):
                    return False
                raise store._error(again, "creating", self.key) from again
        return self._confirm()

    def _confirm(self) -> bool:
        """Read the lock back: a server that ignored the condition lets the last writer win, not both."""
        current = self._store._get(self.key)
        return current is not None and _lock_info(current.body).get("owner") == self.owner

    def _stale(self, current: _Object, holder: dict[str, Any]) -> bool:
        if holder.get("host") == socket.gethostname() and holder.get("pid") != os.getpid():
            boot = holder.get("boot")
            if boot and boot != _boot_id():
                return True  # the machine restarted since
            # A pid means something only in the holder's pid namespace (containers share host names).
            if holder.get("pidns") == _pid_namespace() and not _pid_alive(holder.get("pid")):
                return True
        ttl = holder.get("ttl", self._store.lock_ttl)
        ttl = float(ttl) if isinstance(ttl, int | float) else self._store.lock_ttl
        now = current.server_time or datetime.now(UTC)
        return now - current.last_modified > timedelta(seconds=ttl)

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._heartbeat, name="s3-lock", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        interval = max(0.2, self._store.lock_ttl / 3)
        while not self._stop.wait(interval):
            try:
                self._refresh()
            except StoreError as exc:  # a transient failure: the next beat tries again
                log.warning("lock refresh failed", extra={"event": "s3.lock.refresh", "error": str(exc)})
            if self._lost:
                return

    def _refresh(self) -> None:
        store = self._store
        try:
            self._etag = store._put(self.key, self._body(), if_match=self._etag)
        except ClientError as exc:
            if _precondition_failed(exc):
                self._lost = True
                return
            if not _not_implemented(exc):
                raise store._error(exc, "refreshing", self.key) from exc
            if not self._confirm():
                self._lost = True
                return
            self._etag = store._put(self.key, self._body())

    def check(self) -> None:
        """Raise StoreLockedError unless the lock is still ours (read back from the store)."""
        if self._lost or not self._confirm():
            self._lost = True
            raise StoreLockedError(
                f"{self._store.describe()}: lost the lock {self.key} (it expired and another run took it)"
            )

    def release(self) -> None:
        """Stop refreshing and delete the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lost or not self._etag:
            return
        store = self._store
        with contextlib.suppress(StoreError):
            try:
                store._delete(self.key, if_match=self._etag)
            except ClientError as exc:
                if _not_implemented(exc) and self._confirm():
                    store._delete(self.key)
        self._etag = ""


def _lock_info(body: bytes) -> dict[str, Any]:
    try:
        info = json.loads(body)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: let the expiry decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class S3SnapshotWriter:
    """A write session: the lock, the known blobs, and a bounded pool uploading new blobs concurrently."""

    def __init__(self, store: S3Store, lock: S3Lock) -> None:
        self._store = store
        self._lock: S3Lock | None = lock
        ids = store.snapshot_ids()
        self._newest = ids[0] if ids else None
        self._previous = store.manifest(ids[0]) if ids else None
        self._known = store.blob_index()
        # Decided (and a dictionary perhaps trained) at the first new blob: a run that changes
        # nothing reads no blob and writes nothing.
        self._compression_settings: _Compression | None = None
        self._setup = threading.Lock()
        self._mu = threading.Lock()
        self._pending: set[str] = set()
        self._slots = threading.BoundedSemaphore(store.workers * 2)
        self._pool: ThreadPoolExecutor | None = None
        self._error: BaseException | None = None
        self._local = threading.local()
        self.uploaded = 0
        self.uploaded_bytes = 0

    @property
    def previous(self) -> Manifest | None:
        return self._previous

    @property
    def dictionary_id(self) -> int | None:
        """The id of the zstd dictionary new blobs are compressed with, if any."""
        d = self._compression().dictionary
        return d.dict_id() if d is not None else None

    def _compression(self) -> _Compression:
        with self._setup:
            if self._compression_settings is None:
                self._compression_settings = self._store._compression(self._known)
            return self._compression_settings

    def __enter__(self) -> S3SnapshotWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def put(self, entry: Entry, content: dict[str, Any]) -> None:
        self._raise_failed()
        with self._mu:
            if entry.hash in self._known or entry.hash in self._pending:
                return
            self._pending.add(entry.hash)
        self._compression()  # decided before the first upload starts, so `_known` is still as listed
        with self._mu:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._store.workers, thread_name_prefix="upload")
            pool = self._pool
        self._slots.acquire()  # bounds what waits in memory for an upload
        try:
            future = pool.submit(self._upload, entry, content)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._done)

    def delete(self, entry: Entry) -> None:
        """Nothing to write: the new manifest simply does not list the item."""

    def _compressor(self) -> zstandard.ZstdCompressor:
        cctx: zstandard.ZstdCompressor | None = getattr(self._local, "cctx", None)
        if cctx is None:
            c = self._compression()
            if c.dictionary is not None:
                cctx = zstandard.ZstdCompressor(level=c.level, dict_data=c.dictionary, write_checksum=True)
            else:
                cctx = zstandard.ZstdCompressor(level=c.level, write_checksum=True)
            self._local.cctx = cctx
        return cctx

    def _upload(self, entry: Entry, content: dict[str, Any]) -> None:
        data = canonical(content)
        if sha256_hex(data) != entry.hash:
            raise StoreError(
                f"{self._store.describe()}: content of {entry.source} {entry.kind} {entry.key} "
                "does not match its entry's hash"
            )
        body = self._compressor().compress(data)
        key = self._store.blob_location(entry.hash)
        try:
            self._store._put(key, body, if_none_match=True, data=True)
        except ClientError as exc:
            # Already there (content-addressed, so it is the same content) or no conditional writes.
            if _not_implemented(exc):
                self._store._put(key, body, data=True)
            elif not _precondition_failed(exc):
                raise self._store._error(exc, "writing", key) from exc
        with self._mu:
            self._known[entry.hash] = len(body)
            self.uploaded += 1
            self.uploaded_bytes += len(body)

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        if not future.cancelled() and (exc := future.exception()) is not None:
            with self._mu:
                self._error = self._error or exc

    def _raise_failed(self) -> None:
        if self._error is None:
            return
        exc = self._error
        if isinstance(exc, StoreError):
            raise StoreError(exc.message) from exc
        raise StoreError(f"{self._store.describe()}: uploading a blob failed: {exc!r}") from exc

    def _drain(self, *, cancel: bool = False) -> None:
        with self._mu:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=cancel)

    def _name(self, manifest: Manifest) -> str:
        if SNAPSHOT_ID.fullmatch(f"20000101T000000Z-{manifest.run}") is None:
            raise StoreError(f"{self._store.describe()}: run id {manifest.run!r} is not 8 hex digits")
        when = manifest.time.astimezone(UTC).replace(microsecond=0)
        if self._newest is not None:
            # Names sort in the order snapshots were written, even within one second or across clocks.
            when = max(when, _name_time(self._newest) + timedelta(seconds=1))
        return snapshot_name(when, manifest.run)

    def commit(self, manifest: Manifest, changes: Changes, *, force: bool = False) -> SnapshotInfo | None:
        if not changes and not force:
            self.abort()
            return None
        lock = self._lock
        if lock is None:
            raise StoreError(f"{self._store.describe()}: this write session has ended")
        try:
            self._drain()
            self._raise_failed()
            missing = sum(1 for e in manifest.entries if e.hash not in self._known)
            if missing:
                log.warning(
                    "snapshot references blobs the store does not have; run `dashvault verify`",
                    extra={"event": "s3.blobs_missing", "count": missing},
                )
            name = self._name(manifest)
            key = self._store._manifest_key(name)
            body = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL, write_checksum=True).compress(
                _json_bytes(manifest.model_dump(mode="json"))
            )
            lock.check()
            self._write_manifest(key, body)
        except BaseException:
            self.abort()
            raise
        info = self._store._remember(name, manifest)
        self._release()
        return info

    def _write_manifest(self, key: str, body: bytes) -> None:
        store = self._store
        try:
            store._put(key, body, if_none_match=True, data=True)
        except ClientError as exc:
            if _precondition_failed(exc):
                existing = store._get(key)
                if existing is not None and existing.body == body:
                    return  # our own write, retried after a lost response
                raise StoreError(f"{store.describe()}: snapshot {key} already exists") from exc
            if not _not_implemented(exc):
                raise store._error(exc, "writing", key) from exc
            store._put(key, body, data=True)  # we hold the lock and the name is new

    def abort(self) -> None:
        self._drain(cancel=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
