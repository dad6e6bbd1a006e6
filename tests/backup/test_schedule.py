"""`dashvault run`: the scheduler loop, no overlapping runs, clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import threading
import time

from backup.collectors import make_collectors
from backup.run import BackupRun, RunReport
from backup.schedule import Scheduler, plan_jobs
from dashvault.config import load_config
from sandbox.generate import populate
from storage.config import open_store
from storage.git import GitStore
from tests.backup.support import assert_store_intact, dashboard_reads, start_run, wait_until
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


def test_sigterm_mid_run_exits_0_and_leaves_the_last_snapshot_whole(tmp_path, grafana):
    population = populate(grafana, dashboards=60, depth=2, seed=2)
    cfg = write_config(
        tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy", concurrency=2)]
    )
    cfg.write_text(cfg.read_text() + '\n[schedule]\nevery = "1s"\n')
    grafana.latency = 0.03  # a run of about 2 s: 2 at a time, 2 requests per dashboard
    store = GitStore(tmp_path / "backups")
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        proc = start_run(cfg, stderr)
        try:
            # The run at start has read every dashboard: from now on, a change reaches the next run only.
            wait_until(
                lambda: len(dashboard_reads(grafana)) >= 60, "the first run's reads", proc=proc, log=log
            )
            changed_at = time.time()
            for uid in population.dashboards:
                grafana.update_dashboard(uid, {"description": "changed before SIGTERM"})
            # The scheduled run after it is reading dashboards (16: some taken in, far from done).
            wait_until(
                lambda: len(dashboard_reads(grafana)) >= 60 + 16, "the second run's reads", proc=proc, log=log
            )
            # Runs never overlap: the first one committed before the second began.
            before = [s.id for s in store.snapshots()]
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = log.read_text()
    assert proc.returncode == 0, err
    reads = dashboard_reads(grafana)
    # The test's own premise: the second run read nothing before the change ...
    assert sum(1 for r in reads if r.time < changed_at) == 60, "the second run began before the change"
    # ... and was stopped part way, before it had read every dashboard.
    assert 60 + 16 <= len(reads) < 2 * 60
    assert len(before) == 1
    assert [s.id for s in store.snapshots()] == before, "the interrupted run committed a snapshot"
    events = [json.loads(line)["event"] for line in err.splitlines() if line.strip()]
    assert "schedule.stop" in events and "run.interrupted" in events and "schedule.stopped" in events
    assert_store_intact(store)
    # The last snapshot is the first run's, whole: none of the changes made since.
    manifest = store.manifest(before[0])
    dashboards = [e for e in manifest.entries if e.kind == "dashboard"]
    assert len(dashboards) == 60
    descriptions = {store.load(before[0], e)["dashboard"].get("description") for e in dashboards}
    assert "changed before SIGTERM" not in descriptions
