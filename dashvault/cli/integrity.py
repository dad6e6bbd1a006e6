"""`dashvault verify` and `prune`: check every reference of the store, forget old snapshots."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from dashvault.cli.app import (
    app,
    configured_store,
    emit_json,
    fails_cleanly,
    say,
    when,
)
from dashvault.console import out
from storage.retention import KeepPolicy
from storage.verify import VerifyReport, verify_store

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
        "restore_records": report.restore_records,
        "damaged_restore_records": report.damaged_records,
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
    store = configured_store()
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
        for where in report.damaged_records:
            out.print(f"UNREADABLE restore record {where}")
        for p in report.problems:
            out.print(f"{p.problem.upper()} {p.location}: {p.error}")
            for r in p.references:
                out.print(f"  used by {r.snapshot} {r.source} {r.kind} {r.key}  {r.title}")
        if report.unreferenced:
            out.print(f"{report.unreferenced} blobs are used by no snapshot (prune removes them)")
        if report.ok:
            out.print("ok: no problems found")
    if not report.ok:
        n = len(report.problems) + len(report.manifests) + len(report.damaged_records)
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
    report = configured_store().prune(policy, dry_run=dry_run)
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
        table.add_row(s.id, when(s.time), action, reasons)
    out.print(table)
    verb = "would remove" if report.dry_run else "removed"
    out.print(
        f"{verb} {len(report.removed)} snapshots and {report.blobs_removed} blobs "
        f"({_size(report.bytes_removed)}); {len(report.kept)} snapshots and {report.blobs_kept} blobs kept"
    )
