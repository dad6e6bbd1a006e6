"""`dashvault run`: back up at start, then on the `[schedule]`, until SIGTERM or SIGINT.

Jobs run one at a time on the loop's own thread, so two runs never overlap: a run that outlasts its
interval delays the next one (and says so). A failed run is logged and retried at the next tick.
On SIGTERM/SIGINT the run in progress finishes the item in flight, writes no snapshot, and the
loop exits 0.
"""

from __future__ import annotations

import datetime
import logging
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Annotated, Protocol

import schedule
from pydantic import AfterValidator, Field

from backup.run import RunInterrupted, RunReport
from storage.configmodel import ConfigModel
from storage.errors import DashvaultError

# --- schedule syntax ----------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(\d+)\s*([smhd])", re.IGNORECASE)
_DAILY_RE = re.compile(r"daily\s+at\s+(\d{1,2}):(\d{2})", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Every:
    """When a job runs: every `seconds`, or once a day at `daily_at` (local time); exactly one is set."""

    seconds: int | None = None
    daily_at: datetime.time | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.daily_at is None):
            raise ValueError("Every needs exactly one of seconds and daily_at")
        if self.seconds is not None and self.seconds < 1:
            raise ValueError("Every.seconds must be at least 1")

    def __str__(self) -> str:
        if self.daily_at is not None:
            return f"daily at {self.daily_at:%H:%M}"
        return f"every {self.seconds}s"


def parse_duration(value: str, *, allow_zero: bool = False) -> int:
    """Parse `"<N>s|m|h|d"` into seconds; raise ValueError with a readable text for anything else."""
    match = _DURATION_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError('must be a duration like "30s", "15m", "1h" or "1d"')
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds == 0 and not allow_zero:
        raise ValueError("must be at least 1 (a duration like 30s, 15m, 1h or 1d)")
    return seconds


def parse_every(value: str) -> Every:
    """Parse a schedule: `"<N>s|m|h|d"` (N >= 1) or `"daily at HH:MM"` (00:00-23:59)."""
    text = value.strip()
    daily = _DAILY_RE.fullmatch(text)
    if daily is not None:
        hour, minute = int(daily.group(1)), int(daily.group(2))
        if hour > 23 or minute > 59:
            raise ValueError('must be "daily at HH:MM" with a time from 00:00 to 23:59')
        return Every(daily_at=datetime.time(hour, minute))
    if text.lower().startswith("daily"):
        raise ValueError('must be "daily at HH:MM", e.g. "daily at 02:30"')
    try:
        return Every(seconds=parse_duration(text))
    except ValueError:
        raise ValueError(
            'must be "15m", "1h", "1d" (a number and s, m, h or d) or "daily at HH:MM"'
        ) from None


def _check_every(value: str) -> str:
    parse_every(value)
    return value


def _check_jitter(value: str) -> str:
    parse_duration(value, allow_zero=True)
    return value


class ScheduleConfig(ConfigModel):
    """`[schedule]`: how often `dashvault run` backs up, with optional per-source overrides."""

    every: Annotated[str, AfterValidator(_check_every)] = "1h"
    jitter: Annotated[str, AfterValidator(_check_jitter)] = "0s"
    sources: dict[str, Annotated[str, AfterValidator(_check_every)]] = Field(default_factory=dict)

    def every_for(self, source: str) -> Every:
        """The schedule of one source: its override if it has one, else `every`."""
        return parse_every(self.sources.get(source, self.every))

    @property
    def jitter_seconds(self) -> int:
        """The jitter as seconds (0 means none)."""
        return parse_duration(self.jitter, allow_zero=True)


log = logging.getLogger("dashvault.schedule")


class Scheduled(Protocol):
    """What the loop needs of the configuration: the sources' names and the `[schedule]` section."""

    @property
    def source_names(self) -> list[str]: ...

    @property
    def schedule(self) -> ScheduleConfig: ...


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


def plan_jobs(config: Scheduled) -> list[Job]:
    """Group the configured sources by their schedule (per-source overrides, else `every`)."""
    groups: dict[str, Job] = {}
    for name in config.source_names:
        every = config.schedule.every_for(name)
        groups.setdefault(str(every), Job(every=every, sources=[])).sources.append(name)
    return list(groups.values())


class Scheduler:
    """The `dashvault run` loop."""

    def __init__(self, config: Scheduled, run: RunFn, *, max_runs: int | None = None) -> None:
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
