"""The data model shared by collectors, stores and restore: items, entries, manifests, snapshots."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1

#: Kinds in the order restore replays them and the CLI prefers them when a key is ambiguous.
# Restore order: folders, then what dashboards use, dashboards, then what rides on an object.
KIND_ORDER = ("folder", "library-panel", "dashboard", "permissions", "public-dashboard", "shares")


def short_id(snapshot_id: str) -> str:
    """How a snapshot id is shown: 12 digits of a commit sha; an S3 id whole (its time part is ambiguous)."""
    if len(snapshot_id) == 40 and all(c in "0123456789abcdef" for c in snapshot_id):
        return snapshot_id[:12]
    return snapshot_id


def kind_rank(kind: str) -> int:
    """Where a kind sorts: folders first, then library panels, dashboards and what rides on them."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True)
class Item:
    """One object of one source as collected: `content` is what restore needs, `meta` is audit only."""

    source: str
    kind: str
    key: str
    title: str
    content: dict[str, Any]
    folder: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.source, self.kind, self.key)


class Entry(BaseModel):
    """One item in a manifest: where it came from and the hash of its content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    kind: str
    key: str
    title: str
    folder: str | None = None
    hash: str
    size: int
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.source, self.kind, self.key)


class SourceStatus(BaseModel):
    """What one run did for one source."""

    model_config = ConfigDict(extra="forbid")

    complete: bool = True
    items: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    failed: int = 0
    error: str | None = None
    # Said once per run and kept in the snapshot, e.g. that permissions could not be read.
    warnings: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    """A snapshot's full contents: one entry per item, sorted by (source, kind, key)."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT_VERSION
    time: datetime
    run: str
    sources: dict[str, SourceStatus] = Field(default_factory=dict)
    entries: list[Entry] = Field(default_factory=list)

    def index(self) -> dict[tuple[str, str, str], Entry]:
        return {e.ident: e for e in self.entries}

    def lookup(self, key: str, *, source: str | None = None, kind: str | None = None) -> list[Entry]:
        """Entries matching a key as a user types it: the exact key, else a unique ``*/key`` suffix.

        Ordered by `KIND_ORDER`, so a dashboard comes before its permissions.
        """
        pool = [
            e
            for e in self.entries
            if (source is None or e.source == source) and (kind is None or e.kind == kind)
        ]
        found = [e for e in pool if e.key == key] or [e for e in pool if e.key.endswith("/" + key)]
        return sorted(found, key=lambda e: (kind_rank(e.kind), e.source, e.key))


class SnapshotInfo(BaseModel):
    """A snapshot as listed: its id, time and per-source status, without the entries."""

    model_config = ConfigDict(extra="forbid")

    id: str
    time: datetime
    run: str = ""
    sources: dict[str, SourceStatus] = Field(default_factory=dict)
    damaged: str | None = None
    """Why its manifest cannot be read (its time is then the one in its name); None when whole."""

    @property
    def complete(self) -> bool:
        return all(s.complete for s in self.sources.values())


@dataclass
class Changes:
    """What a run changed relative to the previous snapshot, for commit messages and reports."""

    added: list[Entry] = field(default_factory=list)
    changed: list[Entry] = field(default_factory=list)
    deleted: list[Entry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def new_run_id() -> str:
    """Eight hex digits naming one run (the S3 store uses it in manifest names too)."""
    return uuid.uuid4().hex[:8]
