"""`dashvault snapshots`, `log`, `show` and `diff`: what changed, when and how."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from dashvault.cli.app import (
    app,
    configured_store,
    emit_json,
    entry_json,
    fails_cleanly,
    snapshot_json,
    when,
)
from dashvault.console import out
from storage.diff import diff_manifests, unified
from storage.errors import NotFoundError
from storage.model import Entry, Manifest, short_id
from storage.store import Store, resolve_snapshot

# -- audit ------------------------------------------------------------------------------------


@app.command()
@fails_cleanly
def snapshots(
    source: Annotated[str | None, typer.Option("--source", help="Only runs of this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List snapshots, newest first."""
    snaps = [s for s in configured_store().snapshots() if source is None or source in s.sources]
    if as_json:
        emit_json([snapshot_json(s) for s in snaps])
        return
    table = Table(title=f"{len(snaps)} snapshots")
    for col in ("id", "time", "sources"):
        table.add_column(col)
    for s in snaps:
        summary = (
            f"DAMAGED: {s.damaged}"
            if s.damaged
            else ", ".join(
                f"{n} +{st.added} ~{st.changed} -{st.deleted}{'' if st.complete else ' INCOMPLETE'}"
                for n, st in sorted(s.sources.items())
            )
        )
        table.add_row(short_id(s.id), when(s.time), summary)
    out.print(table)


def _find(manifest: Manifest, key: str, source: str | None, kind: str | None) -> Entry | None:
    found = manifest.lookup(key, source=source, kind=kind)
    if len({(e.source, e.key) for e in found}) > 1:
        names = ", ".join(f"{e.source} {e.key}" for e in found[:5])
        raise NotFoundError(f"key {key!r} matches several items ({names}): give --source or the full key")
    return found[0] if found else None


def _locate(store: Store, key: str, source: str | None, kind: str | None) -> Entry:
    """The item a user means by KEY: looked up in the newest snapshot that has it."""
    for snap in store.snapshots():
        if snap.damaged:
            continue
        entry = _find(store.manifest(snap.id), key, source, kind)
        if entry is not None:
            return entry
    raise NotFoundError(f"no item with key {key!r} in any snapshot")


SourceOpt = Annotated[str | None, typer.Option("--source", help="The source the key belongs to.")]
KindOpt = Annotated[
    str | None, typer.Option("--kind", help="dashboard, folder, permissions or shares (default: the object).")
]


@app.command("log")
@fails_cleanly
def log_cmd(
    key: Annotated[str, typer.Argument(help="Item key, e.g. 1/abc (org/uid) or just the uid.")],
    source: SourceOpt = None,
    kind: KindOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One item's history: every snapshot in which it appeared, changed or vanished."""
    store = configured_store()
    target = _locate(store, key, source, kind)
    rows: list[dict[str, Any]] = []
    history = list(store.history(target.source, target.kind, target.key))
    for i, (snap, entry) in enumerate(history):
        older = history[i + 1][1] if i + 1 < len(history) else None
        change = "deleted" if entry is None else ("added" if older is None else "changed")
        rows.append(
            {
                "snapshot": snap.id,
                "time": snap.time.isoformat(),
                "change": change,
                "source": target.source,
                "kind": target.kind,
                "key": target.key,
                "title": entry.title if entry else target.title,
                "hash": entry.hash if entry else None,
                "size": entry.size if entry else None,
                "version": entry.meta.get("version") if entry else None,
                "meta": entry.meta if entry else {},
            }
        )
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"{target.source} {target.kind} {target.key}")
    for col in ("snapshot", "time", "change", "hash", "version", "title"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            short_id(r["snapshot"]),
            when(datetime.fromisoformat(r["time"])),
            r["change"],
            (r["hash"] or "")[:12],
            "" if r["version"] is None else str(r["version"]),
            r["title"],
        )
    out.print(table)


@app.command()
@fails_cleanly
def show(
    snapshot: Annotated[str, typer.Argument(help="Snapshot id, unique prefix, or 'latest'.")],
    key: Annotated[str, typer.Argument(help="Item key, e.g. 1/abc (org/uid) or just the uid.")],
    source: SourceOpt = None,
    kind: KindOpt = None,
) -> None:
    """Print an item's stored content (verified against its hash)."""
    store = configured_store()
    snap = resolve_snapshot(store, snapshot)
    entry = _find(store.manifest(snap.id), key, source, kind)
    if entry is None:
        raise NotFoundError(f"no item with key {key!r} in snapshot {short_id(snap.id)}")
    emit_json(store.load(snap.id, entry))


@app.command()
@fails_cleanly
def diff(
    snap_a: Annotated[str, typer.Argument(help="Older snapshot (id, prefix, latest).")],
    snap_b: Annotated[str, typer.Argument(help="Newer snapshot (id, prefix, latest).")],
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    stat: Annotated[bool, typer.Option("--stat", help="Only the list of items, no content diff.")] = False,
) -> None:
    """Items added, changed and deleted between two snapshots, with a diff of each change."""
    store = configured_store()
    a, b = resolve_snapshot(store, snap_a), resolve_snapshot(store, snap_b)
    d = diff_manifests(store.manifest(a.id), store.manifest(b.id), source=source)

    def patch(old: Entry, new: Entry) -> str:
        return unified(
            store.load(a.id, old),
            store.load(b.id, new),
            old_label=f"{short_id(a.id)}/{old.source}/{old.kind}/{old.key}",
            new_label=f"{short_id(b.id)}/{new.source}/{new.kind}/{new.key}",
        )

    if as_json:
        emit_json(
            {
                "from": a.id,
                "to": b.id,
                "added": [entry_json(e) for e in d.added],
                "changed": [
                    {**entry_json(new), "old_hash": old.hash, **({} if stat else {"diff": patch(old, new)})}
                    for old, new in d.changed
                ],
                "deleted": [entry_json(e) for e in d.deleted],
            }
        )
        return
    out.print(
        f"{short_id(a.id)} -> {short_id(b.id)}: "
        f"{len(d.added)} added, {len(d.changed)} changed, {len(d.deleted)} deleted",
    )
    for sign, label, entries in (("+", "added", d.added), ("-", "deleted", d.deleted)):
        for e in entries:
            out.print(f"{sign} {label:8} {e.source} {e.kind} {e.key}  {e.title}")
    for _, new in d.changed:
        out.print(f"~ changed  {new.source} {new.kind} {new.key}  {new.title}")
    if not stat:
        for old, new in d.changed:
            sys.stdout.write(patch(old, new))
