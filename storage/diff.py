"""Differences between two snapshots: which items were added, changed or deleted, and how."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from storage.hashing import pretty
from storage.model import Entry, Manifest


@dataclass
class ManifestDiff:
    """Items added, changed (old entry, new entry) and deleted between two manifests."""

    added: list[Entry] = field(default_factory=list)
    changed: list[tuple[Entry, Entry]] = field(default_factory=list)
    deleted: list[Entry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def diff_manifests(a: Manifest, b: Manifest, *, source: str | None = None) -> ManifestDiff:
    """Compare two manifests by content hash, optionally for one source only."""
    old = {k: e for k, e in a.index().items() if source is None or e.source == source}
    new = {k: e for k, e in b.index().items() if source is None or e.source == source}
    out = ManifestDiff()
    for k in sorted(new.keys() | old.keys()):
        if k not in old:
            out.added.append(new[k])
        elif k not in new:
            out.deleted.append(old[k])
        elif old[k].hash != new[k].hash:
            out.changed.append((old[k], new[k]))
    return out


def unified(old: Any, new: Any, *, old_label: str, new_label: str, context: int = 3) -> str:
    """A unified diff of the pretty JSON of two contents."""
    lines = difflib.unified_diff(
        pretty(old).decode().splitlines(keepends=True),
        pretty(new).decode().splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
        n=context,
    )
    return "".join(lines)
