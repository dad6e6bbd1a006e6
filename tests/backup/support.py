"""Helpers of the backup tests: polling a condition, the sandbox's request log, a store's entries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sandbox.grafana import GrafanaSandbox
from sandbox.server import RequestRecord
from storage.git import GitStore
from storage.model import Entry

if TYPE_CHECKING:
    from tests.conftest import Cli


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float = 60.0,
    proc: subprocess.Popen[str] | None = None,
    log: Path | None = None,
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` s, or if `proc` ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            detail = log.read_text() if log is not None and log.exists() else ""
            raise AssertionError(f"the process exited ({proc.returncode}) before {what}\n{detail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # the polling interval, not a synchronisation


def dashboard_reads(grafana: GrafanaSandbox) -> list[RequestRecord]:
    """The `GET /api/dashboards/uid/<uid>` requests the sandbox answered (not permissions, not versions)."""
    return [
        r
        for r in grafana.logged_requests()
        if r.method == "GET" and r.path.startswith("/api/dashboards/uid/") and r.path.count("/") == 4
    ]


def latest_entries(store: GitStore) -> dict[tuple[str, str], Entry]:
    """(kind, key) -> entry of the newest snapshot."""
    return {(e.kind, e.key): e for e in store.manifest(store.snapshots()[0].id).entries}


def assert_store_intact(store: GitStore) -> None:
    """Every entry of every snapshot reads back and verifies, and the work tree has nothing uncommitted."""
    for snap in store.snapshots():
        for entry in store.manifest(snap.id).entries:
            store.load(snap.id, entry)
    status = subprocess.run(
        ["git", "-C", str(store.path), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def start_run(config: Path, stderr: IO[str]) -> subprocess.Popen[str]:
    """`dashvault run` in a child process, JSON logs (at info) to `stderr`."""
    return subprocess.Popen(
        [sys.executable, "-m", "dashvault", "--config", str(config), "--log-format", "json", "-v", "run"],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        env={**os.environ},
    )


def last_status(cli: Cli) -> dict[str, object]:
    """The grafana source's status in the newest snapshot, as `snapshots --json` reports it."""
    snaps = cli("snapshots", "--json").json()
    assert isinstance(snaps, list)
    status = snaps[0]["sources"]["grafana"]
    assert isinstance(status, dict)
    return status


def diff_keys(cli: Cli, older: str, newer: str) -> dict[str, list[tuple[str, str]]]:
    """(kind, key) of what `diff --json` says was added, changed and deleted between two snapshots."""
    diff = cli("diff", older, newer, "--json", "--stat").json()
    assert isinstance(diff, dict)
    return {
        what: sorted((e["kind"], e["key"]) for e in diff[what]) for what in ("added", "changed", "deleted")
    }
