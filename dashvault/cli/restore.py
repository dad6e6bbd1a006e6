"""`dashvault restore`: a snapshot, some of its items or a point in time, back into a live source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from dashvault.cli.app import (
    app,
    configured_store,
    emit_json,
    fails_cleanly,
    say,
    state,
)
from dashvault.console import out
from restore.plan import Action, Outcome, Policy, RestorePlan, build_plan, execute
from restore.select import choose_snapshot, keys_by_source, newest_entries, select
from restore.targets import make_target, org_map_for, restore_record
from sources.config import GrafanaSourceConfig
from sources.grafana.items import library_panel_uids
from storage.errors import DashvaultError, NotFoundError
from storage.model import Entry, SnapshotInfo, short_id
from storage.store import Store

# -- restore ----------------------------------------------------------------------------------


def library_panels_of(store: Store, snap: SnapshotInfo) -> Callable[[Entry], list[str]]:
    """The keys of the library panels a Grafana dashboard of the snapshot uses (from its content)."""

    def uses(entry: Entry) -> list[str]:
        org = entry.key.partition("/")[0]
        try:
            model = store.load(snap.id, entry).get("dashboard")
        except DashvaultError:
            return []  # its own restore reports the damage

        return [f"{org}/{uid}" for uid in library_panel_uids(model if isinstance(model, dict) else {})]

    return uses


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
    include_provisioned: Annotated[
        bool,
        typer.Option(
            "--include-provisioned", help="Restore provisioned dashboards too, as ordinary dashboards."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Restore a snapshot, or some of its items, into the live sources."""
    config = state.load()
    store = configured_store()
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
    keys_of = keys_by_source(manifest, names, key or ())
    for name in names:
        if key and not keys_of[name] and folder is None:
            continue  # --key names items of other sources only
        try:
            sel = select(
                manifest, name, keys=keys_of[name], folder=folder, uses=library_panels_of(store, snap)
            )
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
        newest = newest_entries(store, target_config.name)
        if isinstance(target_config, GrafanaSourceConfig):
            target = make_target(target_config, snapshot=snap, org_map=org_map)
        else:
            known = {e.key for e in manifest.entries if e.kind == "dashboard"} | {k for _, k in newest}
            target = make_target(
                target_config, snapshot=snap, restored=store.restores(), origin=name, known=known
            )
        plan = build_plan(
            snap,
            sel.selected,
            target,
            policy=on_conflict,
            newest=newest,
            dependencies=sel.dependencies,
            depth=sel.depth,
            concurrency=target_config.concurrency,
            include_provisioned=include_provisioned,
        )
        plans.append((plan, target, newest, sel, target_config.concurrency))

    blocked = on_conflict is Policy.FAIL and any(p.conflicts for p, *_ in plans)
    try:
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
    finally:
        for (_, target, *_), origin in zip(plans, [n for n, _ in selections], strict=True):
            target.close()
            # Written even when the restore failed or was stopped: what it created must be found next time.
            if (record := restore_record(target, snap, origin)) is not None:
                store.record_restore(record)

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
