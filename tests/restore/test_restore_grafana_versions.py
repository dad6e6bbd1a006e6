"""Restoring dashboards through the API version they were captured in: v2 as v2, the rest as saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.grafana import GrafanaSandbox
from tests.conftest import TOKEN, Cli, grafana_source, write_config
from tests.contract import watch
from tests.sandbox.grafana_support import v2_spec


def hashes(repo: Path) -> dict[tuple[str, str], str]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e["hash"] for e in manifest["entries"]}


@pytest.fixture(params=["12.1.0", "12.2.0"])
def g12(request: pytest.FixtureRequest):
    sandbox = watch(request, GrafanaSandbox(token=TOKEN, seed=4, grafana_version=request.param).start())
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_after_a_wipe_v2_dashboards_read_back_identical_through_v2(tmp_path, g12: GrafanaSandbox, api):
    g12.add_folder("ops", "Ops")
    specs = {"dyn-a": v2_spec("Dynamic A"), "dyn-b": v2_spec("Dynamic B", description="rows")}
    for uid, spec in specs.items():
        g12.add_v2_dashboard(uid, spec, folder_uid="ops")
    g12.add_dashboard({"uid": "classic", "title": "Classic", "schemaVersion": 30, "panels": []})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(g12.url, api=api)]))
    assert cli("backup").exit_code == 0
    before = hashes(tmp_path / "backups")

    g12.wipe()
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    for uid, spec in specs.items():
        assert g12.stored_version(uid) == "v2beta1"
        assert g12.get_dashboard(uid) == spec
        assert g12.dashboard_folder(uid) == "ops"
    # The classic one is written as it was saved: not migrated by a v1beta1 write.
    assert g12.get_dashboard("classic")["schemaVersion"] == 30  # type: ignore[index]

    fresh = Cli(write_config(tmp_path / "fresh" / "dashvault.toml", [grafana_source(g12.url, api=api)]))
    assert fresh("backup").exit_code == 0
    assert hashes(tmp_path / "fresh" / "backups") == before
    again = cli("backup")
    assert again.exit_code == 0 and "no changes" in again.stdout


def test_a_v2_dashboard_converted_to_v1_meanwhile_is_rolled_back_to_v2(tmp_path, g12: GrafanaSandbox):
    spec = v2_spec("Dynamic")
    g12.add_v2_dashboard("dyn", spec)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(g12.url, api="apis")]))
    assert cli("backup").exit_code == 0
    snapshot = cli("snapshots", "--json").json()[0]["id"]
    # Someone saves it through the legacy API: stored as v0alpha1 now, its layout gone.
    with g12.lock:
        g12._save_dashboard(
            g12._orgs[1],
            g12._orgs[1].dashboards["dyn"],
            {"title": "Flat"},
            folder_uid=None,
            actor="user:admin",
        )
    res = cli("restore", "--snapshot", snapshot, "--key", "dyn", "--on-conflict", "overwrite", "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    assert (g12.stored_version("dyn"), g12.get_dashboard("dyn")) == ("v2beta1", spec)


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_whole_instance_survives_a_disaster_v2_library_and_public_dashboards_too(tmp_path, request, api):
    grafana = watch(request, GrafanaSandbox(token=TOKEN, seed=9, grafana_version="12.2.0").start())
    try:
        grafana.add_folder("ops", "Ops")
        grafana.add_library_panel("lib-cpu", "CPU", {"type": "stat", "title": "CPU"}, folder_uid="ops")
        ref = {
            "kind": "LibraryPanel",
            "spec": {"id": 2, "title": "CPU", "libraryPanel": {"uid": "lib-cpu", "name": "CPU"}},
        }
        spec = v2_spec("Dynamic")
        spec["elements"]["lib"] = ref
        grafana.add_v2_dashboard("dyn", spec, folder_uid="ops")
        classic = {"uid": "classic", "title": "Classic", "schemaVersion": 36}
        classic["panels"] = [
            {"id": 1, "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}, "libraryPanel": {"uid": "lib-cpu"}}
        ]
        grafana.add_dashboard(classic, folder_uid="ops")
        grafana.add_public_dashboard("classic", uid="classic-pub", access_token="a" * 32)
        grafana.set_permissions("folder", "ops", [{"role": "Viewer", "permission": 1}])
        cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
        first = cli("backup", "--json")
        assert first.exit_code == 0 and first.json()["sources"]["grafana"]["failed"] == 0
        before = hashes(tmp_path / "backups")
        assert {kind for kind, _ in before} == {
            "folder",
            "library-panel",
            "dashboard",
            "permissions",
            "public-dashboard",
        }

        grafana.wipe()
        res = cli("restore", "--json")
        assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
        after = cli("backup", "--json")
        assert after.exit_code == 0 and after.json()["sources"]["grafana"]["failed"] == 0
        assert hashes(tmp_path / "backups") == before  # an empty diff
        assert (grafana.stored_version("dyn"), grafana.get_dashboard("dyn")) == ("v2beta1", spec)
        assert grafana.library_panel("lib-cpu")["connections"] == ["classic", "dyn"]  # type: ignore[index]
        assert grafana.public_dashboard("classic")["accessToken"] == "a" * 32  # type: ignore[index]
    finally:
        grafana.stop()
