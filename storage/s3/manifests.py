"""Manifests: one object per snapshot, ``snapshots/<YYYYMMDDTHHMMSSZ>-<run>.json.zst``. Snapshot names,
listing the snapshot ids, reading and checking a manifest (with a small cache), and an item's
history across them. The write session writes a manifest last, with ``If-None-Match: *``.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime

from pydantic import ValidationError

from storage.errors import CorruptDataError, NotFoundError
from storage.model import Entry, Manifest, SnapshotInfo
from storage.s3.blobs import _Blobs

MANIFEST_SUFFIX = ".json.zst"
SNAPSHOT_ID = re.compile(r"(\d{8}T\d{6}Z)-([0-9a-f]{8})")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"

log = logging.getLogger("dashvault.s3")


def snapshot_name(time: datetime, run: str) -> str:
    """The id (and object name, without suffix) of a snapshot: ``<YYYYMMDDTHHMMSSZ>-<run>``."""
    return f"{time.astimezone(UTC).strftime(_TIME_FORMAT)}-{run}"


def _name_time(snapshot_id: str) -> datetime:
    return datetime.strptime(snapshot_id[:16], _TIME_FORMAT).replace(tzinfo=UTC)


def _hash_of(entry: Entry | None) -> str | None:
    return entry.hash if entry is not None else None


class _Manifests(_Blobs):
    """Snapshot ids, manifests (read, checked, cached) and an item's history."""

    _infos: dict[str, SnapshotInfo]
    _manifests: OrderedDict[str, Manifest]

    # -- keys ---------------------------------------------------------------------------------

    def _manifest_key(self, snapshot_id: str) -> str:
        return f"{self.prefix}snapshots/{snapshot_id}{MANIFEST_SUFFIX}"

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

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, newest first; a damaged manifest is listed as damaged and touches no
        other snapshot."""
        self._read_config()
        ids = self.snapshot_ids()
        with self._cache_lock:
            todo = [i for i in ids if i not in self._infos]
        for snapshot_id, problem in zip(todo, self._map(self._read_info, todo), strict=True):
            if problem is not None:
                with self._cache_lock:
                    self._infos[snapshot_id] = SnapshotInfo(
                        id=snapshot_id,
                        time=_name_time(snapshot_id),
                        run=snapshot_id[-8:],
                        damaged=problem,
                    )
        with self._cache_lock:
            infos = [self._infos[i] for i in ids if i in self._infos]
        # Names follow the order snapshots were written (a writer names its snapshot after the
        # newest, even across clocks); two in one second, which only a hand or an older writer makes,
        # are told apart by their manifests' times rather than by their random suffixes.
        return sorted(infos, key=lambda s: (_name_time(s.id), s.time, s.id), reverse=True)

    def _read_info(self, snapshot_id: str) -> str | None:
        """Read one manifest into the cache; why it cannot be read, or None."""
        try:
            self.manifest(snapshot_id)
        except CorruptDataError as exc:
            log.warning(
                "a snapshot's manifest is damaged", extra={"snapshot": snapshot_id, "error": exc.message}
            )
            return exc.message
        except NotFoundError:
            return "its manifest vanished while the snapshots were listed"
        return None

    def newest_readable(self) -> Manifest | None:
        """The newest snapshot whose manifest reads (a damaged newer one is skipped, with a warning).

        Reads manifests newest first and stops at the first second that has a readable one: a run
        reads one manifest, not every snapshot's."""
        ids = self.snapshot_ids()
        while ids:
            second = [i for i in ids if i[:16] == ids[0][:16]]
            ids = ids[len(second) :]
            whole = [self.manifest(i) for i in second if self._read_info(i) is None]
            if whole:
                return max(whole, key=lambda m: m.time)
        return None

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

    def history(self, source: str, kind: str, key: str) -> Iterator[tuple[SnapshotInfo, Entry | None]]:
        ident = (source, kind, key)

        def entry_of(snapshot_id: str) -> tuple[SnapshotInfo, Entry | None] | None:
            try:
                manifest = self.manifest(snapshot_id)
            except CorruptDataError:
                return None  # a damaged snapshot says nothing of the item: left out of its history
            info = SnapshotInfo(
                id=snapshot_id, time=manifest.time, run=manifest.run, sources=manifest.sources
            )
            return info, manifest.index().get(ident)

        newer: tuple[SnapshotInfo, Entry | None] | None = None
        readable = (c for c in self._map(entry_of, self.snapshot_ids()) if c is not None)
        for current in readable:
            if newer is not None and _hash_of(newer[1]) != _hash_of(current[1]):
                yield newer
            newer = current
        if newer is not None and newer[1] is not None:
            yield newer
