"""Stores that cannot be written safely: refused with one line and exit 3, and `check` says why.

A read-only git store (permissions), and an S3-compatible server that ignores ``If-None-Match: *`` (a
proxy in front of moto drops the header, as such a server would), on which the lock and the manifests
would not be safe.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import S3Target, grafana_source, run_dashvault, write_config
from tests.faultproxy import FaultProxy, started


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` made read-only: by permissions for a normal user, by a read-only bind mount for root
    (whom permissions do not stop)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if not p.is_symlink()}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", path, path], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only store as root here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", path], check=True)


def test_a_read_only_git_store_is_one_line_and_exit_3_and_check_says_so(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    uid = populate(grafana, dashboards=3, depth=0, seed=2).dashboards[0]
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)])
    assert run_dashvault("--config", str(cfg), "backup").exit_code == 0
    store = tmp_path / "backups"
    grafana.update_dashboard(uid, {"tags": ["changed"]})
    with read_only(store):
        res = run_dashvault("--config", str(cfg), "backup")
        assert res.exit_code == 3, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "must be writable" in errors[0] and str(store) in errors[0]

        checked = run_dashvault("--config", str(cfg), "check")
        assert checked.exit_code == 3, checked.stdout
        assert "FAILED" in checked.stdout and "mustbewritable" in checked.cells()
    # Writable again: the change is backed up, the old snapshot untouched.
    assert run_dashvault("--config", str(cfg), "backup").exit_code == 0


@pytest.fixture
def ignoring_proxy(s3: S3Target) -> Iterator[FaultProxy]:
    yield from started(s3.endpoint_url)


def test_an_s3_server_that_ignores_conditional_writes_is_refused(
    tmp_path: Path, grafana: GrafanaSandbox, s3: S3Target, ignoring_proxy: FaultProxy
) -> None:
    populate(grafana, dashboards=2, depth=0, seed=2)
    storage = s3.storage(endpoint_url=ignoring_proxy.url)
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)], **storage)
    # Through the proxy, untouched: a store like any other.
    assert run_dashvault("--config", str(cfg), "backup").exit_code == 0

    ignoring_proxy.add("drop_header", "^/", method="PUT", times=None, header="If-None-Match")
    grafana.add_dashboard({"title": "one more"})
    for command in ("backup", "check"):
        res = run_dashvault("--config", str(cfg), command)
        assert res.exit_code == 3, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        said = res.stdout + res.stderr
        assert "ignores conditional writes" in said and ignoring_proxy.url in said
    listing = s3.client().list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    assert not [o["Key"] for o in listing if "/probe-" in o["Key"] or o["Key"].startswith("locks/")]
    assert len([o for o in listing if o["Key"].endswith(".json.zst")]) == 1  # no second snapshot


def test_a_store_that_fails_mid_run_stops_the_run_and_is_not_called_a_listing_failure(
    tmp_path: Path, grafana: GrafanaSandbox, s3: S3Target, ignoring_proxy: FaultProxy
) -> None:
    populate(grafana, dashboards=4, depth=0, seed=2)
    storage = s3.storage(endpoint_url=ignoring_proxy.url)
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)], **storage)
    assert run_dashvault("--config", str(cfg), "backup").exit_code == 0
    grafana.add_dashboard({"title": "one more"})
    ignoring_proxy.add("html", "/blobs/", method="PUT", times=None, status=503)
    res = run_dashvault("--config", str(cfg), "backup")
    assert res.exit_code == 3, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "blobs/" in errors[0], res.stderr
    assert "listing failed" not in res.stderr and "INCOMPLETE" not in res.stdout


def test_a_git_store_that_fails_mid_run_stops_the_run_and_is_not_called_a_listing_failure(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    uids = populate(grafana, dashboards=4, depth=0, seed=2).dashboards
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)])
    assert run_dashvault("--config", str(cfg), "backup").exit_code == 0
    for uid in uids:
        grafana.update_dashboard(uid, {"tags": ["changed"]})
    objects = tmp_path / "backups" / ".git" / "objects"
    with read_only(objects):  # the lock can be taken; the run's objects cannot be written
        res = run_dashvault("--config", str(cfg), "backup")
    assert res.exit_code == 3, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "git store" in errors[0], res.stderr
    assert "listing failed" not in res.stderr and "INCOMPLETE" not in res.stdout


def test_a_manifest_stored_although_its_write_was_answered_500_is_a_snapshot(
    tmp_path: Path, grafana: GrafanaSandbox, s3: S3Target, ignoring_proxy: FaultProxy
) -> None:
    populate(grafana, dashboards=3, depth=0, seed=2)
    cfg = write_config(
        tmp_path / "dashvault.toml",
        [grafana_source(grafana.url)],
        **s3.storage(endpoint_url=ignoring_proxy.url),
    )
    ignoring_proxy.add("done_then_fail", r"/snapshots/.*\.json\.zst", method="PUT", times=None, status=500)
    res = run_dashvault("--config", str(cfg), "backup", "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert ignoring_proxy.faulted("done_then_fail")
    said = res.json()
    assert isinstance(said, dict) and said["snapshot"]
    listed = run_dashvault("--config", str(cfg), "snapshots", "--json").json()
    assert isinstance(listed, list) and [s["id"] for s in listed] == [said["snapshot"]]
