"""`dashvault run`: back up at start, then on the `[schedule]`, until SIGTERM or SIGINT.

Jobs run one at a time on the loop's own thread, so two runs never overlap: a run that outlasts its
interval delays the next one (and says so). A failed run is logged and retried at the next tick.
On SIGTERM/SIGINT the run in progress finishes the item in flight, writes no snapshot, and the
loop exits 0.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import schedule

from backup.config import Config, Every
from backup.errors import DashvaultError
from backup.run import RunInterrupted, RunReport

log = logging.getLogger("dashvault.schedule")

#: Runs one backup of the given sources, stopping early when the event is set.
RunFn = Callable[[list[str], threading.Event], RunReport]


@dataclass
class Job:
    """A group of sources that share one schedule."""

    every: Every
    sources: list[str]
    runs: int = 0
    failures: int = 0
    last_report: RunReport | None = field(default=None, repr=False)


def plan_jobs(config: Config) -> list[Job]:
    """Group the configured sources by their schedule (per-source overrides, else `every`)."""
    groups: dict[str, Job] = {}
    for name in config.source_names:
        every = config.schedule.every_for(name)
        groups.setdefault(str(every), Job(every=every, sources=[])).sources.append(name)
    return list(groups.values())


class Scheduler:
    """The `dashvault run` loop."""

    def __init__(self, config: Config, run: RunFn, *, max_runs: int | None = None) -> None:
        self.config = config
        self.run_fn = run
        self.jobs = plan_jobs(config)
        self.jitter = config.schedule.jitter_seconds
        self.stop = threading.Event()
        self.max_runs = max_runs
        self.total_runs = 0
        self._scheduler = schedule.Scheduler()

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Signal handler: finish the item in flight, write nothing more, leave the loop."""
        if not self.stop.is_set():
            log.warning("stop requested", extra={"event": "schedule.stop", "signal": signum})
        self.stop.set()

    def _run_job(self, job: Job) -> None:
        if self.stop.is_set():
            return
        started = time.monotonic()
        try:
            job.last_report = self.run_fn(job.sources, self.stop)
            job.runs += 1
        except RunInterrupted:
            log.warning("run interrupted, no snapshot written", extra={"event": "run.interrupted"})
            return
        except DashvaultError as exc:
            job.failures += 1
            log.error(
                "run failed, retrying at the next tick",
                extra={"event": "run.failed", "sources": ",".join(job.sources), "error": exc.message},
            )
        except Exception:  # the loop must outlive any single run
            job.failures += 1
            log.exception("run crashed, retrying at the next tick", extra={"event": "run.crashed"})
        finally:
            self.total_runs += 1
        elapsed = time.monotonic() - started
        if job.every.seconds is not None and elapsed > job.every.seconds:
            log.warning(
                "run took longer than its interval; the next run starts when this one has ended",
                extra={"event": "run.overran", "elapsed": round(elapsed, 3), "interval": job.every.seconds},
            )
        if self.max_runs is not None and self.total_runs >= self.max_runs:
            self.stop.set()

    def _register(self, job: Job) -> None:
        def tick() -> None:
            # Jitter spreads many dashvault instances over time; a stop request cuts it short.
            if self.jitter and self.stop.wait(random.uniform(0, self.jitter)):
                return
            self._run_job(job)

        if job.every.daily_at is not None:
            self._scheduler.every().day.at(job.every.daily_at.strftime("%H:%M")).do(tick)
        else:
            assert job.every.seconds is not None
            self._scheduler.every(job.every.seconds).seconds.do(tick)

    def loop(self, *, install_signals: bool = True) -> int:
        """Run until stopped; returns the exit code (0 after a stop request)."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        log.info(
            "scheduler started",
            extra={
                "event": "schedule.start",
                "jobs": "; ".join(f"{j.every}: {','.join(j.sources)}" for j in self.jobs),
            },
        )
        for job in self.jobs:
            self._run_job(job)  # one backup at start
            self._register(job)
        while not self.stop.is_set():
            self._scheduler.run_pending()
            idle = self._scheduler.idle_seconds
            self.stop.wait(1.0 if idle is None else min(max(idle, 0.05), 1.0))
        self._scheduler.clear()
        log.info("scheduler stopped", extra={"event": "schedule.stopped", "runs": self.total_runs})
        return 0
