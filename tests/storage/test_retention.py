"""The keep policy (restic's `forget` semantics) as a pure function of snapshot times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.retention import KeepPolicy, apply_policy

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a Sunday


def snaps(*times: datetime) -> list[tuple[str, datetime]]:
    return [(f"s{n}", t) for n, t in enumerate(times)]


def kept(snapshots: list[tuple[str, datetime]], **policy: int) -> list[str]:
    return list(apply_policy(snapshots, KeepPolicy(**policy)).keep)


def test_keep_last_keeps_the_newest_whatever_the_input_order():
    s = snaps(T0, T0 + timedelta(hours=2), T0 + timedelta(hours=1), T0 - timedelta(days=3))
    assert kept(s, last=2) == ["s1", "s2"]
    result = apply_policy(s, KeepPolicy(last=2))
    assert sorted(result.remove) == ["s0", "s3"]
    assert result.keep == {"s1": ["last"], "s2": ["last"]}


def test_daily_keeps_the_newest_of_each_day_and_the_oldest_while_room_is_left():
    s = snaps(
        T0 + timedelta(hours=10),  # day 1, newest of its day
        T0 + timedelta(hours=9),
        T0 - timedelta(days=1),  # day 0
        T0 - timedelta(days=1, hours=1),  # day 0, the oldest of all
    )
    # Two days have snapshots and the rule allows three: the oldest one is kept as well.
    assert kept(s, daily=3) == ["s0", "s2", "s3"]
    assert kept(s, daily=2) == ["s0", "s2"]
    assert kept(s, daily=1) == ["s0"]


def test_weekly_and_monthly_use_iso_weeks_and_calendar_months():
    monday = datetime(2026, 3, 2, 8, tzinfo=UTC)
    s = snaps(
        monday, monday - timedelta(hours=9), monday - timedelta(days=2), datetime(2026, 1, 31, tzinfo=UTC)
    )
    # Sunday 1 March 23:00 and Saturday 28 Feb fall in the same ISO week, Monday 2 March in the next.
    assert kept(s, weekly=2) == ["s0", "s1"]
    assert kept(s, monthly=2) == ["s0", "s2"]
    assert kept(s, monthly=3) == ["s0", "s2", "s3"]


def test_a_snapshot_kept_by_any_rule_is_kept_with_every_reason():
    s = snaps(T0, T0 - timedelta(hours=1), T0 - timedelta(days=1), T0 - timedelta(days=40))
    result = apply_policy(s, KeepPolicy(last=1, daily=2, monthly=3))
    assert result.keep == {
        "s0": ["last", "daily", "monthly"],
        "s2": ["daily", "monthly"],
        "s3": ["monthly"],
    }
    assert result.remove == ["s1"]


def test_unlimited_and_empty_policies():
    s = snaps(*(T0 - timedelta(days=n) for n in range(10)))
    assert len(kept(s, daily=-1)) == 10
    assert KeepPolicy().empty and not KeepPolicy(weekly=1).empty
    assert apply_policy(s, KeepPolicy()).remove == [i for i, _ in s]
    with pytest.raises(ValueError, match="keep-last"):
        KeepPolicy(last=-2)


# -- properties ------------------------------------------------------------------------------------

times = st.lists(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)),
    max_size=60,
)
counts = st.integers(min_value=0, max_value=8)
policies = st.builds(KeepPolicy, last=counts, daily=counts, weekly=counts, monthly=counts)


def _newest_first(s: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    return sorted(s, key=lambda x: x[1], reverse=True)


@settings(max_examples=300, deadline=None)
@given(times, policies)
def test_every_snapshot_is_either_kept_or_removed(ts, policy):
    s = snaps(*ts)
    result = apply_policy(s, policy)
    assert set(result.keep).isdisjoint(result.remove)
    assert set(result.keep) | set(result.remove) == {i for i, _ in s}
    total = policy.last + policy.daily + policy.weekly + policy.monthly
    assert len(result.keep) <= total
    if s and not policy.empty:
        assert _newest_first(s)[0][0] in result.keep


@settings(max_examples=300, deadline=None)
@given(times, policies)
def test_rules_are_independent_a_union(ts, policy):
    s = snaps(*ts)
    union: set[str] = set()
    for rule in ("last", "daily", "weekly", "monthly"):
        union |= set(kept(s, **{rule: getattr(policy, rule)}))
    assert set(apply_policy(s, policy).keep) == union


@settings(max_examples=300, deadline=None)
@given(times, st.integers(min_value=1, max_value=8))
def test_daily_matches_a_direct_model(ts, n):
    s = snaps(*ts)
    ordered = _newest_first(s)
    newest_per_day: dict[object, str] = {}
    for snap_id, t in ordered:
        newest_per_day.setdefault(t.date(), snap_id)
    days = sorted(newest_per_day, reverse=True)
    expected = {newest_per_day[d] for d in days[:n]}
    if len(days) < n and ordered:
        expected.add(ordered[-1][0])  # room left after the oldest day: the oldest snapshot too
    assert set(kept(s, daily=n)) == expected


@settings(max_examples=200, deadline=None)
@given(times, policies, st.sampled_from(["last", "daily", "weekly", "monthly"]))
def test_a_larger_count_never_keeps_less(ts, policy, rule):
    s = snaps(*ts)
    bigger = KeepPolicy(**{**policy.__dict__, rule: getattr(policy, rule) + 1})
    assert set(apply_policy(s, policy).keep) <= set(apply_policy(s, bigger).keep)
