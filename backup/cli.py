"""The `dashvault` command line (DESIGN.md section 6): exit codes 0 ok, 1 partial, 2 usage/config, 3 store."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from backup.config import Config, load_config
from backup.errors import DashvaultError, NotFoundError
from backup.logs import setup_logging
from backup.run import BackupRun, RunReport
from backup.sources import check_source, make_collectors, open_store
from storage.diff import diff_manifests, unified
from storage.model import Entry, Manifest, SnapshotInfo
from storage.store import Store, resolve_snapshot

app = typer.Typer(
    name="dashvault",
    help="Backup, versioning and disaster recovery for Grafana and Arduino IoT Cloud dashboards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (cron mails, log files) gets wide tables instead of rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("dashvault.cli")

P = ParamSpec("P")
R = TypeVar("R")


class State:
    """Options given before the command."""

    config_path: Path = Path("dashvault.toml")
    config: Config | None = None

    def load(self) -> Config:
        if self.config is None:
            self.config = load_config(self.config_path)
        return self.config


state = State()


def fails_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn dashvault errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DashvaultError as exc:
            err.print(f"error: {exc.message}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            raise typer.Exit(130) from None

    return wrapper


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@app.callback()
def main_options(
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="DASHVAULT_CONFIG", help="Config file (TOML).")
    ] = Path("dashvault.toml"),
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
) -> None:
    """Back up, audit and restore dashboards."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    setup_logging(log_format, verbose)
    state.config_path = config
    state.config = None


def _store() -> Store:
    return open_store(state.load().storage)


def _snapshot_json(s: SnapshotInfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "time": s.time.isoformat(),
        "run": s.run,
        "complete": s.complete,
        "sources": {name: st.model_dump() for name, st in s.sources.items()},
    }


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def _entry_json(e: Entry) -> dict[str, Any]:
    return e.model_dump(mode="json")


# -- check ------------------------------------------------------------------------------------


@app.command()
@fails_cleanly
def check() -> None:
    """Validate the config, reach every source and the store, print what was found."""
    config = state.load()
    table = Table(title=f"dashvault check: {config.path}")
    for col in ("what", "status", "details"):
        table.add_column(col)
    failed = False
    for source in config.sources:
        try:
            details = check_source(source)
            table.add_row(source.name, "ok", details)
        except DashvaultError as exc:
            failed = True
            table.add_row(source.name, "FAILED", exc.message)
    store_failed = False
    try:
        store = open_store(config.storage)
        snaps = store.snapshots()
        last = (
            f"last snapshot {snaps[0].id[:12]} at {snaps[0].time.isoformat()}"
            if snaps
            else "no snapshots yet"
        )
        table.add_row("store", "ok", f"{store.describe()}: {len(snaps)} snapshots, {last}")
    except DashvaultError as exc:
        store_failed = True
        table.add_row("store", "FAILED", exc.message)
    out.print(table)
    if store_failed:
        raise typer.Exit(3)
    if failed:
        raise typer.Exit(1)


# -- backup -----------------------------------------------------------------------------------


def print_run(report: RunReport) -> None:
    table = Table(title=f"backup run {report.run}")
    for col in ("source", "status", "items", "added", "changed", "deleted", "failed"):
        table.add_column(col, justify="right" if col not in ("source", "status") else "left")
    for name, r in sorted(report.sources.items()):
        st = r.status
        status = "ok" if st.complete and not r.failures else ("INCOMPLETE" if not st.complete else "PARTIAL")
        table.add_row(
            name, status, str(st.items), str(st.added), str(st.changed), str(st.deleted), str(st.failed)
        )
    out.print(table)
    for name, r in sorted(report.sources.items()):
        if r.status.error:
            err.print(f"warning: {r.status.error}", markup=False)
        for f in r.failures[:20]:
            err.print(f"warning: {name}: {f.kind} {f.key}: {f.error}", markup=False)
        if len(r.failures) > 20:
            err.print(f"warning: {name}: ... and {len(r.failures) - 20} more failed items", markup=False)
    totals = [
        sum(getattr(r.status, f) for r in report.sources.values()) for f in ("added", "changed", "deleted")
    ]
    counts = "{} added, {} changed, {} deleted".format(*totals)
    if report.snapshot:
        out.print(f"snapshot {report.snapshot.id}: {counts}")
    else:
        out.print("no changes: no snapshot written")


@app.command()
@fails_cleanly
def backup(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this source (repeatable).")
    ] = None,
    allow_mass_delete: Annotated[
        bool, typer.Option("--allow-mass-delete", help="Record deletions above max_delete_fraction.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
) -> None:
    """Run one backup now."""
    config = state.load()
    names = source or []
    for n in names:
        config.source(n)
    collectors = make_collectors(config, names)
    run = BackupRun(
        _store(),
        collectors,
        max_delete_fraction=config.storage.max_delete_fraction,
        allow_mass_delete=allow_mass_delete,
    )
    report = run.execute()
    if as_json:
        emit_json(
            {
                "run": report.run,
                "time": report.time.isoformat(),
                "snapshot": report.snapshot.id if report.snapshot else None,
                "ok": report.ok,
                "sources": {
                    n: {**r.status.model_dump(), "failures": [f.__dict__ for f in r.failures]}
                    for n, r in report.sources.items()
                },
            }
        )
    else:
        print_run(report)
    raise typer.Exit(report.exit_code)


# -- audit ------------------------------------------------------------------------------------


@app.command()
@fails_cleanly
def snapshots(
    source: Annotated[str | None, typer.Option("--source", help="Only runs of this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List snapshots, newest first."""
    snaps = [s for s in _store().snapshots() if source is None or source in s.sources]
    if as_json:
        emit_json([_snapshot_json(s) for s in snaps])
        return
    table = Table(title=f"{len(snaps)} snapshots")
    for col in ("id", "time", "sources"):
        table.add_column(col)
    for s in snaps:
        summary = ", ".join(
            f"{n} +{st.added} ~{st.changed} -{st.deleted}{'' if st.complete else ' INCOMPLETE'}"
            for n, st in sorted(s.sources.items())
        )
        table.add_row(s.id[:12], _when(s.time), summary)
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
    store = _store()
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
            r["snapshot"][:12],
            _when(datetime.fromisoformat(r["time"])),
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
    store = _store()
    snap = resolve_snapshot(store, snapshot)
    entry = _find(store.manifest(snap.id), key, source, kind)
    if entry is None:
        raise NotFoundError(f"no item with key {key!r} in snapshot {snap.id[:12]}")
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
    store = _store()
    a, b = resolve_snapshot(store, snap_a), resolve_snapshot(store, snap_b)
    d = diff_manifests(store.manifest(a.id), store.manifest(b.id), source=source)

    def patch(old: Entry, new: Entry) -> str:
        return unified(
            store.load(a.id, old),
            store.load(b.id, new),
            old_label=f"{a.id[:12]}/{old.source}/{old.kind}/{old.key}",
            new_label=f"{b.id[:12]}/{new.source}/{new.kind}/{new.key}",
        )

    if as_json:
        emit_json(
            {
                "from": a.id,
                "to": b.id,
                "added": [_entry_json(e) for e in d.added],
                "changed": [
                    {**_entry_json(new), "old_hash": old.hash, **({} if stat else {"diff": patch(old, new)})}
                    for old, new in d.changed
                ],
                "deleted": [_entry_json(e) for e in d.deleted],
            }
        )
        return
    out.print(
        f"{a.id[:12]} -> {b.id[:12]}: "
        f"{len(d.added)} added, {len(d.changed)} changed, {len(d.deleted)} deleted",
        markup=False,
    )
    for sign, label, entries in (("+", "added", d.added), ("-", "deleted", d.deleted)):
        for e in entries:
            out.print(f"{sign} {label:8} {e.source} {e.kind} {e.key}  {e.title}", markup=False)
    for _, new in d.changed:
        out.print(f"~ changed  {new.source} {new.kind} {new.key}  {new.title}", markup=False)
    if not stat:
        for old, new in d.changed:
            sys.stdout.write(patch(old, new))


def _load_plugins() -> None:
    """Commands other installed packages add (the sandbox adds `demo`) through the entry point group."""
    for ep in entry_points(group="dashvault.commands"):
        try:
            ep.load()(app)
        except Exception as exc:  # a broken plugin must not take the backup commands down with it
            log.warning("command plugin %s failed to load: %s", ep.name, exc)


_load_plugins()


def main() -> None:
    """Console-script entry point."""
    app()
