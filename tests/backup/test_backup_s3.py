"""Backing up the sandbox Grafana into an S3 store (moto over HTTP) with the CLI, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, S3Target, grafana_source, write_config


def s3_cli(tmp_path: Path, grafana: GrafanaSandbox, s3: S3Target, **source: object) -> Cli:
    config = write_config(
        tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy", **source)], **s3.storage()
    )
    return Cli(config)


def objects(s3: S3Target, sub: str) -> dict[str, tuple[str, int, object]]:
    """Key -> (etag, size, last modified) of every object under `dashvault/<sub>`."""
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=f"dashvault/{sub}")
    return {o["Key"]: (o["ETag"], o["Size"], o["LastModified"]) for p in pages for o in p.get("Contents", [])}


@pytest.fixture
def populated(grafana: GrafanaSandbox):
    return populate(grafana, dashboards=40, depth=2, seed=7)


def test_backup_change_no_change_log_diff_show(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    first = res.json()["snapshot"]
    assert first is not None and first.endswith(res.json()["run"])
    [snap] = cli("snapshots", "--json").json()
    assert snap["id"] == first and snap["sources"]["grafana"]["complete"] is True
    assert list(objects(s3, "snapshots/")) == [f"dashvault/snapshots/{first}.json.zst"]

    uid = populated.dashboards[0]
    shown = cli("show", "latest", f"1/{uid}")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["dashboard"] == {
        k: v for k, v in grafana.get_dashboard(uid).items() if k not in ("id", "version")
    }

    plain = [u for u in populated.dashboards if u not in populated.with_permissions]
    edited, deleted = plain[:3], plain[3]
    for n, u in enumerate(edited):
        grafana.update_dashboard(u, {"description": f"edited {n}"})
    grafana.delete_dashboard(deleted)
    added = [grafana.add_dashboard({"title": f"New board {n}", "panels": []}) for n in range(2)]
    blobs_before = objects(s3, "blobs/")
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    second = res.json()["snapshot"]
    new_blobs = set(objects(s3, "blobs/")) - set(blobs_before)
    assert len(new_blobs) == 7  # 3 edited, 2 added and their 2 permissions; a deletion needs no blob

    log = cli("log", f"1/{edited[0]}", "--json").json()
    assert [(e["change"], e["snapshot"]) for e in log] == [("changed", second), ("added", first)]
    diff = cli("diff", first, second, "--json").json()
    # Each dashboard comes and goes with its permissions item; the edits touch the dashboards only.
    assert sorted((e["kind"], e["key"]) for e in diff["added"]) == sorted(
        (kind, f"1/{u}") for u in added for kind in ("dashboard", "permissions")
    )
    assert sorted((e["kind"], e["key"]) for e in diff["changed"]) == sorted(
        ("dashboard", f"1/{u}") for u in edited
    )
    assert sorted((e["kind"], e["key"]) for e in diff["deleted"]) == [
        ("dashboard", f"1/{deleted}"),
        ("permissions", f"1/{deleted}"),
    ]
    assert all('"description": "edited' in e["diff"] for e in diff["changed"])
    text = cli("diff", first, "latest")
    assert "4 added, 3 changed, 2 deleted" in text.stdout
    assert cli("show", first, f"1/{deleted}").exit_code == 0  # still in the older snapshot

    # No change: nothing uploaded, no manifest written, the run still reported.
    grafana.update_dashboard(edited[1], {})  # a save that changes nothing but the version
    everything = objects(s3, "")  # config.json and dictionaries/ too, not only blobs and manifests
    assert any(k.startswith("dashvault/blobs/") for k in everything) and "dashvault/config.json" in everything
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    assert "no changes" in res.stdout
    assert objects(s3, "") == everything
    assert [s["id"] for s in cli("snapshots", "--json").json()] == [second, first]
    assert objects(s3, "lock") == {}


def test_verify_names_a_corrupt_blob_and_show_refuses_it(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    uid = populated.dashboards[1]
    grafana.update_dashboard(populated.dashboards[2], {"description": "second run"})
    assert cli("backup").exit_code == 0
    ok = cli("verify", "--read-data")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    assert "ok: no problems found" in ok.stdout

    snaps = [s["id"] for s in cli("snapshots", "--json").json()]
    log = cli("log", f"1/{uid}", "--json").json()
    digest = log[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    client = s3.client()
    body = bytearray(client.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket=s3.bucket, Key=key, Body=bytes(body))

    shown = cli("show", "latest", f"1/{uid}")
    assert shown.exit_code == 3
    assert shown.stdout == ""
    [line] = shown.stderr.strip().splitlines()
    assert line.startswith("error: ") and key in line and f"1/{uid}" in line

    assert cli("verify").exit_code == 0  # presence only
    res = cli("verify", "--read-data")
    assert res.exit_code == 1
    assert f"CORRUPT {key}" in res.stdout
    for snap in snaps:  # the unchanged dashboard is in both snapshots
        assert f"used by {snap} grafana dashboard 1/{uid}" in res.stdout
    assert "verify found 1 problems" in res.stderr
    report = cli("verify", "--read-data", "--json").json()
    assert report["ok"] is False and report["read_data"] is True
    [problem] = report["problems"]
    assert problem["hash"] == digest and problem["problem"] == "corrupt" and problem["location"] == key
    assert sorted(r["snapshot"] for r in problem["references"]) == sorted(snaps)
    assert {r["key"] for r in problem["references"]} == {f"1/{uid}"}


def test_prune_from_the_command_line(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    for n in range(3):
        grafana.update_dashboard(populated.dashboards[0], {"description": f"run {n}"})
        assert cli("backup").exit_code == 0
    snaps = [s["id"] for s in cli("snapshots", "--json").json()]
    assert len(snaps) == 3

    assert cli("prune").exit_code == 2
    dry = cli("prune", "--keep-last", "1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["dry_run"] is True and [s["id"] for s in dry.json()["remove"]] == snaps[1:]
    assert len(cli("snapshots", "--json").json()) == 3

    res = cli("prune", "--keep-last", "1")
    assert res.exit_code == 0, res.stderr
    assert "removed 2 snapshots and 2 blobs" in res.stdout
    assert [s["id"] for s in cli("snapshots", "--json").json()] == snaps[:1]
    assert cli("verify", "--read-data").exit_code == 0


def test_verify_and_prune_on_the_git_store(tmp_path, grafana, populated):
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    res = cli("verify", "--json")
    assert res.exit_code == 0 and res.json()["ok"] is True and res.json()["read_data"] is True
    res = cli("prune", "--keep-last", "1")
    assert res.exit_code == 3 and "prune applies to the s3 backend" in res.stderr


def test_store_errors_exit_3_without_credentials(tmp_path, grafana, s3):
    storage = s3.storage(bucket="no-such-bucket-anywhere", secret_access_key="s3cr3t-value-never-shown")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)], **storage))
    for args in (("snapshots",), ("verify",), ("backup",)):
        res = cli(*args)
        assert res.exit_code == 3, args
        assert "bucket 'no-such-bucket-anywhere' does not exist" in res.stderr
        assert "s3cr3t" not in res.stderr + res.stdout


def test_a_backup_killed_mid_upload_leaves_the_previous_snapshot_whole(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3, concurrency=1)
    assert cli("backup").exit_code == 0
    [first] = cli("snapshots", "--json").json()
    for n, uid in enumerate(populated.dashboards):
        grafana.update_dashboard(uid, {"description": f"killed run {n}"})
    before = set(objects(s3, "blobs/"))

    grafana.latency = 0.05  # the run now takes seconds: long enough to be caught mid-upload
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashvault", "--config", str(cli.config), "backup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 60
        while len(set(objects(s3, "blobs/")) - before) < 5:
            assert proc.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    grafana.latency = 0.0
    uploaded = set(objects(s3, "blobs/")) - before
    assert 5 <= len(uploaded) < len(populated.dashboards)
    assert objects(s3, "lock")  # the dead run's lock is still there

    # The previous snapshot is the only one listed, and all of it is readable.
    assert cli("snapshots", "--json").json() == [first]
    uid = populated.dashboards[0]
    old = cli("show", "latest", f"1/{uid}")
    assert old.exit_code == 0 and "killed run" not in old.stdout
    report = cli("verify", "--read-data", "--json").json()
    assert report["ok"] is True and report["unreferenced"] == len(uploaded)

    # The next run takes over the dead run's lock, reuses what it uploaded, and completes.
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    snaps = cli("snapshots", "--json").json()
    assert len(snaps) == 2 and snaps[1] == first
    assert "killed run 0" in cli("show", "latest", f"1/{uid}").stdout
    assert objects(s3, "lock") == {}
    assert cli("verify", "--read-data", "--json").json()["unreferenced"] == 0


def acl(items: list[dict]) -> list[tuple]:
    """An ACL without the ids and timestamps a re-created dashboard gets anew."""
    return sorted(
        tuple(str(a.get(k)) for k in ("role", "teamUid", "userLogin", "permission", "inherited"))
        for a in items
    )


def test_restore_from_s3_brings_back_deleted_dashboards(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    gone = [u for u in populated.dashboards if u in populated.with_permissions][:2] + populated.dashboards[:1]
    models = {u: grafana.get_dashboard(u) for u in gone}
    acls = {u: grafana.permissions("dashboard", u) for u in gone}
    for uid in gone:
        grafana.delete_dashboard(uid)
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stderr
    created = {i["key"] for i in res.json()["plans"][0]["items"] if i["outcome"] == "created"}
    assert {f"1/{u}" for u in gone} <= created
    for uid in gone:
        assert grafana.get_dashboard(uid)["panels"] == models[uid]["panels"]
        assert acl(grafana.permissions("dashboard", uid)) == acl(acls[uid])
    # The restored Grafana backs up to exactly the snapshot it came from.
    res = cli("backup")
    assert res.exit_code == 0
    assert "no changes" in res.stdout


def test_restore_refuses_a_corrupt_blob_and_restores_the_rest(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    bad, good = populated.dashboards[3], populated.dashboards[4]
    digest = cli("log", f"1/{bad}", "--json").json()[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    client = s3.client()
    body = bytearray(client.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket=s3.bucket, Key=key, Body=bytes(body))
    grafana.delete_dashboard(bad)
    grafana.delete_dashboard(good)
    grafana.clear_requests()

    res = cli("restore", "--key", bad, "--key", good, "--json")
    assert res.exit_code == 1
    items = {(i["kind"], i["key"]): i for i in res.json()["plans"][0]["items"]}
    failed = items[("dashboard", f"1/{bad}")]
    assert failed["outcome"] == "failed"
    assert key in failed["detail"]  # the blob is named; zstd's own checksum caught the flip
    assert items[("dashboard", f"1/{good}")]["outcome"] == "created"
    # Nothing corrupt reached Grafana: the bad dashboard was never written.
    assert grafana.get_dashboard(bad) is None
    assert all(
        bad not in r.path and (r.json or {}).get("dashboard", {}).get("uid") != bad
        for r in grafana.write_requests()
    )
    text = cli("restore", "--key", bad)
    assert text.exit_code == 1
    assert "failed" in text.stdout
