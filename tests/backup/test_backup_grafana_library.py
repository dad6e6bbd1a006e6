"""Library panels in a Grafana backup: items of their own, listed whole, never called deleted on doubt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, grafana_source, write_config
from tests.faultproxy import FaultProxy

PANEL = {"type": "stat", "title": "Up", "targets": [{"refId": "A", "expr": "up"}]}


def entries(repo: Path, kind: str) -> dict[str, dict]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {e["key"]: e for e in manifest["entries"] if e["kind"] == kind}


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_library_panels_are_items_with_their_model_and_folder(tmp_path, grafana: GrafanaSandbox, api):
    grafana.add_folder("ops", "Ops")
    grafana.add_library_panel("lib-up", "Up", PANEL, folder_uid="ops")
    grafana.add_library_panel("lib-root", "Root panel", {**PANEL, "title": "Root"})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    repo = tmp_path / "backups"
    stored = json.loads((repo / "grafana/library-panels/1/lib-up.json").read_text())
    assert stored == {"uid": "lib-up", "name": "Up", "kind": 1, "folderUid": "ops", "model": PANEL}
    found = entries(repo, "library-panel")
    assert sorted(found) == ["1/lib-root", "1/lib-up"]
    assert (found["1/lib-up"]["folder"], found["1/lib-root"]["folder"]) == ("ops", None)
    assert found["1/lib-up"]["meta"]["version"] == 1


def test_a_changed_and_a_deleted_library_panel_are_recorded(tmp_path, grafana: GrafanaSandbox):
    for n in range(4):
        grafana.add_library_panel(f"p{n}", f"Panel {n}", PANEL)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    first = entries(tmp_path / "backups", "library-panel")
    with grafana.lock:
        grafana._orgs[1].library["p1"].model = {**PANEL, "title": "Changed"}
    grafana.delete_library_panel("p2")
    assert cli("backup").exit_code == 0
    second = entries(tmp_path / "backups", "library-panel")
    assert sorted(second) == ["1/p0", "1/p1", "1/p3"]
    assert second["1/p1"]["hash"] != first["1/p1"]["hash"]
    assert second["1/p0"]["hash"] == first["1/p0"]["hash"]
    # The deletion was recorded on Grafana's own answer to a re-check by uid.
    rechecks = [r for r in grafana.logged_requests() if r.path == "/api/library-elements/p2"]
    assert [r.status for r in rechecks] == [404]
    # Panels the listing gave whole are never asked for one by one.
    by_uid = {r.path for r in grafana.logged_requests() if r.path.startswith("/api/library-elements/")}
    assert by_uid == {"/api/library-elements/p2"}


def test_a_library_panel_missing_from_the_listing_is_asked_for_not_deleted(tmp_path, grafana: GrafanaSandbox):
    grafana.add_library_panel("kept", "Kept", PANEL)
    grafana.add_library_panel("other", "Other", PANEL)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    grafana.hidden_from_listing.add("kept")
    res = cli("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert sorted(entries(tmp_path / "backups", "library-panel")) == ["1/kept", "1/other"]
    assert "no changes" in res.stdout


def test_a_missed_library_panel_whose_read_fails_is_kept_and_named(
    tmp_path, grafana: GrafanaSandbox, hostile: FaultProxy
):
    grafana.add_library_panel("kept", "Kept", PANEL)
    grafana.add_library_panel("other", "Other", PANEL)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(hostile.url, retries=1)]))
    assert cli("backup").exit_code == 0
    before = entries(tmp_path / "backups", "library-panel")
    grafana.hidden_from_listing.add("kept")
    hostile.add("json", "^/api/library-elements/kept$", times=None, status=500, body={})
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    failed = [(f["kind"], f["key"]) for f in res.json()["sources"]["grafana"]["failures"]]
    assert failed == [("library-panel", "1/kept")]
    assert entries(tmp_path / "backups", "library-panel") == before
    assert hostile.faulted("json")


def test_a_short_page_is_not_the_end_of_the_library_panel_list(tmp_path, grafana: GrafanaSandbox):
    # Grafana drops unreadable elements from each page after paging: a Viewer's pages come short.
    grafana.add_folder("secret", "Secret")
    grafana.set_permissions("folder", "secret", [])
    grafana.add_service_account("viewer", "Viewer", org=1, token="viewer-token")
    names = [f"panel {n:02d}" for n in range(12)]
    for n, name in enumerate(names):
        grafana.add_library_panel(f"p{n:02d}", name, PANEL, folder_uid="secret" if n % 3 == 0 else None)
    source = grafana_source(grafana.url, token="viewer-token", page_size=3)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [source]))
    res = cli("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    readable = sorted(f"1/p{n:02d}" for n in range(12) if n % 3 != 0)
    assert sorted(entries(tmp_path / "backups", "library-panel")) == readable


def test_library_panels_sharing_a_name_across_page_edges_are_all_captured(tmp_path, grafana: GrafanaSandbox):
    # Ordered by name alone: equal names fall on either side of a page edge in each query.
    for n in range(24):
        grafana.add_folder(f"f{n}", f"Team {n}")
        grafana.add_library_panel(f"cpu-{n}", "CPU", PANEL, folder_uid=f"f{n}")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, page_size=5)]))
    assert cli("backup").exit_code == 0
    assert len(entries(tmp_path / "backups", "library-panel")) == 24
