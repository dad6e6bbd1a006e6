"""Restoring Grafana from snapshots with the CLI, over both APIs, against the sandbox."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from sandbox.generate import Population, populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import TOKEN, Cli, Result, grafana_source, write_config

APIS = ["legacy", "apis"]


def hashes(repo: Path, source: str = "grafana") -> dict[tuple[str, str], str]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e["hash"] for e in manifest["entries"] if e["source"] == source}


def selected(res, kind: str = "dashboard") -> list[dict]:
    """The plan items of a kind the user asked for (not the parent folders restore checked on the way)."""
    return [i for i in res.json()["plans"][0]["items"] if not i["dependency"] and i["kind"] == kind]


def writes(grafana: GrafanaSandbox) -> list[str]:
    return [f"{r.method} {r.path}" for r in grafana.write_requests()]


def replans(res: Result) -> list[tuple[str, str, dict[str, object]]]:
    """The `restore.replan` JSON log records: (message, level, fields)."""
    return [(r["message"], r["level"], r["fields"]) for r in res.log_records("restore.replan")]


def setup(tmp_path: Path, grafana: GrafanaSandbox, api: str, **extra: object) -> Cli:
    return Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api, **extra)]))


def rollback_setup(tmp_path: Path, grafana: GrafanaSandbox, api: str) -> tuple[Cli, str, str, str]:
    """Two snapshots of a dashboard edited between them: (cli, its uid, the first snapshot's id, the
    description it had then, read from the sandbox)."""
    population = populate(grafana, dashboards=4, depth=1, seed=16, permissions=False)
    uid = population.dashboards[0]
    original = grafana.get_dashboard(uid)["description"]  # type: ignore[index]
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    grafana.update_dashboard(uid, {"description": "v2"})
    assert cli("backup").exit_code == 0
    return cli, uid, cli("snapshots", "--json").json()[1]["id"], original


@pytest.mark.parametrize("api", APIS)
def test_disaster_drill_restores_every_hash(tmp_path, grafana, api):
    populate(grafana, dashboards=100, depth=3, seed=11)
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    before = hashes(tmp_path / "backups")
    assert sum(1 for kind, _ in before if kind == "permissions") > 10

    grafana.wipe()
    assert grafana.dashboards() == [] and grafana.folders() == []
    res = cli("restore", "--snapshot", "latest", "--json")
    assert res.exit_code == 0, res.stdout[-2000:] + res.stderr
    [plan] = res.json()["plans"]
    assert plan["counts"] == {"created": len(before)}

    # A fresh backup of the restored Grafana into a new store: the same item set and hashes.
    fresh = Cli(write_config(tmp_path / "fresh" / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert fresh("backup").exit_code == 0
    assert hashes(tmp_path / "fresh" / "backups") == before
    # And the original store sees nothing to record.
    res = cli("backup")
    assert res.exit_code == 0
    assert "no changes" in res.stdout


@pytest.mark.parametrize("api", APIS)
def test_accidental_delete_restores_one_dashboard_and_touches_nothing_else(tmp_path, grafana, api):
    population = populate(grafana, dashboards=60, depth=3, seed=12)
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    nested = [
        u
        for u in population.dashboards
        if u in population.with_permissions and population.dashboard_folders.get(u)
    ]
    uid = nested[0]
    folder = grafana.dashboard_folder(uid)
    acl = grafana.permissions("dashboard", uid)
    model = grafana.get_dashboard(uid)
    grafana.delete_dashboard(uid)
    grafana.clear_requests()

    res = cli("restore", "--key", f"1/{uid}", "--json")
    assert res.exit_code == 0, res.stderr
    assert grafana.dashboard_folder(uid) == folder
    assert {k: v for k, v in grafana.get_dashboard(uid).items() if k != "version"} == {
        k: v for k, v in model.items() if k != "version"
    }
    assert _own(grafana.permissions("dashboard", uid)) == _own(acl)
    touched = grafana.write_requests()
    # One write of the dashboard and one of its permissions, and nothing else.
    assert len(touched) == 2, writes(grafana)
    for r in touched:
        body = r.json if isinstance(r.json, dict) else {}
        named = (body.get("dashboard") or {}).get("uid") or (body.get("metadata") or {}).get("name")
        assert quote(uid, safe="") in r.path or named == uid, (r.method, r.path)
    items = res.json()["plans"][0]["items"]
    assert {(i["kind"], i["outcome"]) for i in items if not i["dependency"]} == {
        ("dashboard", "created"),
        ("permissions", "created"),
    }


def _own(acl: list[dict]) -> list[tuple]:
    return sorted(
        (a.get("role"), a.get("teamUid"), a.get("userLogin"), a.get("permission"))
        for a in acl
        if not a.get("inherited")
    )


def test_a_dashboard_whose_folders_are_gone_gets_them_back_first(tmp_path, grafana):
    population = populate(grafana, dashboards=40, depth=3, seed=13)
    cli = setup(tmp_path, grafana, "legacy")
    assert cli("backup").exit_code == 0
    deep = next(
        u for u in population.dashboards if _depth(population, population.dashboard_folders.get(u)) == 3
    )
    top = _chain(population, population.dashboard_folders[deep])[-1]
    grafana.delete_folder(top)  # takes the subtree and its dashboards with it
    assert grafana.get_dashboard(deep) is None
    res = cli("restore", "--key", deep, "--json")
    assert res.exit_code == 0, res.stderr
    assert grafana.dashboard_folder(deep) == population.dashboard_folders[deep]
    created = [i for i in res.json()["plans"][0]["items"] if i["kind"] == "folder"]
    assert [i["outcome"] for i in created] == ["created"] * 3
    assert all(i["dependency"] for i in created)


def test_a_parent_folder_created_by_someone_else_meanwhile_is_used_never_changed(tmp_path, grafana):
    population = populate(grafana, dashboards=6, depth=1, seed=13, permissions=False)
    uid = next(u for u in population.dashboards if population.dashboard_folders.get(u))
    parent = population.dashboard_folders[uid]
    cli = setup(tmp_path, grafana, "legacy")
    assert cli("backup").exit_code == 0
    grafana.delete_folder(parent)
    # Missing when planned, created by a colleague before our create arrives: Grafana answers 409,
    # the re-read finds a folder restore did not select, and "created if missing, never changed"
    # holds even under --on-conflict overwrite.
    grafana.folder_created_before_write[parent] = "Recreated by a colleague"
    res = cli("restore", "--key", uid, "--on-conflict", "overwrite", "--json")
    assert res.exit_code == 0, res.stderr
    [folder] = [i for i in res.json()["plans"][0]["items"] if i["kind"] == "folder"]
    assert folder["dependency"] and folder["outcome"] == "skipped", folder
    live = httpx.get(f"{grafana.url}/api/folders/{parent}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert live.json()["title"] == "Recreated by a colleague"
    assert grafana.dashboard_folder(uid) == parent


def _chain(population: Population, folder: str | None) -> list[str]:
    chain = []
    while folder:
        chain.append(folder)
        folder = population.folder_parents.get(folder)
    return chain


def _depth(population: Population, folder: str | None) -> int:
    return len(_chain(population, folder))


@pytest.mark.parametrize("api", APIS)
def test_point_in_time(tmp_path, grafana, api):
    population = populate(grafana, dashboards=5, depth=1, seed=14, permissions=False)
    uid = population.dashboards[0]
    cli = setup(tmp_path, grafana, api)
    times = []
    for n in range(3):
        grafana.update_dashboard(uid, {"description": f"version {n + 1}"})
        assert cli("backup").exit_code == 0
        times.append(cli("snapshots", "--json").json()[0]["time"])
    t2, t3 = datetime.fromisoformat(times[1]), datetime.fromisoformat(times[2])
    between = (t2 + (t3 - t2) / 2).isoformat()
    res = cli("restore", "--at", between, "--key", uid, "--json")
    assert res.exit_code == 0, res.stderr
    assert grafana.get_dashboard(uid)["description"] == "version 2"
    [item] = [i for i in res.json()["plans"][0]["items"] if i["kind"] == "dashboard"]
    assert (item["action"], item["outcome"]) == ("update", "updated")
    res = cli("restore", "--at", "2000-01-01T00:00:00Z")
    assert res.exit_code == 2
    assert "no snapshot at or before" in res.stderr


@pytest.mark.parametrize("api", APIS)
def test_conflict_policies(tmp_path, grafana, api):
    population = populate(grafana, dashboards=6, depth=1, seed=15, permissions=False)
    uid = population.dashboards[0]
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    grafana.update_dashboard(uid, {"description": "edited after the snapshot"})
    count = len(grafana.dashboards())

    grafana.clear_requests()
    res = cli("restore", "--key", uid, "--on-conflict", "fail", "--json")
    assert res.exit_code == 1
    assert res.json()["blocked"] is True
    assert writes(grafana) == []

    res = cli("restore", "--key", uid, "--json")  # skip is the default
    assert res.exit_code == 0
    assert [i["outcome"] for i in selected(res)] == ["conflict"]
    assert grafana.get_dashboard(uid)["description"] == "edited after the snapshot"
    assert writes(grafana) == []

    res = cli("restore", "--key", uid, "--on-conflict", "copy", "--json")
    assert res.exit_code == 0, res.stderr
    [item] = selected(res)
    assert item["outcome"] == "copied"
    copy_uid = item["new_key"].split("/", 1)[1]
    copy = grafana.get_dashboard(copy_uid)
    assert copy["title"].startswith(grafana.get_dashboard(uid)["title"] + " (restored ")
    assert copy["description"] != "edited after the snapshot"
    assert grafana.get_dashboard(uid)["description"] == "edited after the snapshot"
    assert len(grafana.dashboards()) == count + 1

    res = cli("restore", "--key", uid, "--on-conflict", "overwrite", "--json")
    assert res.exit_code == 0, res.stderr
    assert [i["outcome"] for i in selected(res)] == ["updated"]
    assert grafana.get_dashboard(uid).get("description") != "edited after the snapshot"
    # The write names the snapshot in Grafana's version history.
    snap = cli("snapshots", "--json").json()[0]["id"]
    if api == "legacy":
        versions = httpx.get(
            f"{grafana.url}/api/dashboards/uid/{uid}/versions", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        assert snap[:12] in versions[0]["message"]


@pytest.mark.parametrize("api", [*APIS, "legacy-on-12.2"])
def test_concurrent_edit_between_plan_and_write_is_never_clobbered(tmp_path, grafana, api):
    if api == "legacy-on-12.2":
        # Releases that save /api/dashboards/db through /apis answer a stale version with 409.
        grafana.grafana_version, api = "12.2.0", "legacy"
    cli, uid, first, _ = rollback_setup(tmp_path, grafana, api)
    # Rolling back to the first snapshot is an update (live = newest snapshot) ... until someone
    # saves the dashboard between our read and our write.
    grafana.edit_before_write[uid] = {"description": "saved by someone else meanwhile"}
    grafana.clear_requests()
    res = cli("-v", "--log-format", "json", "restore", "--snapshot", first, "--key", uid, "--json")
    assert res.exit_code == 0, res.stderr
    [item] = selected(res)
    assert item["outcome"] == "conflict"
    assert replans(res) == [
        ("re-planned after a concurrent change", "info", {"key": item["key"], "action": "conflict"})
    ]
    # The detail carries Grafana's own reason for the refusal (legacy: 412, /apis: 409 Conflict).
    reason = {"11": "changed by someone else", "12": "Use overwrite flag"}[grafana.grafana_version[:2]]
    reason = reason if api == "legacy" else "the object has been modified"
    assert item["detail"].startswith("changed while restoring (") and reason in item["detail"], item
    assert grafana.get_dashboard(uid)["description"] == "saved by someone else meanwhile"
    # One write, refused as stale; re-read, the dashboard is a conflict and is left alone: no second try.
    assert len(writes(grafana)) == 1, writes(grafana)


@pytest.mark.parametrize("api", APIS)
def test_a_save_that_changed_nothing_between_plan_and_write_does_not_block_the_rollback(
    tmp_path, grafana, api
):
    cli, uid, first, original = rollback_setup(tmp_path, grafana, api)
    # Someone saves the dashboard unchanged (a new version, the same content as the newest snapshot):
    # the write is refused as stale, the re-read still matches the newest snapshot, so it is an update.
    grafana.edit_before_write[uid] = {}
    grafana.clear_requests()
    res = cli("-v", "--log-format", "json", "restore", "--snapshot", first, "--key", uid, "--json")
    assert res.exit_code == 0, res.stderr
    [item] = selected(res)
    assert item["outcome"] == "updated", item
    # The re-plan is logged with what it decided: the live dashboard still matches the newest snapshot.
    assert replans(res) == [
        ("re-planned after a concurrent change", "info", {"key": item["key"], "action": "update"})
    ]
    assert grafana.get_dashboard(uid)["description"] == original != "v2"
    assert len(writes(grafana)) == 2, writes(grafana)


@pytest.mark.parametrize("api", APIS)
def test_a_write_refused_twice_is_a_conflict_not_a_third_try(tmp_path, grafana, api):
    cli, uid, first, _ = rollback_setup(tmp_path, grafana, api)
    # Someone saves (unchanged) before each of our writes: each re-read still allows the rollback,
    # but after the second refusal restore stops and reports it.
    grafana.edit_before_write[uid] = [{}, {}, {}]
    grafana.clear_requests()
    res = cli("restore", "--snapshot", first, "--key", uid, "--json")
    assert res.exit_code == 0, res.stderr
    [item] = selected(res)
    assert item["outcome"] == "conflict" and item["detail"].startswith("changed while restoring"), item
    assert grafana.get_dashboard(uid)["description"] == "v2"
    assert len([w for w in writes(grafana) if "permissions" not in w]) == 2, writes(grafana)


@pytest.mark.parametrize("api", APIS)
def test_dry_run_on_a_wiped_target_plans_every_create_and_writes_nothing(tmp_path, grafana, api):
    populate(grafana, dashboards=50, depth=3, seed=17)
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    total = len(hashes(tmp_path / "backups"))
    grafana.wipe()
    grafana.clear_requests()
    res = cli("restore", "--dry-run", "--json")
    assert res.exit_code == 0
    [plan] = res.json()["plans"]
    assert [i["action"] for i in plan["items"]] == ["create"] * total
    assert {i["outcome"] for i in plan["items"]} == {"planned"}
    assert writes(grafana) == []
    text = cli("restore", "--dry-run")
    assert text.stdout.count("create") >= total


def test_migration_into_another_org(tmp_path, grafana):
    population = populate(grafana, dashboards=40, depth=3, seed=18)
    org2 = grafana.add_org("Second")
    for team in population.teams:
        grafana.add_team(team, org=org2)
    for login in population.users:
        grafana.add_user(login, org=org2)
    # A service-account token belongs to one org: the second org has its own.
    org2_token = grafana.add_service_account("migration", "Admin", org=org2)
    cfg = write_config(
        tmp_path / "dashvault.toml",
        [
            grafana_source(grafana.url, name="org1", api="legacy", orgs=[1]),
            grafana_source(grafana.url, name="org2", api="legacy", orgs=[org2], token=org2_token),
        ],
    )
    cli = Cli(cfg)
    assert cli("backup", "--source", "org1").exit_code == 0
    res = cli("restore", "--source", "org1", "--to", "org2", "--json")
    assert res.exit_code == 0, res.stderr
    [plan] = res.json()["plans"]
    assert plan["target"] == "org2"
    assert all(i["outcome"] == "created" and not i["detail"] for i in plan["items"]), plan["items"]
    assert cli("backup", "--source", "org2").exit_code == 0
    copied = hashes(tmp_path / "backups", "org2")
    original = hashes(tmp_path / "backups", "org1")
    assert all(key.startswith(f"{org2}/") for _, key in copied)
    assert {(k, key.split("/", 1)[1]) for k, key in copied} == {
        (k, key.split("/", 1)[1]) for k, key in original
    }
    # Folders and dashboards are identical; ACLs name the same roles, users and teams, though a
    # team of org 2 has its own uid.
    for (kind, key), digest in original.items():
        twin = copied[(kind, f"{org2}/{key.split('/', 1)[1]}")]
        if kind != "permissions":
            assert twin == digest
        else:
            assert acl(tmp_path, "org1", key) == acl(tmp_path, "org2", f"{org2}/{key.split('/', 1)[1]}")


def acl(tmp_path: Path, source: str, key: str) -> list[dict]:
    org, uid = key.split("/", 1)
    items = json.loads((tmp_path / "backups" / source / "permissions" / org / f"{uid}.json").read_text())[
        "items"
    ]
    return [{k: v for k, v in i.items() if k != "teamUid"} for i in items]
