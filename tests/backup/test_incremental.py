"""Incremental runs: /apis dashboards whose resourceVersion is unchanged are not rebuilt or rehashed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from backup.grafana import GrafanaCollector
from backup.run import BackupRun
from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from sources.config import GrafanaSourceConfig
from storage.git import GitStore
from tests.conftest import TOKEN


class Counting(GrafanaCollector):
    """Counts what the collector hands to the run, by type and kind."""

    def __init__(self, config: GrafanaSourceConfig) -> None:
        super().__init__(config)
        self.seen: Counter[tuple[str, str]] = Counter()

    def collect(self, known=()) -> Iterator:  # type: ignore[override]
        for got in super().collect(known):
            self.seen[(type(got).__name__, getattr(got, "kind", ""))] += 1
            yield got


def run(store: GitStore, grafana: GrafanaSandbox, api: str = "apis"):
    config = GrafanaSourceConfig(name="grafana", type="grafana", url=grafana.url, token=TOKEN, api=api)
    collector = Counting(config)
    report = BackupRun(store, [collector]).execute()
    return report, collector.seen


def test_unchanged_resources_reuse_their_entries(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    population = populate(grafana, dashboards=40, depth=2, seed=3)
    store = GitStore(tmp_path / "repo")
    first, seen = run(store, grafana)
    assert first.snapshot is not None
    assert seen[("Item", "dashboard")] == 40
    before = {e.ident: e for e in store.manifest(first.snapshot.id).entries}

    again, seen = run(store, grafana)
    assert again.snapshot is None  # nothing changed: no commit
    assert seen[("Unchanged", "dashboard")] == 40
    assert seen[("Item", "dashboard")] == 0
    assert again.sources["grafana"].status.items == len(before)

    # One edit: only that dashboard is rebuilt, and the snapshot records exactly that change.
    edited, other = population.dashboards[0], population.dashboards[1]
    grafana.update_dashboard(edited, {"description": "edited"})
    # An ACL change does not touch the resource: it must be seen all the same.
    grafana.set_permissions("dashboard", other, [{"role": "Editor", "permission": 2}])
    third, seen = run(store, grafana)
    assert seen[("Unchanged", "dashboard")] == 39
    assert seen[("Item", "dashboard")] == 1
    assert third.snapshot is not None
    changes = third.sources["grafana"].changes
    assert [e.key for e in changes.changed if e.kind == "dashboard"] == [f"1/{edited}"]
    assert f"1/{other}" in {e.key for e in changes.changed + changes.added if e.kind == "permissions"}
    after = {e.ident: e for e in store.manifest(third.snapshot.id).entries}
    kept = ("grafana", "dashboard", f"1/{population.dashboards[2]}")
    assert after[kept] == before[kept]
    assert (
        store.load(third.snapshot.id, after[("grafana", "dashboard", f"1/{edited}")])["dashboard"][
            "description"
        ]
        == "edited"
    )


def test_a_deleted_resource_is_still_recorded_as_deleted(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    population = populate(grafana, dashboards=20, depth=1, seed=4)
    store = GitStore(tmp_path / "repo")
    run(store, grafana)
    grafana.delete_dashboard(population.dashboards[0])
    report, seen = run(store, grafana)
    assert seen[("Unchanged", "dashboard")] == 19
    assert [e.key for e in report.sources["grafana"].changes.deleted if e.kind == "dashboard"] == [
        f"1/{population.dashboards[0]}"
    ]


def test_a_dashboard_deleted_and_created_again_is_recorded_as_changed(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    population = populate(grafana, dashboards=10, depth=1, seed=4)
    store = GitStore(tmp_path / "repo")
    run(store, grafana)
    uid = population.dashboards[0]
    folder = grafana.dashboard_folder(uid)
    model = grafana.get_dashboard(uid)
    assert model is not None and model["version"] == 1
    grafana.delete_dashboard(uid)
    grafana.add_dashboard({**model, "description": "created again"}, folder_uid=folder)
    # On legacy SQL storage the new dashboard has version 1 again: resourceVersion "1", generation 1,
    # the same name-derived metadata.uid. Only its creation time and its new row id differ.
    report, seen = run(store, grafana)
    assert (seen[("Unchanged", "dashboard")], seen[("Item", "dashboard")]) == (9, 1)
    assert report.snapshot is not None
    changes = report.sources["grafana"].changes
    assert [e.key for e in changes.changed if e.kind == "dashboard"] == [f"1/{uid}"]
    [entry] = [
        e for e in store.manifest(report.snapshot.id).entries if e.key == f"1/{uid}" and e.kind == "dashboard"
    ]
    assert store.load(report.snapshot.id, entry)["dashboard"]["description"] == "created again"


def test_entries_read_through_legacy_are_rebuilt(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    populate(grafana, dashboards=10, depth=1, seed=5)
    store = GitStore(tmp_path / "repo")
    run(store, grafana, api="legacy")
    report, seen = run(store, grafana, api="apis")
    # No resourceVersion to compare with: every dashboard is read and hashed, to the same hashes.
    assert seen[("Item", "dashboard")] == 10
    assert seen[("Unchanged", "dashboard")] == 0
    assert report.snapshot is None


def test_legacy_responses_identical_to_the_last_are_not_parsed(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    import hashlib

    import httpx

    population = populate(grafana, dashboards=30, depth=2, seed=6)
    store = GitStore(tmp_path / "repo")
    first, seen = run(store, grafana, api="legacy")
    assert first.snapshot is not None and seen[("Item", "dashboard")] == 30
    entries = {e.key: e for e in store.manifest(first.snapshot.id).entries if e.kind == "dashboard"}
    # The digest recorded is that of the very bytes the server sends for the dashboard.
    uid = population.dashboards[3]
    body = httpx.get(f"{grafana.url}/api/dashboards/uid/{uid}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert entries[f"1/{uid}"].meta["digest"] == hashlib.sha256(body.content).hexdigest()

    again, seen = run(store, grafana, api="legacy")
    assert again.snapshot is None
    assert (seen[("Unchanged", "dashboard")], seen[("Item", "dashboard")]) == (30, 0)

    # A save (new version, same model), an edit and a move to the root: each changes the response, so
    # each is read again; only the edit and the move are changes to the content.
    saved, edited, moved = population.dashboards[:3]
    grafana.update_dashboard(saved, {})
    grafana.update_dashboard(edited, {"description": "edited"})
    grafana.move_dashboard(moved, None)
    third, seen = run(store, grafana, api="legacy")
    assert (seen[("Unchanged", "dashboard")], seen[("Item", "dashboard")]) == (27, 3)
    assert third.snapshot is not None
    changed = sorted(e.key for e in third.sources["grafana"].changes.changed if e.kind == "dashboard")
    assert changed == sorted([f"1/{edited}", f"1/{moved}"])
    after = {e.key: e for e in store.manifest(third.snapshot.id).entries if e.kind == "dashboard"}
    assert after[f"1/{saved}"].hash == entries[f"1/{saved}"].hash
    assert after[f"1/{saved}"].meta["digest"] != entries[f"1/{saved}"].meta["digest"]
