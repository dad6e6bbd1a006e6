"""The `dashvault` command line (DESIGN.md section 6): exit codes 0 ok, 1 partial, 2 usage/config, 3 store."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from importlib.metadata import entry_points
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.table import Table

from backup.config import Config, GrafanaSourceConfig, load_config
from backup.console import err, out, progress
from backup.errors import DashvaultError, NotFoundError
from backup.logs import setup_logging
from backup.metrics import write_textfile
from backup.run import BackupRun, RunReport
from backup.schedule import Scheduler
from backup.sources import check_source, make_collectors, open_store
from restore.plan import Action, Outcome, Policy, RestorePlan, build_plan, execute
from restore.select import choose_snapshot, newest_entries, select
from restore.targets import make_target, org_map_for
from storage.diff import diff_manifests, unified
from storage.model import Entry, Manifest, SnapshotInfo, short_id
from storage.retention import KeepPolicy
from storage.store import Store, resolve_snapshot
from storage.verify import VerifyReport, verify_store

app = typer.Typer(
    name="dashvault",
    help="Backup, versioning and disaster recovery for Grafana and Arduino IoT Cloud dashboards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are shown as written: `[schedule]` is a config table, not rich markup.
    rich_markup_mode=None,
)
log = logging.getLogger("dashvault.cli")

P = ParamSpec("P")
R = TypeVar("R")


class State:
    """Options given before the command."""

    config_path: Path = Path("dashvault.toml")
    config: Config | None = None
    log_format: str = "text"

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
            say(f"error: {exc.message}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            say("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def say(message: str) -> None:
    """A line for the person at the terminal; a log record instead when logs are JSON lines."""
    if state.log_format == "json":
        level, _, text = message.partition(": ")
        lvl = logging.ERROR if level == "error" else logging.WARNING
        log.log(lvl, text if text else message, extra={"event": f"cli.{level if text else 'message'}"})
    else:
        err.print(message)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"dashvault {package_version('dashvault')}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="DASHVAULT_CONFIG", help="Config file (TOML).")
    ] = Path("dashvault.toml"),
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Back up, audit and restore dashboards."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    setup_logging(log_format, verbose)
    state.config_path = config
    state.config = None
    state.log_format = log_format


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
            f"last snapshot {short_id(snaps[0].id)} at {snaps[0].time.isoformat()}"
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
            say(f"warning: {r.status.error}")
        for f in r.failures[:20]:
            say(f"warning: {name}: {f.kind} {f.key}: {f.error}")
        if len(r.failures) > 20:
            say(f"warning: {name}: ... and {len(r.failures) - 20} more failed items")
    totals = [
        sum(getattr(r.status, f) for r in report.sources.values()) for f in ("added", "changed", "deleted")
    ]
    counts = "{} added, {} changed, {} deleted".format(*totals)
    if report.snapshot:
        out.print(f"snapshot {report.snapshot.id}: {counts}")
    else:
        out.print("no changes: no snapshot written")


def run_backup(
    config: Config,
    names: list[str],
    *,
    allow_mass_delete: bool = False,
    stop: threading.Event | None = None,
    quiet: bool = True,
) -> RunReport:
    """One backup run of the named sources (all when empty), then the metrics textfile if configured."""
    run = BackupRun(
        open_store(config.storage),
        make_collectors(config, names),
        max_delete_fraction=config.storage.max_delete_fraction,
        allow_mass_delete=allow_mass_delete,
        stop=stop,
    )
    if out.is_terminal and err.is_terminal and not quiet:
        # Live counts per source while collecting; nothing decorative when piped or with --json.
        with progress() as bars:
            tasks = {c.source: bars.add_task(c.source) for c in run.collectors}
            run.on_item = lambda source: bars.advance(tasks[source])
            report = run.execute()
    else:
        report = run.execute()
    if config.metrics.textfile is not None:
        try:
            write_textfile(config.metrics.textfile, report, ended=time.time())
        except OSError as exc:
            log.error(
                "cannot write the metrics textfile",
                extra={"event": "metrics.failed", "path": str(config.metrics.textfile), "error": str(exc)},
            )
    return report


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
    report = run_backup(config, names, allow_mass_delete=allow_mass_delete, quiet=as_json)
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


@app.command("run")
@fails_cleanly
def run_cmd(
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", hidden=True, help="Stop after this many runs.")
    ] = None,
) -> None:
    """Back up now and then on the [schedule] of the config, until SIGTERM or SIGINT."""
    config = state.load()

    def one_run(names: list[str], stop: threading.Event) -> RunReport:
        report = run_backup(config, names, stop=stop)
        for name, r in sorted(report.sources.items()):
            st = r.status
            level = logging.INFO if st.complete and not r.failures else logging.WARNING
            log.log(
                level,
                "source backed up" if level == logging.INFO else f"source incomplete: {st.error}",
                extra={
                    "event": "source.done",
                    "source": name,
                    "complete": st.complete,
                    "items": st.items,
                    "added": st.added,
                    "changed": st.changed,
                    "deleted": st.deleted,
                    "failed": st.failed,
                    "snapshot": report.snapshot.id if report.snapshot else None,
                },
            )
        return report

    raise typer.Exit(Scheduler(config, one_run, max_runs=max_runs).loop())


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
        table.add_row(short_id(s.id), _when(s.time), summary)
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
            short_id(r["snapshot"]),
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
    store = _store()
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


# -- restore ----------------------------------------------------------------------------------


def print_plan(plan: RestorePlan, *, dry_run: bool) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts().items()))
    verb = "would restore" if dry_run else "restored"
    table = Table(title=f"{plan.target}: {verb} from snapshot {short_id(plan.snapshot.id)} ({counts})")
    for col in ("result" if not dry_run else "action", "kind", "key", "title", "detail"):
        table.add_column(col)
    identical = 0
    for item in plan.items:
        state = item.action.value if dry_run else item.outcome.value
        if item.action is Action.SKIP and (dry_run or item.outcome is Outcome.SKIPPED):
            identical += 1
            continue
        detail = item.reason if dry_run else item.detail
        key = item.target_key if not item.new_key else f"{item.target_key} -> {item.new_key}"
        table.add_row(state, item.entry.kind, key, item.entry.title, detail)
    if identical:
        table.caption = f"{identical} items already identical (or existing parents) not shown"
    out.print(table)


@app.command()
@fails_cleanly
def restore(
    snapshot: Annotated[
        str | None, typer.Option("--snapshot", help="Snapshot id, prefix or 'latest'.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Newest snapshot at or before this ISO time.")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    key: Annotated[list[str] | None, typer.Option("--key", help="Only this item (repeatable).")] = None,
    folder: Annotated[
        str | None, typer.Option("--folder", help="A folder uid and everything under it.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Restore into this other configured source.")] = None,
    on_conflict: Annotated[
        Policy, typer.Option("--on-conflict", help="What to do when the live object changed.")
    ] = Policy.SKIP,
    no_permissions: Annotated[
        bool, typer.Option("--no-permissions", help="Skip permissions and shares.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Restore a snapshot, or some of its items, into the live sources."""
    config = state.load()
    store = _store()
    snap = choose_snapshot(store, snapshot, at)
    manifest = store.manifest(snap.id)
    in_snapshot = sorted({e.source for e in manifest.entries})
    if source is not None:
        if source not in in_snapshot:
            raise NotFoundError(f"snapshot {short_id(snap.id)} has no items of source {source!r}")
        names = [source]
    else:
        names = [n for n in in_snapshot if n in config.source_names or to]
    if to is not None and len(names) != 1:
        raise NotFoundError("--to needs exactly one source to restore from: give --source")
    selections = []
    for name in names:
        try:
            sel = select(manifest, name, keys=key or (), folder=folder)
        except NotFoundError:
            if len(names) == 1:
                raise
            continue
        if no_permissions:
            sel.selected = [e for e in sel.selected if e.kind not in ("permissions", "shares")]
        selections.append((name, sel))
    if (key or folder) and not selections:
        raise NotFoundError("nothing in the snapshot matches the given --key/--folder")

    plans = []
    for name, sel in selections:
        target_config = config.source(to or name)
        org_map: dict[int, int] = {}
        if to and isinstance(target_config, GrafanaSourceConfig):
            orgs = {int(e.key.partition("/")[0]) for e in sel.selected if "/" in e.key}
            src_config = config.source(name) if name in config.source_names else target_config
            if isinstance(src_config, GrafanaSourceConfig):
                org_map = org_map_for(src_config, target_config, orgs)
        target = make_target(target_config, snapshot=snap, org_map=org_map)
        newest = newest_entries(store, target_config.name)
        plan = build_plan(
            snap,
            sel.selected,
            target,
            policy=on_conflict,
            newest=newest,
            dependencies=sel.dependencies,
            depth=sel.depth,
            concurrency=target_config.concurrency,
        )
        plans.append((plan, target, newest, sel, target_config.concurrency))

    blocked = on_conflict is Policy.FAIL and any(p.conflicts for p, *_ in plans)
    if not dry_run and not blocked:
        for plan, target, newest, sel, concurrency in plans:
            execute(
                plan,
                target,
                lambda e: store.load(snap.id, e),
                newest=newest,
                depth=sel.depth,
                concurrency=concurrency,
            )
    for _, target, *_ in plans:
        target.close()

    if as_json:
        emit_json(
            {
                "snapshot": snap.id,
                "dry_run": dry_run or blocked,
                "blocked": blocked,
                "plans": [p.as_json() for p, *_ in plans],
            }
        )
    else:
        for plan, *_ in plans:
            print_plan(plan, dry_run=dry_run or blocked)
        if blocked:
            n = sum(len(p.conflicts) for p, *_ in plans)
            say(f"error: {n} conflicts and --on-conflict fail: nothing was written")
    failed = any(p.failed for p, *_ in plans)
    raise typer.Exit(1 if failed or blocked else 0)


# -- integrity and retention ------------------------------------------------------------------


def _verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "read_data": report.read_data,
        "snapshots": report.snapshots,
        "references": report.references,
        "contents": report.contents,
        "unreferenced": report.unreferenced,
        "problems": [
            {
                "hash": p.hash,
                "problem": p.problem,
                "location": p.location,
                "error": p.error,
                "references": [r.__dict__ for r in p.references],
            }
            for p in report.problems
        ],
        "manifests": [m.__dict__ for m in report.manifests],
    }


@app.command()
@fails_cleanly
def verify(
    read_data: Annotated[
        bool, typer.Option("--read-data", help="Also download every blob and check its hash.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check that every snapshot's references exist (exit 1 naming what is missing or corrupt)."""
    store = _store()
    report = verify_store(store, read_data=read_data)
    if as_json:
        emit_json(_verify_json(report))
    else:
        checked = "read and hashed" if report.read_data else "present"
        out.print(
            f"{store.describe()}: {report.snapshots} snapshots, {report.references} item references, "
            f"{report.contents} distinct contents {checked}",
        )
        for m in report.manifests:
            out.print(f"UNREADABLE snapshot {m.snapshot}: {m.error}")
        for p in report.problems:
            out.print(f"{p.problem.upper()} {p.location}: {p.error}")
            for r in p.references:
                out.print(f"  used by {r.snapshot} {r.source} {r.kind} {r.key}  {r.title}")
        if report.unreferenced:
            out.print(f"{report.unreferenced} blobs are used by no snapshot (prune removes them)")
        if report.ok:
            out.print("ok: no problems found")
    if not report.ok:
        n = len(report.problems) + len(report.manifests)
        say(f"error: verify found {n} problems in {store.describe()}")
        raise typer.Exit(1)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    unit = "B"
    for unit in ("KB", "MB", "GB"):  # noqa: B007 - the unit the loop stops at is the answer
        size /= 1024
        if size < 1024:
            break
    return f"{size:.1f} {unit}"


@app.command()
@fails_cleanly
def prune(
    *,
    keep_last: Annotated[int, typer.Option("--keep-last", min=-1, help="Keep the N newest.")] = 0,
    keep_daily: Annotated[
        int, typer.Option("--keep-daily", min=-1, help="Keep the newest of each of N days.")
    ] = 0,
    keep_weekly: Annotated[
        int, typer.Option("--keep-weekly", min=-1, help="Keep the newest of each of N weeks.")
    ] = 0,
    keep_monthly: Annotated[
        int, typer.Option("--keep-monthly", min=-1, help="Keep the newest of each of N months.")
    ] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Forget snapshots no --keep-* rule keeps (-1: no limit), then the blobs only they used (s3)."""
    policy = KeepPolicy(last=keep_last, daily=keep_daily, weekly=keep_weekly, monthly=keep_monthly)
    if policy.empty:
        say("error: give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly")
        raise typer.Exit(2)
    report = _store().prune(policy, dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "dry_run": report.dry_run,
                "keep": [
                    {"id": s.id, "time": s.time.isoformat(), "reasons": reasons} for s, reasons in report.kept
                ],
                "remove": [{"id": s.id, "time": s.time.isoformat()} for s in report.removed],
                "blobs_kept": report.blobs_kept,
                "blobs_removed": report.blobs_removed,
                "bytes_removed": report.bytes_removed,
            }
        )
        return
    rows = [(s, "keep", ", ".join(reasons)) for s, reasons in report.kept]
    rows += [(s, "remove", "") for s in report.removed]
    table = Table(title=f"prune{' (dry run)' if report.dry_run else ''}: {len(rows)} snapshots")
    for col in ("id", "time", "action", "kept by"):
        table.add_column(col)
    for s, action, reasons in sorted(rows, key=lambda r: r[0].time, reverse=True):
        table.add_row(s.id, _when(s.time), action, reasons)
    out.print(table)
    verb = "would remove" if report.dry_run else "removed"
    out.print(
        f"{verb} {len(report.removed)} snapshots and {report.blobs_removed} blobs "
        f"({_size(report.bytes_removed)}); {len(report.kept)} snapshots and {report.blobs_kept} blobs kept"
    )


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
