"""Restoring library panels: before the dashboards that use them, and a dashboard without its panels said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, grafana_source, write_config

PANEL = {"type": "timeseries", "title": "Load", "targets": [{"refId": "A", "expr": "load1"}]}


def hashes(repo: Path) -> dict[tuple[str, str], str]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e["hash"] for e in manifest["entries"]}


def using(title: str, uid: str, *panels: str) -> dict[str, Any]:
    """A dashboard using library panels, the last one in a collapsed row."""
    refs: list[dict[str, Any]] = [
        {"id": n, "gridPos": {"x": 0, "y": n, "w": 8, "h": 6}, "libraryPanel": {"uid": p, "name": p}}
        for n, p in enumerate(panels[:-1], start=1)
    ]
    row = {
        "id": 90,
        "type": "row",
        "collapsed": True,
        "panels": [{"id": 91, "libraryPanel": {"uid": panels[-1]}}],
    }
    return {"uid": uid, "title": title, "schemaVersion": 39, "panels": [*refs, row]}


def instance(grafana: GrafanaSandbox) -> None:
    """Folders, dashboards and ACLs, plus library panels in a folder and at the root, in use."""
    populate(grafana, dashboards=20, depth=2, seed=5)
    folder = grafana.folders()[0]
    grafana.add_library_panel("lib-load", "Load", PANEL, folder_uid=folder)
    grafana.add_library_panel("lib-root", "Root", {**PANEL, "title": "Root"})
    grafana.add_library_panel("lib-unused", "Unused", {**PANEL, "title": "Unused"})
    grafana.add_dashboard(using("Uses both", "uses-both", "lib-load", "lib-root"), folder_uid=folder)
    grafana.add_dashboard(using("Uses root", "uses-root", "lib-root"))
    grafana.set_permissions("dashboard", "uses-root", [{"role": "Viewer", "permission": 1}])


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_wiped_instance_comes_back_with_its_library_panels_connected(
    tmp_path, grafana: GrafanaSandbox, api
):
    instance(grafana)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    before = hashes(tmp_path / "backups")
    assert sum(1 for kind, _ in before if kind == "library-panel") == 3

    grafana.wipe()
    assert grafana.library_panels() == []
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    assert res.json()["plans"][0]["counts"] == {"created": len(before)}
    assert grafana.library_panels() == ["lib-load", "lib-root", "lib-unused"]
    assert grafana.library_panel("lib-root")["connections"] == ["uses-both", "uses-root"]  # type: ignore[index]
    assert grafana.library_panel("lib-load")["model"] == PANEL  # type: ignore[index]

    fresh = Cli(write_config(tmp_path / "fresh" / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert fresh("backup").exit_code == 0
    assert hashes(tmp_path / "fresh" / "backups") == before
    again = cli("backup")
    assert again.exit_code == 0 and "no changes" in again.stdout


def test_restoring_one_dashboard_brings_the_library_panels_it_uses(tmp_path, grafana: GrafanaSandbox):
    instance(grafana)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard("uses-both")
    grafana.delete_library_panel("lib-load")
    grafana.delete_library_panel("lib-unused")
    res = cli("restore", "--key", "uses-both", "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    items = {(i["kind"], i["key"]): i for i in res.json()["plans"][0]["items"]}
    assert items[("library-panel", "1/lib-load")]["dependency"] is True
    assert items[("library-panel", "1/lib-load")]["outcome"] == "created"
    assert items[("library-panel", "1/lib-root")]["outcome"] == "skipped"  # there, left alone
    assert ("library-panel", "1/lib-unused") not in items  # not used by what was asked for
    assert grafana.library_panel("lib-load")["connections"] == ["uses-both"]  # type: ignore[index]


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_dashboard_whose_library_panel_is_nowhere_is_saved_reported_and_keeps_its_acl(
    tmp_path, grafana: GrafanaSandbox, api
):
    # Saved while its panel was already gone: the snapshot holds the dashboard, not the panel.
    grafana.add_dashboard(using("Lost panel", "lost", "lib-gone"))
    grafana.set_permissions("dashboard", "lost", [{"role": "Editor", "permission": 2}])
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard("lost")

    res = cli("restore", "--key", "lost", "--json")
    assert res.exit_code == 1
    items = {i["kind"]: i for i in res.json()["plans"][0]["items"]}
    assert items["dashboard"]["outcome"] == "incomplete"
    assert "lib-gone" in items["dashboard"]["detail"]
    # It exists, so its permissions were set all the same.
    assert grafana.get_dashboard("lost") is not None
    assert items["permissions"]["outcome"] == "created"
    acl = grafana.permissions("dashboard", "lost")
    assert [(a["role"], a["permission"]) for a in acl] == [("Editor", 2)]
