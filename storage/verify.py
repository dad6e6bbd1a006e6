"""Checking a store: every manifest readable, every content it references present (and intact).

Works on any `Store` through `manifest` and `load`: each distinct (item, hash) is loaded once; on
stores where each snapshot holds its own copy (git: a blob in the commit's tree), each distinct copy,
so that one snapshot's intact copy cannot hide another's damaged one. Stores that keep
content-addressed blobs (S3) offer a faster path: one listing tells which blobs exist, so without
`read_data` nothing is downloaded; with it, each distinct blob is downloaded and hashed once,
concurrently. Problems name the blob and every snapshot and item that references it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from storage.errors import CorruptDataError, DashvaultError, MissingDataError, NotFoundError
from storage.model import Entry, Manifest
from storage.store import Store

__all__ = [
    "BlobStore",
    "CopyStore",
    "ManifestProblem",
    "Problem",
    "Reference",
    "VerifyReport",
    "verify_store",
]


@runtime_checkable
class BlobStore(Protocol):
    """A store whose contents are blobs named by their hash (the S3 store)."""

    def snapshot_ids(self) -> list[str]:
        """Every snapshot id, without reading manifests."""
        ...

    def blob_index(self) -> dict[str, int]:
        """Every stored blob: hash -> stored size."""
        ...

    def blob_location(self, digest: str) -> str:
        """Where the blob with this hash is kept, for messages."""
        ...

    def read_blob(self, digest: str) -> bytes:
        """The blob's content, verified against its hash (CorruptDataError otherwise)."""
        ...


@runtime_checkable
class CopyStore(Protocol):
    """A store whose snapshots each hold their own copy of an item's content (the git store): two
    snapshots with the same manifest hash for an item need not hold the same stored object."""

    def stored_ids(self, snapshot_id: str, manifest: Manifest) -> dict[tuple[str, str, str], str]:
        """Entry ident -> the id of the object this snapshot stores for it (absent: none found)."""
        ...


@dataclass(frozen=True)
class Reference:
    """One use of a content: this item in this snapshot."""

    snapshot: str
    source: str
    kind: str
    key: str
    title: str


@dataclass
class Problem:
    """A content that is missing or does not match its hash, and everything that uses it."""

    hash: str
    problem: str  # "missing" or "corrupt"
    location: str
    error: str
    references: list[Reference] = field(default_factory=list)


@dataclass
class ManifestProblem:
    """A snapshot whose manifest cannot be read."""

    snapshot: str
    error: str


@dataclass
class VerifyReport:
    """What `verify_store` checked and found."""

    read_data: bool
    """Whether contents were downloaded and hashed (always, for stores without a blob index)."""
    snapshots: int = 0
    references: int = 0
    contents: int = 0
    """Distinct contents checked (blobs for S3, distinct item versions otherwise)."""
    unreferenced: int | None = None
    """Blobs no snapshot uses (S3 only): harmless, `prune` removes them."""
    problems: list[Problem] = field(default_factory=list)
    manifests: list[ManifestProblem] = field(default_factory=list)
    restore_records: int = 0
    damaged_records: list[str] = field(default_factory=list)
    """Restore records that cannot be read: restores of their items fall back on name and content,
    and backups record those items under their new ids."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.manifests and not self.damaged_records


T = TypeVar("T")
U = TypeVar("U")

# Content identity: the hash alone for blob stores, (source, kind, key, hash, stored copy) otherwise.
_Ident = tuple[str, ...]


def _manifests(
    store: Store, ids: list[str], report: VerifyReport, workers: int
) -> Iterator[tuple[str, Manifest]]:
    def read(snapshot_id: str) -> tuple[str, Manifest | DashvaultError]:
        try:
            return snapshot_id, store.manifest(snapshot_id)
        except DashvaultError as exc:
            return snapshot_id, exc

    for snapshot_id, got in _map(read, ids, workers):
        if isinstance(got, Manifest):
            yield snapshot_id, got
        elif not any(m.snapshot == snapshot_id for m in report.manifests):
            report.manifests.append(ManifestProblem(snapshot_id, got.message))


def _map(fn: Callable[[T], U], items: Iterable[T], workers: int) -> Iterator[U]:
    pending = list(items)
    # Serial or threaded, the same results in the same order: left unmutated (README "Mutation testing").
    if workers <= 1 or len(pending) <= 1:  # pragma: no mutate
        yield from map(fn, pending)
        return
    with ThreadPoolExecutor(workers, "verify") as pool:  # pragma: no mutate
        for start in range(0, len(pending), workers * 4):
            yield from pool.map(fn, pending[start : start + workers * 4])


def verify_store(store: Store, *, read_data: bool = False, workers: int = 8) -> VerifyReport:
    """Check every snapshot's references (and, with `read_data`, every content's hash)."""
    report = VerifyReport(read_data=read_data)
    blobs = isinstance(store, BlobStore)
    if isinstance(store, BlobStore):
        ids = store.snapshot_ids()
    else:
        ids = [s.id for s in store.snapshots()]
        workers = 1  # pragma: no mutate  (loads may share one reader process, git's: no threads)
    report.snapshots = len(ids)
    try:
        restored = store.restores()
        report.restore_records, report.damaged_records = len(restored.records), restored.damaged
    except DashvaultError as exc:
        report.damaged_records = [exc.message]
    report.read_data = read_data or not blobs  # other stores can only check a content by reading it

    def idents(snapshot_id: str, manifest: Manifest) -> Iterator[tuple[_Ident, Entry]]:
        if blobs:
            yield from (((e.hash,), e) for e in manifest.entries)
            return
        stored = store.stored_ids(snapshot_id, manifest) if isinstance(store, CopyStore) else {}
        for e in manifest.entries:
            yield (e.source, e.kind, e.key, e.hash, stored.get(e.ident, "")), e

    # Pass 1: one representative use of each distinct content (memory grows with contents, not uses).
    first_use: dict[_Ident, tuple[str, Entry]] = {}
    for snapshot_id, manifest in _manifests(store, ids, report, workers):
        report.references += len(manifest.entries)
        for k, e in idents(snapshot_id, manifest):
            first_use.setdefault(k, (snapshot_id, e))
    report.contents = len(first_use)

    bad: dict[_Ident, Problem] = {}
    to_load = list(first_use.items())
    if isinstance(store, BlobStore):
        index = store.blob_index()
        report.unreferenced = len(set(index) - {k[0] for k in first_use})
        for k, (_, e) in first_use.items():
            if e.hash not in index:
                location = store.blob_location(e.hash)
                bad[k] = Problem(e.hash, "missing", location, "is missing")
        to_load = [(k, use) for k, use in to_load if k not in bad] if read_data else []

    def check(item: tuple[_Ident, tuple[str, Entry]]) -> Problem | None:
        _, (snapshot_id, e) = item
        try:
            if isinstance(store, BlobStore):
                location = store.blob_location(e.hash)
                store.read_blob(e.hash)
            else:
                location = f"{e.source} {e.kind} {e.key}"
                store.load(snapshot_id, e)
        except (NotFoundError, MissingDataError) as exc:  # gone, as one listed then deleted before its read
            return Problem(e.hash, "missing", location, _reason(exc.message, location))
        except CorruptDataError as exc:  # there and unreadable, as a blob whose dictionary is gone
            return Problem(e.hash, "corrupt", location, _reason(exc.message, location))
        return None

    for (k, _), problem in zip(to_load, _map(check, to_load, workers), strict=True):
        if problem is not None:
            bad[k] = problem

    if bad:
        # Pass 2: name every snapshot and item that uses a bad content.
        for snapshot_id, manifest in _manifests(store, ids, report, workers):
            for k, e in idents(snapshot_id, manifest):
                if (problem := bad.get(k)) is not None:
                    problem.references.append(Reference(snapshot_id, e.source, e.kind, e.key, e.title))
        report.problems = sorted(bad.values(), key=lambda p: (p.problem, p.location))
    return report


def _reason(message: str, location: str) -> str:
    """The part of an error message after the location it names (which the report shows already)."""
    _, found, rest = message.partition(location)
    return rest.strip(" :") if found and rest.strip(" :") else message
