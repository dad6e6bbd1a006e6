"""S3SnapshotWriter, one run's write session: holds the lock, uploads new blobs (only if absent) on a
bounded pool, then names the snapshot and writes its manifest last, with ``If-None-Match: *``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import zstandard
from botocore.exceptions import ClientError

from storage.errors import StoreError
from storage.hashing import canonical, sha256_hex
from storage.model import Changes, Entry, Manifest, SnapshotInfo
from storage.s3.client import _not_implemented, _precondition_failed
from storage.s3.compression import _Compression
from storage.s3.config import COMPRESSION_LEVEL, _json_bytes
from storage.s3.lock import S3Lock
from storage.s3.manifests import SNAPSHOT_ID, _name_time, snapshot_name

if TYPE_CHECKING:
    from storage.s3.store import S3Store

log = logging.getLogger("dashvault.s3")


class S3SnapshotWriter:
    """A write session: the lock, the known blobs, and a bounded pool uploading new blobs concurrently."""

    def __init__(self, store: S3Store, lock: S3Lock) -> None:
        self._store = store
        self._lock: S3Lock | None = lock
        ids = store.snapshot_ids()
        self._newest = ids[0] if ids else None
        # The newest readable snapshot: a damaged manifest holds back neither this run nor its
        # unchanged items (their blobs are still there; only that snapshot's list of them is lost).
        self._previous = store.newest_readable() if ids else None
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

    def stored(self, digest: str) -> bool:
        """In the run's listing of ``blobs/``, or uploaded since (a blob removed by hand is not)."""
        with self._mu:
            return digest in self._known or digest in self._pending

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
        except StoreError:
            # An error answer (a 500, a reset) may come after the server stored the object: only
            # reading it back tells. Ours, byte for byte: the snapshot exists, and is reported so.
            try:
                existing = store._get(key)
            except StoreError:
                existing = None
            if existing is not None and existing.body == body:
                log.warning(
                    "the manifest was stored although its write was answered with an error",
                    extra={"event": "s3.manifest.confirmed", "key": key},
                )
                return
            raise
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
