"""Public dashboards: backed up with their access token, restored with the same public URL."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, grafana_source, write_config
from tests.sandbox.grafana_support import board

TOKEN_HEX = "5f0e2c1d9a8b47c6b3e2d1f0a9b8c7d6"


def entries(repo: Path, kind: str) -> dict[str, dict]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {e["key"]: e for e in manifest["entries"] if e["kind"] == kind}


def shared_instance(grafana: GrafanaSandbox) -> tuple[str, str]:
    shared = grafana.add_dashboard(board("Status page"))
    private = grafana.add_dashboard(board("Internal"))
    grafana.add_public_dashboard(shared, uid="status-pub", access_token=TOKEN_HEX, is_enabled=True)
    return shared, private


def test_a_public_dashboard_is_an_item_with_its_url_and_switches(tmp_path, grafana: GrafanaSandbox):
    shared, private = shared_instance(grafana)
    also = grafana.add_dashboard(board("Also shared"))
    grafana.add_public_dashboard(also)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    repo = tmp_path / "backups"
    assert sorted(entries(repo, "public-dashboard")) == sorted([f"1/{shared}", f"1/{also}"])
    stored = json.loads((repo / f"grafana/public-dashboards/1/{shared}.json").read_text())
    assert stored == {
        "dashboardUid": shared,
        "uid": "status-pub",
        "accessToken": TOKEN_HEX,
        "isEnabled": True,
        "annotationsEnabled": False,
        "timeSelectionEnabled": False,
        "share": "public",
    }
    assert entries(repo, "public-dashboard")[f"1/{shared}"]["title"] == "Status page"
    # Switched off, the next run neither deletes it nor reports the run whole.
    grafana.public_dashboards_enabled = False
    res = cli("backup")
    assert res.exit_code == 1
    assert sorted(entries(repo, "public-dashboard")) == sorted([f"1/{shared}", f"1/{also}"])
    grafana.public_dashboards_enabled = True
    # Unshared in Grafana: recorded deleted on Grafana's own "not found".
    with grafana.lock:
        del grafana._orgs[1].public[shared]
    assert cli("backup").exit_code == 0
    assert sorted(entries(repo, "public-dashboard")) == [f"1/{also}"]
    assert f"1/{private}" not in entries(repo, "public-dashboard")


def test_a_deleted_dashboard_comes_back_public_at_the_same_url(tmp_path, grafana: GrafanaSandbox):
    shared, _ = shared_instance(grafana)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard(shared)  # Grafana deletes its public dashboard with it
    assert grafana.public_dashboard(shared) is None
    res = cli("restore", "--key", shared, "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    restored = grafana.public_dashboard(shared)
    assert restored is not None
    assert (restored["uid"], restored["accessToken"], restored["isEnabled"]) == (
        "status-pub",
        TOKEN_HEX,
        True,
    )


def test_a_public_dashboard_paused_or_given_a_new_url_is_rolled_back(tmp_path, grafana: GrafanaSandbox):
    shared, _ = shared_instance(grafana)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    with grafana.lock:
        grafana._orgs[1].public[shared].is_enabled = False
    snapshot = cli("snapshots", "--json").json()[0]["id"]
    assert cli("backup").exit_code == 0  # the paused state is the newest snapshot: a rollback
    res = cli("restore", "--snapshot", snapshot, "--key", shared, "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    items = {i["kind"]: i for i in res.json()["plans"][0]["items"]}
    assert (items["public-dashboard"]["action"], items["public-dashboard"]["outcome"]) == (
        "update",
        "updated",
    )
    assert grafana.public_dashboard(shared)["isEnabled"] is True  # type: ignore[index]
    # Deleted and shared again: a new URL, which a patch cannot change back; replaced.
    with grafana.lock:
        del grafana._orgs[1].public[shared]
    grafana.add_public_dashboard(shared, uid="new-pub")
    res = cli("restore", "--snapshot", snapshot, "--key", shared, "--on-conflict", "overwrite", "--json")
    assert res.exit_code == 0, res.stdout[-3000:] + res.stderr
    restored = grafana.public_dashboard(shared)
    assert (restored["uid"], restored["accessToken"]) == ("status-pub", TOKEN_HEX)  # type: ignore[index]
