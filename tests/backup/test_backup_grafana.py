"""Backing up a Grafana (the sandbox, over real sockets) into a real git repository with the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore
from tests.conftest import TOKEN, Cli, grafana_source, write_config


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def repo_files(repo: Path, kind_dir: str) -> list[str]:
    return [f for f in git(repo, "ls-files", f"grafana/{kind_dir}").splitlines() if f]


def latest_hashes(repo: Path) -> dict[tuple[str, str], str]:
    manifest = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e["hash"] for e in manifest["entries"]}


@pytest.fixture
def populated(grafana: GrafanaSandbox):
    return populate(grafana, dashboards=120, depth=3, seed=7)


def test_full_backup_of_nested_folders_and_permissions(tmp_path, grafana, populated):
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    repo = tmp_path / "backups"

    assert len(repo_files(repo, "dashboards")) == len(populated.dashboards) == 120
    folder_files = repo_files(repo, "folders")
    assert len(folder_files) == len(populated.folders) == len(grafana.folders())
    # Every folder file records its parent, and the nesting is three levels deep.
    parents = {}
    for f in folder_files:
        content = json.loads((repo / f).read_text())
        parents[content["uid"]] = content["parentUid"]

    def depth(uid: str) -> int:
        return 1 if not parents[uid] else 1 + depth(parents[uid])

    assert max(depth(u) for u in parents) == 3
    # Every folder and dashboard has a permissions file holding exactly its own entries, as Grafana
    # lists them; an emptied list (Grafana's defaults removed) is recorded empty, not left out.
    recorded = {}
    for f in repo_files(repo, "permissions"):
        content = json.loads((repo / f).read_text())
        recorded[content["uid"]] = sorted(
            (e.get("role") or e.get("teamUid") or e.get("userLogin"), e["permission"])
            for e in content["items"]
        )
    expected = {}
    for kind, uids in (("folder", populated.folders), ("dashboard", populated.dashboards)):
        for uid in uids:
            expected[uid] = sorted(
                (a.get("role") or a["teamUid"] or a["userLogin"], a["permission"])
                for a in grafana.permissions(kind, uid)
            )
    assert recorded == expected
    assert populated.locked_down and all(recorded[uid] == [] for uid in populated.locked_down)
    assert any(("Viewer", 1) in acl for acl in recorded.values())  # Grafana's root defaults

    snaps = cli("snapshots", "--json")
    assert snaps.exit_code == 0
    [snap] = snaps.json()
    assert snap["id"] == git(repo, "rev-parse", "HEAD").strip()
    assert snap["sources"]["grafana"]["complete"] is True

    uid = populated.dashboards[0]
    shown = cli("show", "latest", f"1/{uid}")
    assert shown.exit_code == 0
    assert shown.json()["dashboard"] == {
        k: v for k, v in grafana.get_dashboard(uid).items() if k not in ("id", "version")
    }
    # Just the uid works too when it is unambiguous.
    assert cli("show", "latest", uid).json() == shown.json()


def test_edit_delete_add_then_no_change(tmp_path, grafana, populated):
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    repo = tmp_path / "backups"
    assert cli("backup").exit_code == 0
    first = git(repo, "rev-parse", "HEAD").strip()

    plain = [u for u in populated.dashboards if u not in populated.with_permissions]
    edited, deleted = plain[:3], plain[3]
    for n, uid in enumerate(edited):
        grafana.update_dashboard(uid, {"description": f"edited {n}"})
    grafana.delete_dashboard(deleted)
    added = [grafana.add_dashboard({"title": f"New board {n}", "panels": []}) for n in range(2)]

    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    second = git(repo, "rev-parse", "HEAD").strip()
    assert second != first
    subject = git(repo, "log", "-1", "--format=%s").strip()
    # Each dashboard comes and goes with its permissions item.
    extra = "(+ permissions/shares: 2 added, 0 changed, 1 deleted)"
    assert subject == f"backup grafana: 2 added, 3 changed, 1 deleted {extra}"

    log = cli("log", f"1/{edited[0]}", "--json").json()
    assert [e["change"] for e in log] == ["changed", "added"]
    assert [e["snapshot"] for e in log] == [second, first]

    diff = cli("diff", first, second, "--json").json()

    def keys(change: str, kind: str) -> list[str]:
        return sorted(e["key"] for e in diff[change] if e["kind"] == kind)

    assert keys("added", "dashboard") == keys("added", "permissions") == sorted(f"1/{u}" for u in added)
    assert keys("changed", "dashboard") == sorted(f"1/{u}" for u in edited)
    assert keys("changed", "permissions") == []
    assert keys("deleted", "dashboard") == keys("deleted", "permissions") == [f"1/{deleted}"]
    for e in diff["changed"]:
        added_lines = [line for line in e["diff"].splitlines() if line.startswith("+ ")]
        assert len(added_lines) == 1
        assert '"description": "edited' in added_lines[0]
    text = cli("diff", first[:8], "latest")
    assert "4 added, 3 changed, 2 deleted" in text.stdout
    assert '+    "description": "edited 0"' in text.stdout

    # A save that changes nothing bumps Grafana's version but not the content hash.
    grafana.update_dashboard(edited[1], {})
    res = cli("backup")
    assert res.exit_code == 0
    assert "no changes" in res.stdout
    assert git(repo, "rev-parse", "HEAD").strip() == second


def test_apis_listing_matches_legacy_with_expired_continue_token(tmp_path, grafana, populated):
    legacy_cfg = write_config(
        tmp_path / "legacy" / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]
    )
    apis_cfg = write_config(
        tmp_path / "apis" / "dashvault.toml", [grafana_source(grafana.url, api="apis", page_size=50)]
    )
    assert Cli(legacy_cfg)("backup").exit_code == 0

    grafana.expire_next_continue = 1  # the listing's token expires mid-way: 410, restart, dedupe
    grafana.clear_requests()
    res = Cli(apis_cfg)("backup")
    assert res.exit_code == 0, res.stderr
    lists = [r for r in grafana.requests if r.path.endswith("/dashboards") and r.method == "GET"]
    assert any(r.status == 410 for r in lists)
    # /apis reads dashboards from the listing itself: no per-dashboard GET.
    assert not [
        r
        for r in grafana.requests
        if r.path.startswith("/api/dashboards/uid/") and "/permissions" not in r.path
    ]
    assert latest_hashes(tmp_path / "apis" / "backups") == latest_hashes(tmp_path / "legacy" / "backups")


def test_auto_picks_apis_when_advertised(tmp_path, grafana, populated):
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)]))
    assert cli("backup").exit_code == 0
    manifest = json.loads((tmp_path / "backups/.dashvault/manifest.json").read_text())
    assert {e["meta"].get("api") for e in manifest["entries"] if e["kind"] == "dashboard"} == {"apis"}


def test_rate_limits_and_unavailability_are_retried(tmp_path, grafana):
    populate(grafana, dashboards=30, depth=2, seed=3)
    clean = write_config(tmp_path / "clean" / "dashvault.toml", [grafana_source(grafana.url, api="legacy")])
    assert Cli(clean)("backup").exit_code == 0

    grafana.rate_429, grafana.rate_503, grafana.retry_after = 0.10, 0.05, 1
    grafana.clear_requests()
    faulty = write_config(
        tmp_path / "faulty" / "dashvault.toml", [grafana_source(grafana.url, api="legacy", retries=8)]
    )
    res = Cli(faulty)("backup")
    assert res.exit_code == 0, res.stderr
    statuses = [r.status for r in grafana.requests]
    assert statuses.count(429) > 0 and statuses.count(503) > 0
    assert latest_hashes(tmp_path / "faulty" / "backups") == latest_hashes(tmp_path / "clean" / "backups")


@pytest.mark.parametrize("api", ["legacy", "apis"])
@pytest.mark.parametrize("fault", ["fail_listing_after", "truncate_listing_after"])
def test_listing_cut_short_records_no_deletion(tmp_path, grafana, api, fault):
    population = populate(grafana, dashboards=120, depth=2, seed=5)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api, page_size=25)]))
    assert cli("backup").exit_code == 0
    before = latest_hashes(tmp_path / "backups")

    grafana.update_dashboard(population.dashboards[0], {"description": "changed while cut short"})
    setattr(grafana, fault, 50)
    res = cli("backup")
    assert res.exit_code == 1
    assert "grafana" in res.stderr
    snaps = cli("snapshots", "--json").json()
    after = latest_hashes(tmp_path / "backups")
    # Nothing vanished: entries not listed this time were carried forward.
    assert set(after) == set(before)
    if len(snaps) == 2:  # something was captured before the cut: recorded, flagged incomplete
        assert snaps[0]["sources"]["grafana"]["complete"] is False
        assert snaps[0]["sources"]["grafana"]["deleted"] == 0

    setattr(grafana, fault, None)
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    assert cli("snapshots", "--json").json()[0]["sources"]["grafana"]["complete"] is True
    assert set(latest_hashes(tmp_path / "backups")) == set(before)


def test_mass_deletion_is_guarded(tmp_path, grafana):
    population = populate(grafana, dashboards=20, depth=1, seed=2, permissions=False)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    for uid in population.dashboards[:15]:
        grafana.delete_dashboard(uid)
    res = cli("backup")
    assert res.exit_code == 1
    assert "15 of 20 dashboard items vanished" in res.stderr and "--allow-mass-delete" in res.stderr
    dashboards = [k for (kind, k) in latest_hashes(tmp_path / "backups") if kind == "dashboard"]
    assert len(dashboards) == 20

    res = cli("backup", "--allow-mass-delete")
    assert res.exit_code == 0
    dashboards = [k for (kind, k) in latest_hashes(tmp_path / "backups") if kind == "dashboard"]
    assert len(dashboards) == 5


def test_hostile_uids_are_stored_inside_and_readable_by_key(tmp_path, grafana):
    hostile = ["../../etc/passwd", "..", "\x07é%2F/\\\u202e" + "\U0001f600" * 33, ".git"]
    for n, uid in enumerate(hostile):
        grafana.add_dashboard({"uid": uid, "title": f"hostile {n}", "panels": []})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    repo = tmp_path / "backups"
    files = repo_files(repo, "dashboards")
    assert len(files) == len(hostile)
    for f in files:
        assert (repo / f).resolve().is_relative_to(repo.resolve())
    assert not (tmp_path / "etc").exists()
    store = GitStore(repo)
    snap = store.snapshots()[0]
    for uid in hostile:
        shown = cli("show", "latest", f"1/{uid}")
        assert shown.exit_code == 0, shown.stderr
        assert shown.json()["dashboard"]["uid"] == uid
        [entry] = store.manifest(snap.id).lookup(f"1/{uid}", kind="dashboard")
        assert store.load(snap.id, entry)["dashboard"]["title"].startswith("hostile")


def test_one_failing_source_does_not_stop_the_others(tmp_path, grafana):
    populate(grafana, dashboards=10, depth=1, seed=4)
    cfg = write_config(
        tmp_path / "dashvault.toml",
        [
            grafana_source(grafana.url, name="good", api="legacy"),
            grafana_source("http://127.0.0.1:9", name="down", retries=0),
            {**grafana_source(grafana.url, name="badtoken", api="legacy"), "token": "wrong-" + TOKEN},
        ],
    )
    cli = Cli(cfg)
    res = cli("backup")
    assert res.exit_code == 1
    assert "down: cannot reach" in res.stderr
    assert "badtoken: 401" in res.stderr
    assert "wrong-" not in res.stderr + res.stdout
    [snap] = cli("snapshots", "--json").json()
    assert snap["sources"]["good"]["complete"] is True and snap["sources"]["good"]["items"] > 10
    assert snap["sources"]["down"]["complete"] is False
