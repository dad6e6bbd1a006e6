"""Dashboards of every schema and size captured whole, whichever API reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import TOKEN, Cli, grafana_source, write_config
from tests.contract import watch
from tests.sandbox.grafana_support import v2_spec


def manifest(repo: Path) -> dict[tuple[str, str], dict[str, Any]]:
    data = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e for e in data["entries"]}


def stored(repo: Path, uid: str) -> dict[str, Any]:
    return json.loads((repo / f"grafana/dashboards/1/{uid}.json").read_text())


@pytest.fixture(params=["12.1.0", "12.2.0"])
def g12(request: pytest.FixtureRequest):
    sandbox = watch(request, GrafanaSandbox(token=TOKEN, seed=2, grafana_version=request.param).start())
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def grafana_12(request: pytest.FixtureRequest):
    sandbox = watch(request, GrafanaSandbox(token=TOKEN, seed=2, grafana_version="12.2.0").start())
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_v2_dashboard_is_captured_whole_through_its_own_version(tmp_path, g12: GrafanaSandbox, api):
    g12.add_folder("ops", "Ops")
    spec = v2_spec("Dynamic")
    g12.add_v2_dashboard("dyn", spec, folder_uid="ops")
    g12.add_dashboard({"uid": "classic", "title": "Classic", "schemaVersion": 39, "panels": []})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(g12.url, api=api)]))
    g12.clear_requests()
    res = cli("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    # Each is read once, in the version it is kept in: a dashboard the /apis listing gave whole is not
    # asked for again, and one that /api answers 406 is read through v2 only, not the default first.
    reads = sorted(r.path for r in g12.logged_requests() if r.path.rsplit("/", 1)[1] in ("classic", "dyn"))
    v2_read = "/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/dyn"
    legacy_reads = ["/api/dashboards/uid/classic", "/api/dashboards/uid/dyn"]
    assert reads == (legacy_reads if api == "legacy" else []) + [v2_read]
    repo = tmp_path / "backups"
    # Never the hollow v1beta1 view (12.1: an empty spec; 12.2: a lossy conversion).
    assert stored(repo, "dyn") == {"apiVersion": "v2beta1", "dashboard": spec, "folderUid": "ops"}
    entry = manifest(repo)[("dashboard", "1/dyn")]
    assert (entry["title"], entry["meta"]["apiVersion"]) == ("Dynamic", "v2beta1")
    assert "apiVersion" not in stored(repo, "classic")
    # Unchanged, it is recognised as such the next time.
    again = cli("backup")
    assert again.exit_code == 0 and "no changes" in again.stdout


def test_switching_from_legacy_to_apis_on_an_untouched_instance_records_no_change(tmp_path, grafana_12):
    population = populate(grafana_12, dashboards=59, depth=2, seed=21)
    assert len(population.dashboards) == 59
    config = tmp_path / "dashvault.toml"
    cli = Cli(write_config(config, [grafana_source(grafana_12.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    before = {k: e["hash"] for k, e in manifest(tmp_path / "backups").items()}
    cli = Cli(write_config(config, [grafana_source(grafana_12.url, api="apis")]))
    res = cli("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "no changes" in res.stdout
    assert {k: e["hash"] for k, e in manifest(tmp_path / "backups").items()} == before


def test_a_large_dashboard_reduced_by_grafana_is_read_whole(tmp_path, grafana_12):
    grafana_12.large_object_bytes = 3000
    panels = [
        {"id": n, "type": "text", "title": f"note {n}", "options": {"content": "y" * 80}} for n in range(50)
    ]
    grafana_12.add_dashboard({"uid": "big", "title": "Big", "schemaVersion": 41, "panels": panels})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana_12.url, api="apis")]))
    assert cli("backup").exit_code == 0
    assert len(stored(tmp_path / "backups", "big")["dashboard"]["panels"]) == 50


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_large_v2_dashboard_reduced_by_grafana_is_read_whole_in_its_own_version(tmp_path, grafana_12, api):
    grafana_12.large_object_bytes = 3000
    spec = v2_spec("Big v2", description="y" * 4000)
    grafana_12.add_v2_dashboard("big2", spec)
    # Kept reduced: the resource carries the title and description in an otherwise empty v2 spec.
    path = "/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/big2"
    kept = httpx.get(grafana_12.url + path, headers={"Authorization": f"Bearer {TOKEN}"}).json()["spec"]
    assert kept["title"] == "Big v2" and kept["elements"] == {} and kept != spec
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana_12.url, api=api)]))
    assert cli("backup").exit_code == 0
    assert stored(tmp_path / "backups", "big2") == {
        "apiVersion": "v2beta1",
        "dashboard": spec,
        "folderUid": "",
    }
    dto = [r.path for r in grafana_12.logged_requests() if r.path.endswith("/dto")]
    assert dto == [path + "/dto"]


@pytest.mark.no_contract("../shared/specs has no v2alpha1 document to check the v2alpha1 read against")
@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_dashboard_kept_in_v2alpha1_is_read_and_recorded_in_v2alpha1(tmp_path, grafana_12, api):
    # The legacy 406 names the version the dashboard is kept in (pkg/api/dashboard.go GetDashboard),
    # the /apis resource says it in status.conversion.storedVersion: read there, not converted.
    spec = v2_spec("Alpha")
    grafana_12.add_v2_dashboard("alpha", spec, version="v2alpha1")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana_12.url, api=api)]))
    assert cli("backup").exit_code == 0
    assert stored(tmp_path / "backups", "alpha") == {
        "apiVersion": "v2alpha1",
        "dashboard": spec,
        "folderUid": "",
    }
    reads = [r.path for r in grafana_12.logged_requests() if r.path.endswith("/dashboards/alpha")]
    assert reads == ["/apis/dashboard.grafana.app/v2alpha1/namespaces/default/dashboards/alpha"]


def test_a_failed_conversion_is_an_item_failure_never_a_hollow_entry(tmp_path, grafana_12):
    # A release without v0alpha1 serves v0/v1 dashboards migrated, and one too old to migrate fails.
    grafana_12.add_dashboard({"uid": "fine", "title": "Fine", "schemaVersion": 39, "panels": []})
    grafana_12.add_dashboard({"uid": "ancient", "title": "Ancient", "schemaVersion": 6, "panels": []})
    grafana_12.dashboard_versions = ("v1beta1", "v2beta1")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana_12.url, api="apis")]))
    res = cli("backup", "--json")
    assert res.exit_code == 1
    failures = res.json()["sources"]["grafana"]["failures"]
    # The dashboard fails, and its ACL with it (never read, so never recorded as gone).
    assert [(f["kind"], f["key"], f["follows"]) for f in failures] == [
        ("dashboard", "1/ancient", ""),
        ("permissions", "1/ancient", "dashboard"),
    ]
    assert "conversion failed" in failures[0]["error"]
    entries = manifest(tmp_path / "backups")
    assert ("dashboard", "1/ancient") not in entries
    # Read through v1beta1, the migrated spec is labelled with the version it came from.
    fine = stored(tmp_path / "backups", "fine")
    assert (fine["apiVersion"], fine["dashboard"]["schemaVersion"]) == ("v1beta1", 42)


def test_a_v2_dashboard_on_a_server_that_no_longer_serves_v2_is_a_failure_naming_it(tmp_path, grafana_12):
    grafana_12.add_v2_dashboard("dyn", v2_spec("Dynamic"))
    grafana_12.add_dashboard({"uid": "classic", "title": "Classic", "schemaVersion": 39, "panels": []})
    grafana_12.dashboard_versions = ("v1beta1", "v0alpha1")  # v2 turned off since it was saved
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana_12.url, api="apis")]))
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    failures = res.json()["sources"]["grafana"]["failures"]
    assert [(f["kind"], f["key"], f["error"]) for f in failures] == [
        (
            "dashboard",
            "1/dyn",
            "grafana: dashboard dyn is stored as v2beta1, which the server does not serve",
        ),
        (
            "permissions",
            "1/dyn",
            "grafana: dashboard dyn is stored as v2beta1, which the server does not serve",
        ),
    ]
    assert ("dashboard", "1/classic") in manifest(tmp_path / "backups")
