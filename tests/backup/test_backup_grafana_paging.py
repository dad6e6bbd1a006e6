"""Paging /api/search, which orders by title alone: equal titles must not cost a dashboard."""

from __future__ import annotations

from pathlib import Path

from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore
from tests.backup.support import latest_entries
from tests.conftest import Cli, grafana_source, write_config


def test_dashboards_sharing_a_title_across_page_boundaries_are_all_backed_up(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    # Since 11.3 titles need not be unique, even in one folder; the sandbox, like Grafana, puts equal
    # titles in another order on every query, so offset paging can skip one at a page boundary.
    for folder in ("a", "b", "c"):
        grafana.add_folder(folder, "Same folder title")
    uids = [
        grafana.add_dashboard(
            {"title": "Overview" if n % 3 else "Latency", "panels": []}, folder_uid="abc"[n % 3]
        )
        for n in range(41)
    ]
    cli = Cli(
        write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy", page_size=4)])
    )
    store = GitStore(tmp_path / "backups")
    for _ in range(3):  # each run sees another order of the ties
        res = cli("backup", "--json")
        assert res.exit_code == 0, res.stderr
        keys = latest_entries(store)
        assert {k for kind, k in keys if kind == "dashboard"} == {f"1/{u}" for u in uids}
        assert {k for kind, k in keys if kind == "folder"} == {"1/a", "1/b", "1/c"}
        assert res.json()["sources"]["grafana"]["deleted"] == 0
