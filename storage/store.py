"""The store interface every backend implements (git now, S3 alike): snapshots in, snapshots out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from storage.errors import NotFoundError
from storage.model import Changes, Entry, Manifest, SnapshotInfo, short_id
from storage.restores import RestoredIds, RestoreRecord
from storage.retention import KeepPolicy


class SnapshotWriter(Protocol):
    """One run's write session, holding the store's lock from `begin()` until commit or abort."""

    @property
    def previous(self) -> Manifest | None:
        """The newest snapshot's manifest, read under the lock."""

    def put(self, entry: Entry, content: dict[str, Any]) -> None:
        """Store the (normalized) content of a new or changed item."""

    def stored(self, digest: str) -> bool:
        """Whether the store holds this content (as of the write session's start, or put since)."""

    def delete(self, entry: Entry) -> None:
        """Record that a previous item is gone."""

    def commit(self, manifest: Manifest, changes: Changes, *, force: bool = False) -> SnapshotInfo | None:
        """Make the snapshot; returns None (and writes nothing) when `changes` is empty, unless `force`."""

    def abort(self) -> None:
        """Give up the session: nothing becomes visible, the lock is released."""

    def __enter__(self) -> SnapshotWriter: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@dataclass
class PruneReport:
    """What `Store.prune` kept and removed (or would have, with `dry_run`)."""

    dry_run: bool
    kept: list[tuple[SnapshotInfo, list[str]]] = field(default_factory=list)
    """Kept snapshots, newest first, with the rules that kept each."""
    removed: list[SnapshotInfo] = field(default_factory=list)
    blobs_kept: int = 0
    blobs_removed: int = 0
    bytes_removed: int = 0


class Store(Protocol):
    """A sequence of snapshots: list them, read manifests and verified content, follow one key."""

    def describe(self) -> str:
        """Where the store is, for messages (never includes credentials)."""

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, newest first."""

    def manifest(self, snapshot_id: str) -> Manifest:
        """The manifest of one snapshot (a full id)."""

    def load(self, snapshot_id: str, entry: Entry) -> dict[str, Any]:
        """An item's stored content, verified against `entry.hash` (CorruptDataError otherwise)."""

    def history(self, source: str, kind: str, key: str) -> Iterator[tuple[SnapshotInfo, Entry | None]]:
        """Snapshots in which this item appeared, changed or vanished (None), newest first."""

    def check_writable(self) -> None:
        """Raise StoreError naming why a backup could not write here (`check` runs it)."""

    def begin(self) -> SnapshotWriter:
        """Start a write session (takes the lock)."""

    def restores(self) -> RestoredIds:
        """The restore records (storage/restores.py): where restores put items under new ids."""

    def record_restore(self, record: RestoreRecord) -> None:
        """Append one restore record (no lock needed: records are append-only)."""

    def prune(self, policy: KeepPolicy, *, dry_run: bool = False) -> PruneReport:
        """Forget the snapshots `policy` does not keep, then the data only they used (takes the lock)."""


def resolve_snapshot(store: Store, ref: str) -> SnapshotInfo:
    """Find a snapshot by full id, unique id prefix, or ``latest``."""
    snaps = store.snapshots()
    if not snaps:
        raise NotFoundError(f"{store.describe()}: no snapshots yet")
    if ref == "latest":
        whole = [s for s in snaps if s.damaged is None]
        if not whole:
            raise NotFoundError(f"{store.describe()}: no snapshot can be read ({snaps[0].damaged})")
        return whole[0]
    matches = [s for s in snaps if s.id == ref] or [s for s in snaps if ref and s.id.startswith(ref)]
    if not matches:
        raise NotFoundError(f"{store.describe()}: no snapshot matches {ref!r}")
    if len(matches) > 1:
        ids = ", ".join(short_id(s.id) for s in matches[:5])
        raise NotFoundError(f"{store.describe()}: snapshot prefix {ref!r} is ambiguous ({ids})")
    return matches[0]
