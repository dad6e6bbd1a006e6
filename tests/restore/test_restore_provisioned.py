"""Provisioned dashboards: recorded as such, and restored only when asked, as ordinary ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore
from tests.conftest import Cli, grafana_source, write_config


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_provisioned_dashboard_is_recorded_and_left_to_its_provisioning(
    tmp_path: Path, grafana: GrafanaSandbox, api: str
) -> None:
    population = populate(grafana, dashboards=8, depth=1, seed=41)
    owned, editable, plain = population.dashboards[:3]
    grafana.provision(owned, "team-a/overview.json")
    grafana.provision(editable, "team-b/free.json", allow_ui_updates=True)  # saves are allowed
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    [snapshot] = store.snapshots()
    meta = {e.key: e.meta for e in store.manifest(snapshot.id).entries if e.kind == "dashboard"}
    assert meta[f"1/{owned}"]["provisioned"] == "team-a/overview.json"
    assert "provisioned" not in meta[f"1/{editable}"] and "provisioned" not in meta[f"1/{plain}"]

    grafana.wipe()
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stderr
    items = {(i["kind"], i["key"]): i for i in res.json()["plans"][0]["items"]}
    skipped = items[("dashboard", f"1/{owned}")]
    assert skipped["outcome"] == "skipped" and "provisioned from team-a/overview.json" in skipped["detail"]
    assert items[("permissions", f"1/{owned}")]["outcome"] == "skipped"  # nothing to give them to
    assert grafana.get_dashboard(owned) is None
    assert items[("dashboard", f"1/{editable}")]["outcome"] == "created"

    res = cli("restore", "--include-provisioned", "--json")
    assert res.exit_code == 0, res.stderr
    items = {(i["kind"], i["key"]): i for i in res.json()["plans"][0]["items"]}
    assert items[("dashboard", f"1/{owned}")]["outcome"] == "created"
    assert items[("permissions", f"1/{owned}")]["outcome"] == "created"
    assert grafana.get_dashboard(owned) is not None


def test_a_provisioned_dashboard_without_a_known_file_is_still_left_to_its_provisioning(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    uid = grafana.add_dashboard({"title": "From a provisioner", "panels": []})
    grafana.provision(uid, "")  # legacy meta: provisioned, with no provisionedExternalId
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    grafana.wipe()
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stderr
    items = {(i["kind"], i["key"]): i for i in res.json()["plans"][0]["items"]}
    assert items[("dashboard", f"1/{uid}")]["detail"] == (
        "provisioned from a file: its provisioning restores it "
        "(--include-provisioned restores it as an ordinary dashboard)"
    )
    assert grafana.get_dashboard(uid) is None
