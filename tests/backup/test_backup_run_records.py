"""What a run records of what its sources said: warnings, unreliable listings, failures, progress.

Each record is read back as a user would: the `--json` report and the JSON log lines (`--log-format
json`), whose `event`, `source` and fields are what alerting and log searches key on.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import backup.grafana
from backup.grafana import GrafanaCollector
from backup.run import BackupRun
from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from sources.config import GrafanaSourceConfig
from storage.errors import StoreError
from storage.git import GitStore
from tests.backup.support import latest_entries
from tests.conftest import TOKEN, Cli, S3Target, grafana_source, write_config
from tests.storage.integrity_support import git


def test_unreliable_listings_in_two_orgs_are_both_reported_and_the_rest_is_still_read(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    second = grafana.add_org("Second")
    hidden = {org: grafana.add_dashboard({"title": f"Hidden in {org}"}, org=org) for org in (1, second)}
    for org in (1, second):
        grafana.add_dashboard({"title": f"Listed in {org}"}, org=org)
    admin = {"name": "grafana", "type": "grafana", "url": grafana.url, "api": "legacy", "retries": 4}
    admin.update(username="admin", password="admin", orgs="all")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [admin]))
    assert cli("backup").exit_code == 0

    grafana.hidden_from_listing = set(hidden.values())  # both orgs' listings miss a live dashboard
    late = grafana.add_dashboard({"title": "Created in the second org since"}, org=second)
    res = cli("--log-format", "json", "backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr

    # Each listing that missed a live dashboard is listed again once, and says so with what it missed.
    relists = res.log_records("listing.relist")
    assert [(r["message"], r["source"], r["level"], r["fields"]) for r in relists] == [
        (
            "listing missed live objects, listing again",
            "grafana",
            "warning",
            {"org": org, "kind": "dashboard", "missed": 1},
        )
        for org in (1, second)
    ]
    records = res.log_records("source.incomplete")
    assert [(r["message"], r["source"], r["level"]) for r in records] == [
        ("listing unreliable", "grafana", "error")
    ] * 2
    said = [str(r["fields"]["error"]) for r in records]  # type: ignore[index]
    assert "of org 1 is unreliable" in said[0] and f"of org {second} is unreliable" in said[1]
    status = res.json()["sources"]["grafana"]  # type: ignore[index]
    assert status["complete"] is False and status["error"] == f"{said[0]}; {said[1]}"
    # The second org is read after the first org's listing was found unreliable: it is not skipped.
    assert (status["added"], status["deleted"]) == (2, 0)  # the dashboard and its ACL
    entries = latest_entries(GitStore(tmp_path / "backups"))
    assert ("dashboard", f"{second}/{late}") in entries
    assert {("dashboard", f"{org}/{uid}") for org, uid in hidden.items()} <= set(entries)


def test_a_kept_permissions_entry_whose_blob_is_gone_is_a_failure_not_a_silent_keep(
    tmp_path: Path, grafana: GrafanaSandbox, s3: S3Target
) -> None:
    uids = [grafana.add_dashboard({"title": f"Board {n}"}) for n in range(3)]
    admin = Cli(
        write_config(tmp_path / "admin.toml", [grafana_source(grafana.url, api="legacy")], **s3.storage())
    )
    assert admin("backup").exit_code == 0
    viewer_token = grafana.add_service_account("reader", "Viewer")
    source = grafana_source(grafana.url, api="legacy", token=viewer_token)
    viewer = Cli(write_config(tmp_path / "viewer.toml", [source], **s3.storage()))
    digest = admin("log", f"1/{uids[1]}", "--kind", "permissions", "--json").json()[0]["hash"]  # type: ignore[index]
    s3.client().delete_object(Bucket=s3.bucket, Key=f"dashvault/blobs/{digest[:2]}/{digest}")

    # The viewer may not read ACLs: the ACL would be carried forward, but its content is gone.
    res = viewer("--log-format", "json", "backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    status = res.json()["sources"]["grafana"]  # type: ignore[index]
    assert status["failures"] == [
        {
            "kind": "permissions",
            "key": f"1/{uids[1]}",
            "error": "its stored content is missing and was not read again",
            "follows": "",
        }
    ]
    [warning] = status["warnings"]
    records = res.log_records("source.warning")
    assert [(r["message"], r["source"], r["level"], r["fields"]) for r in records] == [
        ("source warning", "grafana", "warning", {"error": warning})
    ]


def test_a_dashboard_that_cannot_be_read_is_logged_once_with_its_kind_key_and_error(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    uids = [grafana.add_dashboard({"title": f"Board {n}"}) for n in range(3)]
    cli = Cli(
        write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy", retries=0)])
    )
    grafana.fail_dashboard_get = {uids[2]}
    res = cli("--log-format", "json", "backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    failures = res.json()["sources"]["grafana"]["failures"]  # type: ignore[index]
    # The dashboard, and its ACL riding on it: one log line, for the dashboard.
    assert [(f["kind"], f["key"], f["follows"]) for f in failures] == [
        ("dashboard", f"1/{uids[2]}", ""),
        ("permissions", f"1/{uids[2]}", "dashboard"),
    ]
    records = res.log_records("item.failed")
    assert [(r["message"], r["source"], r["level"], r["fields"]) for r in records] == [
        (
            "item failed",
            "grafana",
            "warning",
            {"kind": "dashboard", "key": f"1/{uids[2]}", "error": failures[0]["error"]},
        )
    ]


def test_progress_is_reported_per_source_for_every_result(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    for n in range(4):
        grafana.add_dashboard({"title": f"Board {n}"})
    collectors = [
        GrafanaCollector(
            GrafanaSourceConfig(name=name, type="grafana", url=grafana.url, token=TOKEN, api="legacy")
        )
        for name in ("first", "second")
    ]
    seen: list[str] = []
    started = time.monotonic()
    report = BackupRun(GitStore(tmp_path / "repo"), collectors, on_item=seen.append).execute()
    assert 0 < report.duration <= time.monotonic() - started  # the run's own wall time, for the metric
    # The run's time is UTC, whatever the machine's zone, in the report and in the snapshot.
    [snapshot] = GitStore(tmp_path / "repo").snapshots()
    assert report.time.utcoffset() == snapshot.time.utcoffset() == timedelta(0)
    assert report.time == snapshot.time
    items = {name: r.status.items for name, r in report.sources.items()}
    assert items == {"first": 8, "second": 8}  # four dashboards and their four ACLs each
    assert Counter(seen) == items


def test_a_source_whose_listing_fails_is_logged_once_with_its_error(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    grafana.add_dashboard({"title": "Board"})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    wrong = Cli(
        write_config(
            tmp_path / "wrong.toml", [grafana_source(grafana.url, api="legacy", token=TOKEN + "-revoked")]
        )
    )
    res = wrong("--log-format", "json", "backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    status = res.json()["sources"]["grafana"]  # type: ignore[index]
    assert status["complete"] is False and "401" in status["error"], status
    records = res.log_records("source.failed")
    assert [(r["message"], r["source"], r["level"], r["fields"]) for r in records] == [
        ("listing failed", "grafana", "error", {"error": status["error"]})
    ]
    assert len(latest_entries(GitStore(tmp_path / "backups"))) == 2  # nothing recorded deleted


def test_a_source_whole_again_after_an_incomplete_snapshot_gets_a_snapshot_saying_so(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    hidden = grafana.add_dashboard({"title": "Hidden"})
    grafana.add_dashboard({"title": "Listed"})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    grafana.hidden_from_listing = {hidden}
    grafana.add_dashboard({"title": "New"})  # a change, so the incomplete run writes a snapshot
    assert cli("backup").exit_code == 1
    grafana.hidden_from_listing = set()

    # Nothing changed since, yet the newest snapshot must not go on saying the source is incomplete.
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    said = [store.manifest(s.id).sources["grafana"].complete for s in store.snapshots()]
    assert said == [True, False, True]  # newest first
    assert cli("backup").exit_code == 0
    assert len(store.snapshots()) == 3  # whole and unchanged: no snapshot


def test_sources_left_out_of_a_run_keep_their_entries(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    grafana.add_dashboard({"title": "Board"})
    sources = [grafana_source(grafana.url, name=name, api="legacy") for name in ("first", "second")]
    cli = Cli(write_config(tmp_path / "dashvault.toml", sources))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    before = Counter(e.source for e in store.manifest(store.snapshots()[0].id).entries)
    assert before == {"first": 2, "second": 2}
    late = grafana.add_dashboard({"title": "Late"})

    assert cli("backup", "--source", "first").exit_code == 0
    entries = store.manifest(store.snapshots()[0].id).entries
    assert Counter(e.source for e in entries) == {"first": 4, "second": 2}
    assert ("second", "dashboard", f"1/{late}") not in {(e.source, e.kind, e.key) for e in entries}
    assert [(e.source, e.kind, e.key) for e in entries] == sorted((e.source, e.kind, e.key) for e in entries)

    # A source new to the config joins a store whose snapshots never heard of it.
    sources.append(grafana_source(grafana.url, name="third", api="legacy"))
    write_config(tmp_path / "dashvault.toml", sources)
    assert cli("backup").exit_code == 0
    entries = store.manifest(store.snapshots()[0].id).entries
    assert Counter(e.source for e in entries) == {"first": 4, "second": 4, "third": 4}


def test_each_run_logs_that_it_finished_with_its_snapshot(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    grafana.add_dashboard({"title": "Board"})
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    said, runs = [], []
    for _ in range(2):  # the second run changes nothing: no snapshot
        res = cli("--log-format", "json", "-v", "backup", "--json")
        assert res.exit_code == 0, res.stdout + res.stderr
        said += [(r["message"], r["level"], r["fields"]) for r in res.log_records("run.finished")]
        runs.append(res.json()["run"])  # type: ignore[index]
        status = res.json()["sources"]["grafana"]  # type: ignore[index]
        assert (status["complete"], status["failed"], status["error"]) == (True, 0, None)
    [snap] = GitStore(tmp_path / "backups").snapshots()
    # The report names its run: the first is the snapshot's, the second another one.
    assert runs[0] == snap.run and runs[1] not in ("", None, snap.run)
    assert said == [
        ("run finished", "info", {"snapshot": snap.id, "ok": True}),
        ("run finished", "info", {"snapshot": None, "ok": True}),
    ]


def test_a_collector_that_crashes_keeps_its_entries_and_loses_no_other_source(
    tmp_path: Path, grafana: GrafanaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        grafana.add_dashboard({"title": f"Board {n}"})
    sources = [grafana_source(grafana.url, name=name, api="legacy") for name in ("first", "second")]
    cli = Cli(write_config(tmp_path / "dashvault.toml", sources))
    assert cli("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    late = grafana.add_dashboard({"title": "Late"})
    real = backup.grafana.dashboard_item_legacy

    def buggy(source: str, org: int, data: dict[str, Any], digest: str = "") -> Any:
        if source == "first" and data["dashboard"]["uid"] == late:
            raise KeyError("panels")  # a bug in reading one dashboard: not a SourceError
        return real(source, org, data, digest=digest)

    monkeypatch.setattr(backup.grafana, "dashboard_item_legacy", buggy)
    res = cli("--log-format", "json", "backup", "--json")

    assert res.exit_code == 1, res.stdout + res.stderr
    status = res.json()["sources"]  # type: ignore[index]
    assert status["first"]["complete"] is False
    assert status["first"]["error"] == "first: unexpected error: KeyError('panels')"
    assert (status["first"]["deleted"], status["second"]["deleted"]) == (0, 0)
    assert (status["second"]["complete"], status["second"]["added"]) == (True, 2)  # Late and its ACL
    [record] = res.log_records("source.crashed")
    assert (record["message"], record["level"], record["source"], record.get("fields")) == (
        "source crashed",
        "error",
        "first",
        None,
    )
    assert record["exception"].endswith("KeyError: 'panels'"), record["exception"]
    # The crashed source keeps every entry it had; the other one has the new dashboard.
    after = {e.ident for e in store.manifest(store.snapshots()[0].id).entries}
    assert {e.ident for e in before.values() if e.source == "first"} <= after
    assert ("second", "dashboard", f"1/{late}") in after


def _kill_fast_import() -> None:
    """Kill the `git fast-import` this process started (the run's store writer), as a crash would."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"fast-import" in cmdline:
            os.kill(int(proc.name), signal.SIGKILL)
            return
    raise AssertionError("no git fast-import is running under this process")


def test_a_store_failing_mid_run_stops_the_sources_fetching_before_the_error_is_raised(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    populate(grafana, dashboards=80, depth=1, seed=40, permissions=False)
    name = "fetch-stopped"
    config = GrafanaSourceConfig(name=name, type="grafana", url=grafana.url, token=TOKEN, api="legacy")
    items = 0

    def on_item(source: str) -> None:
        nonlocal items
        items += 1
        if items == 3:  # the writer has its fast-import by now (items were put)
            _kill_fast_import()

    run = BackupRun(GitStore(tmp_path / "repo"), [GrafanaCollector(config)], on_item=on_item)
    with pytest.raises(StoreError, match="git fast-import failed") as raised:
        run.execute()

    # The error, still held here, keeps the run's frames (and the collector's generator) alive; the
    # source's fetch pool is shut down all the same, so no read of Grafana goes on behind the error.
    assert [t.name for t in threading.enumerate() if t.name.startswith(f"{name}-fetch")] == []
    assert "Broken pipe" in str(raised.value.__cause__)
    assert items < 2 * 80  # it failed at a write in the middle of the run, not at the commit


def test_changes_of_the_first_of_two_sources_make_a_snapshot_that_names_them(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    uids = [grafana.add_dashboard({"title": f"Board {n}"}) for n in range(4)]
    org2 = grafana.add_org("Second")
    grafana.add_dashboard({"title": "Theirs"}, org=org2)
    token = grafana.add_service_account("backup", "Admin", org=org2)
    sources = [
        grafana_source(grafana.url, name="first", api="legacy", orgs=[1]),
        grafana_source(grafana.url, name="second", api="legacy", orgs=[org2], token=token),
    ]
    cli = Cli(write_config(tmp_path / "dashvault.toml", sources))
    assert cli("backup").exit_code == 0
    new = grafana.add_dashboard({"title": "New"})
    grafana.update_dashboard(uids[1], {"description": "edited"})
    grafana.delete_dashboard(uids[2])

    # Only the first source changed; the second, run beside it and reported last, did not.
    res = cli("backup", "--json")

    assert res.exit_code == 0, res.stdout + res.stderr
    snapshot = res.json()["snapshot"]  # type: ignore[index]
    assert [s.id for s in GitStore(tmp_path / "backups").snapshots()][:1] == [snapshot]
    body = git(tmp_path / "backups", "log", "-1", "--format=%B", snapshot).split("\n\n")[1]
    assert body.splitlines() == [
        "added:",
        f"  - New (first dashboard 1/{new})",
        f"  - New (first permissions 1/{new})",
        "changed:",
        f"  - Board 1 (first dashboard 1/{uids[1]})",
        "deleted:",
        f"  - Board 2 (first dashboard 1/{uids[2]})",
        f"  - Board 2 (first permissions 1/{uids[2]})",
    ]
