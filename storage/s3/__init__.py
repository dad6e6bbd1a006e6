"""S3Store: content-addressed zstd blobs and one manifest object per snapshot (DESIGN.md section 4).

Layout under the prefix: ``config.json`` (format, compression), ``blobs/<hh>/<sha256>`` (zstd of the
canonical JSON, written only when absent), ``dictionaries/<dict id>`` (zstd dictionaries, never
deleted) and ``snapshots/<YYYYMMDDTHHMMSSZ>-<run>.json.zst`` (the manifest, written last with
``If-None-Match: *``). A snapshot is visible only once its manifest exists, and every blob it names
was uploaded before, so a crash at any point leaves the previous snapshots whole. Writers and prune
hold ``lock``, an object created with a conditional write and refreshed while they run.

The package, bottom up: `client` (the boto3 client and error translation), `objects` (get, put,
delete, list: the thin backend), `config` (config.json), `blobs`, `manifests`, `compression` (zstd
level and dictionary), `lock`, `writer` (a write session) and `store` (S3Store, composing them).
"""

from storage.s3.compression import DICTIONARY_SIZE
from storage.s3.config import COMPRESSION_LEVEL, STORE_FORMAT
from storage.s3.lock import S3Lock
from storage.s3.manifests import MANIFEST_SUFFIX, SNAPSHOT_ID, snapshot_name
from storage.s3.store import S3Store
from storage.s3.writer import S3SnapshotWriter

__all__ = [
    "COMPRESSION_LEVEL",
    "DICTIONARY_SIZE",
    "MANIFEST_SUFFIX",
    "SNAPSHOT_ID",
    "STORE_FORMAT",
    "S3Lock",
    "S3SnapshotWriter",
    "S3Store",
    "snapshot_name",
]
