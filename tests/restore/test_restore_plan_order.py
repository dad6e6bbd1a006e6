"""The order a restore writes in: parents before children, objects before what rides on them.

`_stages` groups what may be written concurrently; everything in one group must be independent.
The expected groups are written out by hand from the folder tree, not computed with the code.
"""

from __future__ import annotations

from restore.plan import Action, PlanItem, _stages, order_key
from storage.model import Entry

# A folder tree: ops > ops/db > ops/db/pg; and net at the root.
PARENT = {"1/ops": None, "1/net": None, "1/db": "1/ops", "1/pg": "1/db"}
# Dashboards live in folders; a dashboard's depth is its folder chain's length.
DASHBOARD_FOLDER = {"1/cpu": "1/pg", "1/up": None, "1/lan": "1/net"}


def depth(e: Entry) -> int:
    parent = PARENT.get(e.key) if e.kind == "folder" else DASHBOARD_FOLDER.get(e.key)
    n = 0
    while parent is not None:
        n, parent = n + 1, PARENT[parent]
    return n


def entry(kind: str, key: str) -> Entry:
    return Entry(source="grafana", kind=kind, key=key, title=key, hash="0" * 64, size=2)


def item(kind: str, key: str) -> PlanItem:
    return PlanItem(entry=entry(kind, key), target_key=key, action=Action.CREATE, reason="missing")


def names(stage: list[PlanItem]) -> set[str]:
    return {f"{i.entry.kind}:{i.entry.key}" for i in stage}


def test_folders_go_one_depth_at_a_time_then_each_kind_in_one_stage() -> None:
    items = [
        item("permissions", "1/cpu"),
        item("shares", "1/up"),
        item("dashboard", "1/cpu"),
        item("folder", "1/pg"),
        item("public-dashboard", "1/up"),
        item("dashboard", "1/up"),
        item("library-panel", "1/lib"),
        item("folder", "1/db"),
        item("permissions", "1/ops"),
        item("folder", "1/net"),
        item("dashboard", "1/lan"),
        item("folder", "1/ops"),
    ]
    assert [names(s) for s in _stages(items, depth)] == [
        {"folder:1/ops", "folder:1/net"},
        {"folder:1/db"},
        {"folder:1/pg"},
        {"library-panel:1/lib"},
        # Dashboards do not depend on each other: one stage, whatever their folders' depth.
        {"dashboard:1/cpu", "dashboard:1/up", "dashboard:1/lan"},
        {"permissions:1/cpu", "permissions:1/ops"},
        {"public-dashboard:1/up"},
        {"shares:1/up"},
    ]


def test_the_order_is_kind_then_folder_depth_then_key() -> None:
    entries = [
        entry("dashboard", "1/cpu"),
        entry("folder", "1/pg"),
        entry("dashboard", "1/up"),
        entry("folder", "1/ops"),
        entry("permissions", "1/ops"),
        entry("folder", "1/db"),
        entry("dashboard", "1/lan"),
        entry("unknown-kind", "1/x"),
    ]
    ordered = [f"{e.kind}:{e.key}" for e in sorted(entries, key=lambda e: order_key(e, depth))]
    assert ordered == [
        "folder:1/ops",
        "folder:1/db",
        "folder:1/pg",
        "dashboard:1/cpu",
        "dashboard:1/lan",
        "dashboard:1/up",
        "permissions:1/ops",
        "unknown-kind:1/x",  # a kind the order does not know goes last, never first
    ]
