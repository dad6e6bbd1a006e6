"""`dashvault check`, `backup` and `run`: reach the sources, back up once, back up on a schedule."""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated

import typer
from rich.table import Table

from backup.collectors import make_collectors
from backup.run import BackupRun, RunReport
from backup.schedule import Scheduler
from dashvault.cli.app import (
    app,
    emit_json,
    fails_cleanly,
    log,
    say,
    state,
)
from dashvault.config import Config
from dashvault.console import err, out, progress
from dashvault.metrics import write_textfile
from sources.check import check_source
from storage.config import open_store
from storage.errors import DashvaultError
from storage.model import short_id

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
        store.check_writable()
        table.add_row("store", "ok", f"{store.describe()}: {len(snaps)} snapshots, {last}, writable")
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
        for w in r.status.warnings:
            say(f"warning: {w}")
        primary = [f for f in r.failures if not f.follows]
        for f in primary[:20]:
            say(f"warning: {name}: {f.kind} {f.key}: {f.error}")
        if len(primary) > 20:
            say(f"warning: {name}: ... and {len(primary) - 20} more failed items")
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
        make_collectors(config.sources_named(names)),
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
