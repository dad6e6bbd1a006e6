"""Generated dashboards and populations: realistic shapes, nesting, permissions, determinism, speed."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.generate import make_dashboard, populate
from sandbox.grafana import GrafanaSandbox

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "grafana" / "current"


@pytest.fixture
def sb() -> Iterator[GrafanaSandbox]:
    sandbox = GrafanaSandbox(token="t").start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def all_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in model["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def test_make_dashboard_is_realistic() -> None:
    rng = random.Random(1)
    types: Counter[str] = Counter()
    for n in range(40):
        model = make_dashboard(rng, f"Board {n}")
        assert "id" not in model and "version" not in model and "uid" not in model
        assert model["title"] == f"Board {n}"
        assert 39 <= model["schemaVersion"] <= 41
        assert model["annotations"]["list"][0]["builtIn"] == 1
        variables = model["templating"]["list"]
        assert variables[0]["type"] == "datasource" and 2 <= len(variables) <= 4
        assert {v["type"] for v in variables[1:]} <= {"query", "custom", "interval"}
        assert {"time", "timepicker", "refresh", "tags", "links"} <= set(model)
        panels = all_panels(model)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids))
        for panel in panels:
            types[panel["type"]] += 1
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
            if panel["type"] not in ("row", "text"):
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert panel["targets"] and all("expr" in t and "refId" in t for t in panel["targets"])
                assert (
                    "thresholds" in panel["fieldConfig"]["defaults"]
                    and "unit" in panel["fieldConfig"]["defaults"]
                )
                assert isinstance(panel["options"], dict)
    wanted = {"timeseries", "stat", "gauge", "bargauge", "table", "text", "piechart", "heatmap", "row"}
    assert wanted <= set(types)
    fixed = make_dashboard(random.Random(2), "Fixed", uid="abc", panels=3)
    assert fixed["uid"] == "abc" and len(all_panels(fixed)) == 3
    assert make_dashboard(random.Random(5), "Same") == make_dashboard(random.Random(5), "Same")


def test_populate_nested_folders_dashboards_and_permissions(sb: GrafanaSandbox) -> None:
    pop = populate(sb, dashboards=300, depth=3, folders_per_level=3, seed=7)
    assert len(pop.dashboards) == len(set(pop.dashboards)) == 300
    assert sorted(pop.dashboards) == sb.dashboards()
    assert len(pop.folders) == 3 + 9 + 27 and sorted(pop.folders) == sb.folders()

    def depth(uid: str) -> int:
        parent = pop.folder_parents[uid]
        return 1 if parent is None else 1 + depth(parent)

    assert Counter(depth(u) for u in pop.folders) == {1: 3, 2: 9, 3: 27}
    placed = Counter(pop.dashboard_folders.values())
    assert placed[None] > 0 and set(placed) == {None, *pop.folders}  # at the root and in every folder
    for uid in pop.dashboards[:20]:
        assert sb.dashboard_folder(uid) == pop.dashboard_folders[uid]

    # Titles are unique within each folder, as Grafana requires.
    titles = Counter((pop.dashboard_folders[u], sb.get_dashboard(u)["title"]) for u in pop.dashboards)  # type: ignore[index]
    assert max(titles.values()) == 1

    assert len(pop.users) >= 3 and len(pop.teams) >= 2
    assert pop.with_permissions
    kinds: set[str] = set()
    folder_set = set(pop.folders)
    for uid in pop.with_permissions:
        acl = sb.permissions("folder" if uid in folder_set else "dashboard", uid)
        own = [a for a in acl if not a["inherited"]]
        assert own
        kinds.update("role" if "role" in a else "team" if a["teamId"] else "user" for a in own)
    assert kinds == {"role", "team", "user"}
    assert any(u in folder_set for u in pop.with_permissions)
    assert any(u not in folder_set for u in pop.with_permissions)

    # Nested folders and the ACLs are what the HTTP API serves.
    with httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer t"}) as c:
        folders = c.get("/api/search", params={"type": "dash-folder"}).json()
        assert len(folders) == 39
        deepest = next(u for u in pop.folders if depth(u) == 3)
        assert len(c.get(f"/api/folders/{deepest}").json()["parents"]) == 2


def test_populate_is_deterministic() -> None:
    def snapshot(seed: int) -> tuple[Any, ...]:
        with GrafanaSandbox(token="t") as sb:
            pop = populate(sb, dashboards=60, depth=2, seed=seed)
            models = {u: sb.get_dashboard(u) for u in pop.dashboards}
            acls = {
                u: [a for a in sb.permissions("dashboard", u) if not a["inherited"]] for u in pop.dashboards
            }
            for entries in acls.values():
                for a in entries:
                    a.pop("created")
                    a.pop("updated")
            return pop.dashboards, pop.folders, pop.dashboard_folders, pop.with_permissions, models, acls

    assert snapshot(4) == snapshot(4)
    assert snapshot(4)[0] != snapshot(5)[0]


def test_populate_without_permissions_and_into_another_org(sb: GrafanaSandbox) -> None:
    org = sb.add_org("Second")
    pop = populate(sb, dashboards=25, depth=1, org=org, permissions=False)
    assert pop.with_permissions == [] and pop.org == org
    assert sb.dashboards(org) == sorted(pop.dashboards) and sb.dashboards() == []
    # Without ACLs of their own, objects keep the ones Grafana gives on creation: the admin who made
    # them Admin, and at the root Editor Edit and Viewer View.
    for u in pop.dashboards:
        acl = sorted(
            (a.get("role") or a["userLogin"], a["permission"])
            for a in sb.permissions("dashboard", u, org=org)
        )
        at_root = pop.dashboard_folders[u] is None
        assert acl == ([("Editor", 2), ("Viewer", 1), ("admin", 4)] if at_root else [("admin", 4)])
    again = populate(sb, dashboards=10, depth=1, org=org, seed=1)
    assert not set(again.dashboards) & set(pop.dashboards)
    assert len(sb.dashboards(org)) == 35


def test_populate_ten_thousand(sb: GrafanaSandbox) -> None:
    # The benchmark's size. How fast it populates is measured by benchmarks/run.py, not asserted here.
    pop = populate(sb, dashboards=10_000, seed=1)
    assert len(sb.dashboards()) == 10_000 == len(set(pop.dashboards))
    first, second = (sb.get_dashboard(u) for u in pop.dashboards[:2])
    assert first is not None and second is not None
    assert first["uid"] != second["uid"] and first["panels"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared dashboard corpus is not present at {CORPUS}")
def test_populate_from_corpus(sb: GrafanaSandbox) -> None:
    sources = {p.stem: json.loads(p.read_text()) for p in sorted(CORPUS.glob("*.json"))}
    count = len(sources) * 2 + 3
    pop = populate(sb, dashboards=count, depth=2, seed=9, corpus_dir=CORPUS)
    assert len(sb.dashboards()) == count
    stems = list(sources)
    titles = set()
    for n, uid in enumerate(pop.dashboards):
        source = sources[stems[n % len(stems)]]
        model = sb.get_dashboard(uid)
        assert model is not None
        assert "id" not in model and model["uid"] == uid and model["version"] == 1
        assert model["title"].startswith(str(source.get("title")))
        titles.add(model["title"])
        same = {k: v for k, v in model.items() if k not in ("uid", "title", "version")}
        assert same == {k: v for k, v in source.items() if k not in ("id", "uid", "title", "version")}
    assert len(titles) == count
    # The second copy of a corpus dashboard gets its own uid and title.
    assert len({sb.get_dashboard(u)["title"] for u in pop.dashboards[:: len(stems)][:2]}) == 2  # type: ignore[index]
