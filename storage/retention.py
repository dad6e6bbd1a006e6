"""Which snapshots a retention policy keeps: restic's `forget` rules, as a pure function of times.

Snapshots are taken newest first. `last` keeps the N newest; `daily`, `weekly` and `monthly` keep the
newest snapshot of each of the N most recent days, ISO weeks and months (UTC) that have one. When a
rule still has room after the oldest snapshot's period was counted, it keeps the oldest snapshot too,
which keeps history as long as the rule allows. A snapshot kept by any rule is kept; -1 means no limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["KeepPolicy", "Retention", "apply_policy"]


@dataclass(frozen=True)
class KeepPolicy:
    """How many snapshots each rule keeps (0: the rule is off, -1: no limit)."""

    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        for name in ("last", "daily", "weekly", "monthly"):
            if getattr(self, name) < -1:
                raise ValueError(f"keep-{name} must be -1 (no limit), 0 (off) or a positive count")

    @property
    def empty(self) -> bool:
        """True when no rule keeps anything (pruning with it would delete every snapshot)."""
        return not any((self.last, self.daily, self.weekly, self.monthly))


@dataclass
class Retention:
    """The verdict: kept ids (newest first) with the rules that kept each, and removed ids."""

    keep: dict[str, list[str]] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _day(t: datetime, _: int) -> int:
    return t.year * 10000 + t.month * 100 + t.day


def _week(t: datetime, _: int) -> int:
    year, week, _weekday = t.isocalendar()
    return year * 100 + week


def _month(t: datetime, _: int) -> int:
    return t.year * 100 + t.month


def _each(_: datetime, nr: int) -> int:
    return nr


def apply_policy(snapshots: Sequence[tuple[str, datetime]], policy: KeepPolicy) -> Retention:
    """Split `(id, time)` pairs into kept and removed; equal times keep their given order."""
    ordered = sorted(snapshots, key=lambda s: _utc(s[1]), reverse=True)  # stable: ties keep input order
    rules: list[tuple[str, int, Callable[[datetime, int], int]]] = [
        ("last", policy.last, _each),
        ("daily", policy.daily, _day),
        ("weekly", policy.weekly, _week),
        ("monthly", policy.monthly, _month),
    ]
    left = {name: count for name, count, _ in rules}
    previous: dict[str, int | None] = {name: None for name, _, _ in rules}
    result = Retention()
    for nr, (snap_id, when) in enumerate(ordered):
        t = _utc(when)
        reasons = []
        for name, _, bucket in rules:
            if left[name] == 0:
                continue
            value = bucket(t, nr)
            if value != previous[name] or nr == len(ordered) - 1:
                previous[name] = value
                if left[name] > 0:
                    left[name] -= 1
                reasons.append(name)
        if reasons:
            result.keep[snap_id] = reasons
        else:
            result.remove.append(snap_id)
    return result
