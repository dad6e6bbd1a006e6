"""`dashvault run`: the scheduler loop, no overlapping runs, clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from backup.collectors import make_collectors
from backup.run import BackupRun, RunReport
from backup.schedule import Scheduler, plan_jobs
from dashvault.config import load_config
from sandbox.generate import populate
from storage.config import open_store
from storage.errors import StoreError
from storage.git import GitStore
from tests.conftest import grafana_source, write_config


def schedule_config(tmp_path, url, every="1s", **storage):
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(url, api="legacy")], **storage)
    cfg.write_text(cfg.read_text() + f'\n[schedule]\nevery = "{every}"\n')
    return cfg


def test_jobs_group_sources_by_schedule(tmp_path, grafana):
    cfg = write_config(
        tmp_path / "dashvault.toml",
        [
            grafana_source(grafana.url, name="a"),
            grafana_source(grafana.url, name="b"),
            grafana_source(grafana.url, name="c"),
        ],
    )
    cfg.write_text(cfg.read_text() + '\n[schedule]\nevery = "1h"\n[schedule.sources]\nb = "daily at 02:30"\n')
    jobs = plan_jobs(load_config(cfg))
    assert sorted((str(j.every), tuple(j.sources)) for j in jobs) == [
        ("daily at 02:30", ("b",)),
        ("every 3600s", ("a", "c")),
    ]


def test_every_second_runs_repeatedly_and_never_overlaps(tmp_path, grafana):
    population = populate(grafana, dashboards=10, depth=1, seed=1, permissions=False)
    config = load_config(schedule_config(tmp_path, grafana.url))
    spans: list[tuple[float, float]] = []
    active = threading.Lock()

    def run(sources: list[str], stop: threading.Event) -> RunReport:
        assert active.acquire(blocking=False), "two runs overlapped"
        start = time.monotonic()
        try:
            grafana.update_dashboard(population.dashboards[0], {"description": f"run {len(spans)}"})
            report = BackupRun(
                open_store(config.storage), make_collectors(config.sources_named(sources)), stop=stop
            ).execute()
            time.sleep(1.2)  # a slow run: longer than its 1 s interval
        finally:
            spans.append((start, time.monotonic()))
            active.release()
        return report

    scheduler = Scheduler(config, run, max_runs=3)
    assert scheduler.loop(install_signals=False) == 0
    assert len(spans) == 3
    assert all(end > start + 1.0 for start, end in spans)  # each run overran its interval ...
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))  # ... and the next waited for it
    assert len(GitStore(tmp_path / "backups").snapshots()) == 3


def test_a_failing_run_does_not_kill_the_loop(tmp_path, grafana):
    config = load_config(schedule_config(tmp_path, grafana.url))
    calls = []

    def run(sources: list[str], stop: threading.Event) -> RunReport:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("boom")
        return BackupRun(
            open_store(config.storage), make_collectors(config.sources_named(sources)), stop=stop
        ).execute()

    scheduler = Scheduler(config, run, max_runs=2)
    assert scheduler.loop(install_signals=False) == 0
    assert len(calls) == 2
    assert scheduler.jobs[0].failures == 1 and scheduler.jobs[0].runs == 1


def snapshots_or_none(store: GitStore) -> list | None:
    try:
        return store.snapshots()
    except StoreError:  # the repository is being created by the other process right now
        return None


def test_sigterm_mid_run_exits_0_and_leaves_the_last_snapshot_whole(tmp_path, grafana):
    populate(grafana, dashboards=60, depth=2, seed=2)
    cfg = schedule_config(tmp_path, grafana.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashvault", "--config", str(cfg), "--log-format", "json", "-v", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    store = GitStore(tmp_path / "backups")
    try:
        deadline = time.monotonic() + 60
        while not snapshots_or_none(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.snapshots(), "the first run made no snapshot"
        # Make the next run slow, change something so it would write, and stop it halfway.
        grafana.latency = 0.05
        grafana.update_dashboard(grafana.dashboards()[0], {"description": "changed before SIGTERM"})
        time.sleep(1.8)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.strip()]
    assert "schedule.stop" in events and "schedule.stopped" in events
    snaps = store.snapshots()
    for snap in snaps:
        manifest = store.manifest(snap.id)
        for entry in manifest.entries:
            store.load(snap.id, entry)  # every item of every snapshot reads back and verifies
    git_status = subprocess.run(
        ["git", "-C", str(store.path), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert git_status.stdout == ""
