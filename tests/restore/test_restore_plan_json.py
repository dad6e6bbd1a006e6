"""`restore --json`: the plan and its outcomes as README's output contract spells them, field by field.

Scripts and drills read these fields; the expected values are written out here from what was set up,
and the hashes are read from the store's own manifest file, never from the plan code.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, grafana_source, write_config


def manifest_hashes(repo: Path) -> dict[tuple[str, str], str]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e["hash"] for e in manifest["entries"]}


def item(kind: str, uid: str, title: str, digest: str, **rest: Any) -> dict[str, Any]:
    """A plan item of org 1's `uid` restored into org 2, with README's fields in README's order."""
    fields = {
        "source": "org1",
        "kind": kind,
        "key": f"1/{uid}",
        "target_key": f"2/{uid}",
        "title": title,
        "hash": digest,
        "action": "create",
        "reason": "missing",
        "dependency": False,
        "outcome": "planned",
        "detail": "",
        "new_key": None,
    }
    assert set(rest) <= set(fields)
    return fields | rest


def test_a_migration_with_a_conflict_prints_its_plan_and_outcomes_field_by_field(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    grafana.add_folder("ops", "Operations")
    grafana.add_dashboard({"uid": "cpu", "title": "CPU", "panels": []}, folder_uid="ops")
    grafana.add_dashboard({"uid": "mem", "title": "Memory", "panels": []})
    org2 = grafana.add_org("Second")
    assert org2 == 2
    token = grafana.add_service_account("migration", "Admin", org=org2)
    # Org 2 already has its own "mem", never backed up: a conflict, which `copy` restores beside it.
    grafana.add_dashboard({"uid": "mem", "title": "Memory", "panels": [{"id": 7}]}, org=org2)
    cli = Cli(
        write_config(
            tmp_path / "dashvault.toml",
            [
                grafana_source(grafana.url, name="org1", api="legacy", orgs=[1]),
                grafana_source(grafana.url, name="org2", api="legacy", orgs=[org2], token=token),
            ],
        )
    )
    assert cli("backup", "--source", "org1").exit_code == 0
    digest = manifest_hashes(tmp_path / "backups")
    [snapshot] = cli("snapshots", "--json").json()
    args = ("restore", "--source", "org1", "--to", "org2", "--on-conflict", "copy", "--json")
    conflict = {"action": "conflict", "reason": "changed since the newest snapshot"}

    planned = cli(*args[:-1], "--dry-run", "--json")

    assert planned.exit_code == 0, planned.stdout + planned.stderr
    out = planned.json()
    assert (out["snapshot"], out["dry_run"], out["blocked"]) == (snapshot["id"], True, False)
    [plan] = out["plans"]
    assert datetime.fromisoformat(plan["snapshot_time"]) == datetime.fromisoformat(snapshot["time"])
    folder = item("folder", "ops", "Operations", digest[("folder", "1/ops")])
    cpu = item("dashboard", "cpu", "CPU", digest[("dashboard", "1/cpu")])
    mem = item("dashboard", "mem", "Memory", digest[("dashboard", "1/mem")], **conflict)
    acls = [
        item("permissions", uid, title, digest[("permissions", f"1/{uid}")])
        for uid, title in (("cpu", "CPU"), ("mem", "Memory"), ("ops", "Operations"))
    ]
    # Org 2's own "mem" has the ACL Grafana gives a root dashboard on create, as the snapshot's has.
    acls[1] |= {"action": "skip", "reason": "identical"}
    assert plan == {
        "snapshot": snapshot["id"],
        "snapshot_time": plan["snapshot_time"],
        "target": "org2",
        "policy": "copy",
        "counts": {"create": 4, "conflict": 1, "skip": 1},
        "items": [folder, cpu, mem, *acls],
    }

    done = cli(*args)

    assert done.exit_code == 0, done.stdout + done.stderr
    [plan] = done.json()["plans"]
    [copy] = set(grafana.dashboards(org=org2)) - {"cpu", "mem"}
    assert grafana.get_dashboard(copy, org=org2)["title"].startswith("Memory (restored ")  # type: ignore[index]
    created = {"outcome": "created"}
    # The copy's ACL is written to the copy, not over org 2's own "mem".
    follows = {"target_key": f"2/{copy}", "action": "create", "reason": "follows its restored object"}
    assert plan["counts"] == {"created": 5, "copied": 1}
    assert plan["items"] == [
        folder | created,
        cpu | created,
        mem
        | {
            "outcome": "copied",
            "detail": f"restored as {copy} beside the live dashboard",
            "new_key": f"2/{copy}",
        },
        acls[0] | created,
        acls[1] | created | follows,
        acls[2] | created,
    ]
