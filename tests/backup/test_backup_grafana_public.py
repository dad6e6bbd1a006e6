"""Public dashboards in a backup: what their listing misses is asked for, what cannot be read is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore
from storage.model import Entry
from tests.backup.support import latest_entries
from tests.conftest import Cli, grafana_source, write_config
from tests.faultproxy import FaultProxy
from tests.sandbox.grafana_support import board

LIST = r"^/api/dashboards/public-dashboards\?"


def public_entries(repo: Path) -> dict[str, Entry]:
    return {key: e for (kind, key), e in latest_entries(GitStore(repo)).items() if kind == "public-dashboard"}


def shared_pair(tmp_path: Path, grafana: GrafanaSandbox, url: str) -> tuple[Cli, str, str]:
    first = grafana.add_dashboard(board("Status page"))
    second = grafana.add_dashboard(board("Uptime"))
    grafana.add_dashboard(board("Not shared"))
    grafana.add_public_dashboard(first)
    grafana.add_public_dashboard(second)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(url, retries=1)]))
    assert cli("backup").exit_code == 0
    return cli, first, second


def test_a_public_dashboard_missing_from_the_listing_is_read_and_keeps_its_title(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, first, second = shared_pair(tmp_path, grafana, hostile.url)
    before = public_entries(tmp_path / "backups")
    assert {k: e.title for k, e in before.items()} == {
        f"1/{first}": "Status page",
        f"1/{second}": "Uptime",
    }

    def without_first(page: dict[str, Any]) -> dict[str, Any]:
        page["publicDashboards"] = [p for p in page["publicDashboards"] if p["dashboardUid"] != first]
        return page

    hostile.add("rewrite", LIST, times=None, rewrite=without_first)
    grafana.add_dashboard(board("New since"))  # a change, so the run writes its manifest
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert hostile.faulted("rewrite")
    assert len(GitStore(tmp_path / "backups").snapshots()) == 2
    # Read by its dashboard, it is the same object: same content, and the title the listing gave last time.
    assert public_entries(tmp_path / "backups") == before
    # Only public dashboards, listed or in the last snapshot, are asked for: never every dashboard.
    reads = {
        r.path
        for r in grafana.logged_requests()
        if r.path.endswith("/public-dashboards") and r.path.startswith("/api/dashboards/uid/")
    }
    assert reads == {f"/api/dashboards/uid/{uid}/public-dashboards" for uid in (first, second)}


def test_a_listing_without_titles_keeps_the_titles_of_the_last_snapshot(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, _, _ = shared_pair(tmp_path, grafana, hostile.url)
    before = public_entries(tmp_path / "backups")

    def untitled(page: dict[str, Any]) -> dict[str, Any]:
        for p in page["publicDashboards"]:
            p.pop("title", None)
        return page

    hostile.add("rewrite", LIST, times=None, rewrite=untitled)
    grafana.add_dashboard(board("New since"))
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert hostile.faulted("rewrite")
    assert len(GitStore(tmp_path / "backups").snapshots()) == 2
    assert public_entries(tmp_path / "backups") == before


def test_public_dashboards_switched_off_fail_only_their_own_items(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    cli, first, second = shared_pair(tmp_path, grafana, grafana.url)
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    grafana.public_dashboards_enabled = False
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    failures = {(f["kind"], f["key"]): f["error"] for f in res.json()["sources"]["grafana"]["failures"]}  # type: ignore[index]
    assert set(failures) == {("public-dashboard", f"1/{first}"), ("public-dashboard", f"1/{second}")}
    assert all("answered 404: public dashboards are off" in why for why in failures.values())
    assert latest_entries(store) == before


def test_a_public_dashboard_whose_settings_cannot_be_read_is_kept_and_named(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, first, _ = shared_pair(tmp_path, grafana, hostile.url)
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    hostile.add("json", f"^/api/dashboards/uid/{first}/public-dashboards$", times=None, status=500, body={})
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert hostile.faulted("json")
    failures = res.json()["sources"]["grafana"]["failures"]  # type: ignore[index]
    assert [(f["kind"], f["key"], f["follows"]) for f in failures] == [("public-dashboard", f"1/{first}", "")]
    assert latest_entries(store) == before
