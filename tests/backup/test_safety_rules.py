"""The safety rules of a backup run (README, "Safety rules"), each in a case where only that rule holds.

Every test here fails when the rule it names is broken: an unreadable item keeps its previous entry,
an incomplete listing records no deletion even below the mass-deletion guard, the guard's boundary is
"more than" the fraction, an interrupted run commits nothing, and a live dashboard that the listing
missed is asked for by uid before it is called deleted.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from backup.grafana import GrafanaCollector
from backup.run import BackupRun
from sandbox.generate import populate
from sandbox.grafana import DASHBOARD_API, GrafanaSandbox
from sources.config import GrafanaSourceConfig
from storage.git import GitStore
from tests.backup.support import (
    assert_store_intact,
    dashboard_reads,
    diff_keys,
    last_status,
    latest_entries,
    start_run,
    wait_until,
)
from tests.conftest import TOKEN, Cli, grafana_source, run_dashvault, write_config

# -- an item that was listed but could not be read keeps its previous entry -----------------------


def test_a_listed_dashboard_that_cannot_be_read_keeps_its_previous_entry(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    population = populate(grafana, dashboards=20, depth=1, seed=11)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    # One with an ACL of its own, so that its permissions item is at stake too.
    broken = next(u for u in population.dashboards if u in population.with_permissions)
    other = next(u for u in population.dashboards if u != broken)
    key = f"1/{broken}"
    assert ("dashboard", key) in before and ("permissions", key) in before

    # Another dashboard changes, so that the run makes a snapshot whatever happens to the broken one.
    grafana.update_dashboard(other, {"description": "changed while another one cannot be read"})
    grafana.fail_dashboard_get = {broken}
    grafana.clear_requests()
    res = cli("backup")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert f"dashboard {key}" in res.stderr
    # It was listed, and its read failed (nothing else was wrong with it).
    statuses = [r.status for r in dashboard_reads(grafana) if r.path == f"/api/dashboards/uid/{broken}"]
    assert statuses and set(statuses) == {500}

    snaps = store.snapshots()
    assert len(snaps) == 2
    after = latest_entries(store)
    assert set(after) == set(before)
    assert after[("dashboard", key)].hash == before[("dashboard", key)].hash
    assert after[("permissions", key)].hash == before[("permissions", key)].hash
    assert store.load(snaps[0].id, after[("dashboard", key)])["dashboard"]["uid"] == broken
    status = last_status(cli)
    assert (status["deleted"], status["failed"]) == (0, 1)  # one object; its ACL follows it
    # Said and logged once, not once more for its ACL.
    assert [line for line in res.stderr.splitlines() if key in line and "warning: grafana:" in line] == [
        line for line in res.stderr.splitlines() if f"dashboard {key}:" in line
    ]
    assert res.stderr.count("item failed") == 1
    assert diff_keys(cli, snaps[1].id, snaps[0].id) == {
        "added": [],
        "changed": [("dashboard", f"1/{other}")],
        "deleted": [],
    }

    grafana.fail_dashboard_get = set()
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    assert latest_entries(store)[("dashboard", key)].hash == before[("dashboard", key)].hash


# -- a listing cut short records no deletion, even when too few vanish for the guard to act -------


@pytest.mark.parametrize("api", ["legacy", "apis"])
@pytest.mark.parametrize("fault", ["fail_listing_after", "truncate_listing_after"])
def test_a_listing_cut_short_records_no_deletion_below_the_mass_deletion_guard(
    tmp_path: Path, grafana: GrafanaSandbox, api: str, fault: str
) -> None:
    population = populate(grafana, dashboards=120, depth=2, seed=5)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api, page_size=25)]))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    assert sum(1 for kind, _ in before if kind == "dashboard") == 120

    # Every dashboard changes, so that the run makes a snapshot of what it did read.
    for uid in population.dashboards:
        grafana.update_dashboard(uid, {"description": "changed before the listing is cut"})
    # Pages of 25: the fifth dashboard page (from the 101st on) fails. 20 of 120 go unlisted, a sixth:
    # well below max_delete_fraction (0.5), so only the incomplete-listing rule keeps them.
    setattr(grafana, fault, 100)
    res = cli("backup")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "grafana" in res.stderr

    snaps = store.snapshots()
    assert len(snaps) == 2
    changes = diff_keys(cli, snaps[1].id, snaps[0].id)
    listed = {key for kind, key in changes["changed"] if kind == "dashboard"}
    assert len(listed) == 100  # the cut came where it was set: the guard has nothing to act on
    after = latest_entries(store)
    assert set(after) == set(before)
    unlisted = [k for k in before if k[0] == "dashboard" and k[1] not in listed]
    assert len(unlisted) == 20
    assert all(after[k].hash == before[k].hash for k in unlisted)
    assert changes["deleted"] == []
    status = last_status(cli)
    assert (status["complete"], status["deleted"]) == (False, 0)

    setattr(grafana, fault, None)
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    assert last_status(cli)["complete"] is True
    assert set(latest_entries(store)) == set(before)


# -- the mass-deletion guard acts on more than max_delete_fraction, not at it ---------------------

# (max_delete_fraction in the config, None for the default of 0.5; dashboards deleted at exactly it)
BOUNDARIES = [(None, 5), (0.3, 3)]


def guarded_config(tmp_path: Path, url: str, fraction: float | None) -> Path:
    storage = {} if fraction is None else {"max_delete_fraction": fraction}
    return write_config(tmp_path / "dashvault.toml", [grafana_source(url, api="legacy")], **storage)


def dashboard_keys(store: GitStore) -> set[str]:
    return {key for kind, key in latest_entries(store) if kind == "dashboard"}


@pytest.mark.parametrize(("fraction", "at_limit"), BOUNDARIES)
def test_deleting_exactly_max_delete_fraction_records_the_deletions(
    tmp_path: Path, grafana: GrafanaSandbox, fraction: float | None, at_limit: int
) -> None:
    population = populate(grafana, dashboards=10, depth=1, seed=2, permissions=False)
    assert len(population.dashboards) == 10
    cli = Cli(guarded_config(tmp_path, grafana.url, fraction))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")

    deleted = population.dashboards[:at_limit]  # at_limit of 10: exactly the fraction, not more
    for uid in deleted:
        grafana.delete_dashboard(uid)
    res = cli("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "vanished" not in res.stderr
    assert dashboard_keys(store) == {f"1/{u}" for u in population.dashboards[at_limit:]}
    assert last_status(cli)["deleted"] == 2 * at_limit  # each dashboard with its permissions item


@pytest.mark.parametrize(("fraction", "at_limit"), BOUNDARIES)
def test_deleting_one_more_than_max_delete_fraction_is_held_back(
    tmp_path: Path, grafana: GrafanaSandbox, fraction: float | None, at_limit: int
) -> None:
    population = populate(grafana, dashboards=10, depth=1, seed=2, permissions=False)
    assert len(population.dashboards) == 10
    cli = Cli(guarded_config(tmp_path, grafana.url, fraction))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")

    deleted = population.dashboards[: at_limit + 1]
    for uid in deleted:
        grafana.delete_dashboard(uid)
    res = cli("backup")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert f"{at_limit + 1} of 10 dashboard items vanished" in res.stderr
    assert "--allow-mass-delete" in res.stderr
    assert dashboard_keys(store) == {f"1/{u}" for u in population.dashboards}

    res = cli("backup", "--allow-mass-delete")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert dashboard_keys(store) == {f"1/{u}" for u in population.dashboards[at_limit + 1 :]}
    assert last_status(cli)["deleted"] == 2 * (at_limit + 1)  # with their permissions items


def test_a_run_built_with_the_defaults_holds_back_a_mass_deletion(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    # The Python API (as the benchmarks use it) guards as the CLI does: 0.5, no override.
    uids = [grafana.add_dashboard({"title": f"Board {n}"}) for n in range(4)]
    config = GrafanaSourceConfig(name="grafana", type="grafana", url=grafana.url, token=TOKEN, api="legacy")
    store = GitStore(tmp_path / "repo")
    assert BackupRun(store, [GrafanaCollector(config)]).execute().ok
    for uid in uids[:3]:
        grafana.delete_dashboard(uid)

    report = BackupRun(store, [GrafanaCollector(config)]).execute()

    source = report.sources["grafana"]
    assert (source.status.complete, source.guarded_deletions, source.status.deleted) == (False, 6, 0)
    assert source.status.error == (
        "grafana: 3 of 4 dashboard items vanished (more than max_delete_fraction 0.5); deletions not "
        "recorded, rerun with --allow-mass-delete if this is intended"
    )
    assert dashboard_keys(store) == {f"1/{u}" for u in uids}


def test_a_vanished_folder_tree_is_held_back_though_no_dashboard_vanished(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    populate(grafana, dashboards=10, depth=0, seed=2, permissions=False)
    grafana.add_folder("ops", "Ops")
    grafana.add_folder("ops-db", "Databases", parent_uid="ops")
    grafana.add_folder("ops-net", "Network", parent_uid="ops")
    grafana.add_folder("dev", "Dev")
    cli = Cli(guarded_config(tmp_path, grafana.url, None))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    folders = {key for kind, key in latest_entries(store) if kind == "folder"}
    assert folders == {"1/ops", "1/ops-db", "1/ops-net", "1/dev"}

    grafana.delete_folder("ops")  # three of four folders, not one dashboard
    res = cli("backup")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "3 of 4 folder items vanished" in res.stderr and "--allow-mass-delete" in res.stderr
    assert {key for kind, key in latest_entries(store) if kind == "folder"} == folders
    assert last_status(cli)["deleted"] == 0


# -- SIGTERM: the run in progress commits nothing, the last snapshot stays whole ------------------


def test_sigterm_during_a_run_commits_no_partial_snapshot(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    population = populate(grafana, dashboards=60, depth=1, seed=12)
    cfg = write_config(
        tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy", concurrency=2)]
    )
    cfg.write_text(cfg.read_text() + '\n[schedule]\nevery = "1h"\n')  # only the run at start
    first = run_dashvault("--config", str(cfg), "backup")
    assert first.exit_code == 0, first.stderr
    store = GitStore(tmp_path / "backups")
    before = [s.id for s in store.snapshots()]
    assert len(before) == 1

    # Every dashboard changes, so whatever part of the next run gets done would be worth a snapshot.
    for uid in population.dashboards:
        grafana.update_dashboard(uid, {"description": "changed before the interrupted run"})
    grafana.latency = 0.05  # a run of about 3 s: 2 at a time, 2 requests per dashboard
    grafana.clear_requests()
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        proc = start_run(cfg, stderr)
        try:
            # 16 dashboards read, 2 at a time with at most 8 tasks ahead of the run: it has taken
            # some of them in, and is still far from done.
            wait_until(
                lambda: len(dashboard_reads(grafana)) >= 16,
                "the run to read 16 dashboards",
                proc=proc,
                log=log,
            )
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = log.read_text()
    assert proc.returncode == 0, err
    # The run was stopped part way: it never read every dashboard.
    assert len({r.path for r in dashboard_reads(grafana)}) < len(population.dashboards)
    assert [s.id for s in store.snapshots()] == before, "the interrupted run committed a snapshot"
    events = [json.loads(line)["event"] for line in err.splitlines() if line.strip()]
    assert "run.interrupted" in events and "schedule.stopped" in events
    assert_store_intact(store)
    head = subprocess.run(
        ["git", "-C", str(store.path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    assert head.stdout.strip() == before[0]

    # The next run just works, and has everything the interrupted one left undone.
    grafana.latency = 0.0
    res = run_dashvault("--config", str(cfg), "backup")
    assert res.exit_code == 0, res.stderr
    snaps = store.snapshots()
    assert len(snaps) == 2
    changed = diff_keys(Cli(cfg), before[0], snaps[0].id)["changed"]
    assert changed == sorted(("dashboard", f"1/{u}") for u in population.dashboards)


# -- a live dashboard the listing missed is asked for by uid, not called deleted -----------------


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_live_dashboard_missing_from_two_listings_is_kept_and_the_source_incomplete(
    tmp_path: Path, grafana: GrafanaSandbox, api: str
) -> None:
    population = populate(grafana, dashboards=20, depth=1, seed=9)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    hidden = next(u for u in population.dashboards if u in population.with_permissions)
    other = next(u for u in population.dashboards if u != hidden)
    key = f"1/{hidden}"
    assert ("dashboard", key) in before and ("permissions", key) in before

    grafana.update_dashboard(other, {"description": "changed, so that the run makes a snapshot"})
    grafana.hidden_from_listing = {hidden}  # the search index lags: live, but not listed
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=grafana.url, headers=headers, timeout=10) as client:
        search = client.get("/api/search", params={"type": "dash-db", "limit": 5000}).json()
        listing = client.get(f"/apis/{DASHBOARD_API}/namespaces/default/dashboards").json()
        assert hidden not in {h["uid"] for h in search}
        assert hidden not in {i["metadata"]["name"] for i in listing["items"]}
        assert len(search) == len(listing["items"]) == 19
        assert client.get(f"/api/dashboards/uid/{hidden}").status_code == 200
    grafana.clear_requests()

    res = cli("backup", "--json")
    # Missing twice while alive: the listing cannot be trusted for what it may have missed besides.
    assert res.exit_code == 1, res.stdout + res.stderr
    snaps = store.snapshots()
    assert len(snaps) == 2
    after = latest_entries(store)
    assert set(after) == set(before)
    assert after[("dashboard", key)].hash == before[("dashboard", key)].hash
    assert after[("permissions", key)].hash == before[("permissions", key)].hash
    assert diff_keys(cli, snaps[1].id, snaps[0].id) == {
        "added": [],
        "changed": [("dashboard", f"1/{other}")],
        "deleted": [],
    }
    status = last_status(cli)
    assert (status["complete"], status["deleted"]) == (False, 0)
    said = res.json()["sources"]["grafana"]["error"]  # type: ignore[index]
    assert "org 1 is unreliable: 1 dashboards missing from it twice are alive" in said
    # Listed twice: the first page of the dashboard listing was asked for two times.
    first_pages = [
        r
        for r in grafana.logged_requests()
        if r.method == "GET"
        and (
            r.path == "/api/search"
            if api == "legacy"
            else r.path.startswith("/apis/dashboard.grafana.app/")
            and r.path.endswith("/namespaces/default/dashboards")
        )
        and r.query.get("type", ["dash-db"]) == ["dash-db"]
        and r.query.get("page", ["1"]) == ["1"]
        and "continue" not in r.query
        and "query" not in r.query
    ]
    assert len(first_pages) == 2
    # It was asked for by uid (on /apis, the listing carries every other dashboard: this is the re-check).
    by_uid = (
        f"/api/dashboards/uid/{hidden}"
        if api == "legacy"
        else f"/apis/dashboard.grafana.app/v0alpha1/namespaces/default/dashboards/{hidden}"
    )
    assert any(r.method == "GET" and r.path == by_uid for r in grafana.logged_requests())
