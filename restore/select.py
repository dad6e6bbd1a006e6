"""Choosing what to restore: the snapshot (`--snapshot`, `--at`) and the items (`--key`, `--folder`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.errors import NotFoundError
from storage.model import Entry, Manifest, SnapshotInfo
from storage.store import Store, resolve_snapshot

OBJECT_KINDS = ("folder", "library-panel", "dashboard")


def choose_snapshot(store: Store, ref: str | None, at: str | None) -> SnapshotInfo:
    """`--snapshot ID|prefix|latest`, or `--at ISO-TIME`: the newest snapshot at or before that time."""
    if ref and at:
        raise NotFoundError("give either --snapshot or --at, not both")
    if at is None:
        return resolve_snapshot(store, ref or "latest")
    try:
        when = datetime.fromisoformat(at)
    except ValueError as exc:
        raise NotFoundError(f"--at {at!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    earlier = [s for s in store.snapshots() if s.time <= when and s.damaged is None]
    if not earlier:
        raise NotFoundError(f"no snapshot at or before {when.isoformat()} in {store.describe()}")
    return max(earlier, key=lambda s: s.time)


@dataclass
class Selection:
    """The items asked for, and the parent folders they need (created only if missing)."""

    selected: list[Entry]
    dependencies: list[Entry]
    depth: Callable[[Entry], int]


def _org(key: str) -> str:
    return key.partition("/")[0] if "/" in key else ""


def keys_by_source(manifest: Manifest, sources: Iterable[str], keys: Iterable[str]) -> dict[str, list[str]]:
    """The `--key`s each source has: one command may name items of several sources; a key none of
    them has is an error naming it."""
    names = list(sources)
    out: dict[str, list[str]] = {n: [] for n in names}
    for key in keys:
        found = [n for n in names if manifest.lookup(key, source=n)]
        if not found:
            raise NotFoundError(f"no item with key {key!r} in the snapshot (sources: {', '.join(names)})")
        for n in found:
            out[n].append(key)
    return out


def select(
    manifest: Manifest,
    source: str,
    *,
    keys: Iterable[str] = (),
    folder: str | None = None,
    uses: Callable[[Entry], Iterable[str]] = lambda e: (),
) -> Selection:
    """Entries of `source` to restore: everything, or the given keys and/or a folder's subtree.

    `uses` names the keys of the library panels a selected dashboard needs: they come along as
    dependencies (created if missing, never changed), as parent folders do.
    """
    entries = [e for e in manifest.entries if e.source == source]
    folders = {e.key: e for e in entries if e.kind == "folder"}

    def parent_key(e: Entry) -> str | None:
        if e.kind not in OBJECT_KINDS or not e.folder:
            return None
        org = _org(e.key)
        return f"{org}/{e.folder}" if org else e.folder

    def ancestors(e: Entry) -> list[Entry]:
        chain: list[Entry] = []
        seen: set[str] = set()
        key = parent_key(e)
        while key and key in folders and key not in seen:
            seen.add(key)
            chain.append(folders[key])
            key = parent_key(folders[key])
        return chain

    def depth(e: Entry) -> int:
        return len(ancestors(e))

    keys = list(keys)
    if not keys and folder is None:
        return Selection(entries, [], depth)

    wanted: set[str] = set()
    for key in keys:
        found = [
            e for e in manifest.lookup(key, source=source) if e.kind in OBJECT_KINDS or e.kind == "shares"
        ]
        if not found:
            raise NotFoundError(f"no item with key {key!r} for source {source!r} in the snapshot")
        wanted.update(e.key for e in found)
    if folder is not None:
        roots = [f for f in folders.values() if f.key == folder or f.key.endswith("/" + folder)]
        if not roots:
            raise NotFoundError(f"no folder {folder!r} for source {source!r} in the snapshot")
        root_keys = {r.key for r in roots}
        for e in entries:
            if e.kind in OBJECT_KINDS and (e.key in root_keys or root_keys & {a.key for a in ancestors(e)}):
                wanted.add(e.key)
    # An object and the items that ride along with it (permissions, shares) share its key.
    selected = [e for e in entries if e.key in wanted]
    chosen = {(e.kind, e.key) for e in selected}
    libraries = {e.key: e for e in entries if e.kind == "library-panel"}
    extra = {
        k: libraries[k]
        for e in selected
        if e.kind == "dashboard"
        for k in uses(e)
        if k in libraries and ("library-panel", k) not in chosen
    }
    deps: dict[tuple[str, str], Entry] = {("library-panel", k): e for k, e in extra.items()}
    for e in [*selected, *extra.values()]:
        for a in ancestors(e):
            if ("folder", a.key) not in chosen:
                deps[("folder", a.key)] = a
    return Selection(selected, list(deps.values()), depth)


def newest_entries(store: Store, source: str) -> dict[tuple[str, str], Entry]:
    """The target source's entries in its newest snapshot, by (kind, key): what "unchanged" means."""
    for snap in store.snapshots():
        if source in snap.sources:
            return {(e.kind, e.key): e for e in store.manifest(snap.id).entries if e.source == source}
    return {}
