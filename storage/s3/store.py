"""S3Store, composed of the pieces in this package: the client and object operations at the bottom,
config.json, blobs and manifests above them, compression beside manifests; taking the lock for a
write session (`begin`) and for `prune`, which forgets snapshots and then the blobs only they used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import zstandard

from storage.errors import StoreError
from storage.model import Manifest, SnapshotInfo
from storage.retention import KeepPolicy, apply_policy
from storage.s3.compression import _Compressing
from storage.s3.lock import S3Lock, probe_conditional_writes
from storage.s3.manifests import _Manifests
from storage.s3.restores import _Restores
from storage.s3.writer import S3SnapshotWriter
from storage.store import PruneReport

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Store(_Manifests, _Compressing, _Restores):
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
        self._conditional_ok = False  # set once the server was seen to honour If-None-Match
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

    # -- keys ---------------------------------------------------------------------------------

    @property
    def _lock_key(self) -> str:
        return f"{self.prefix}lock"

    # -- writing ------------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Write, overwrite-protect and remove a probe object: the store takes writes, and honours
        the conditional writes its lock and manifests need."""
        probe_conditional_writes(self)

    def begin(self) -> S3SnapshotWriter:
        lock = S3Lock(self, "backup")
        lock.acquire()
        self._config = None  # another run may have changed it (a new dictionary): read it under the lock
        try:
            return S3SnapshotWriter(self, lock)
        except BaseException:
            lock.release()
            raise

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
