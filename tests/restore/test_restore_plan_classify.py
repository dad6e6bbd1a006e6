"""The plan's rule for one item, case by case, with the reason a user reads in `restore --dry-run`."""

from __future__ import annotations

import pytest

from restore.plan import Action, Live, classify
from storage.model import Entry

SNAPSHOT, NEWEST, OTHER = "a" * 64, "b" * 64, "c" * 64


def entry(content_hash: str) -> Entry:
    return Entry(source="grafana", kind="dashboard", key="1/cpu", title="CPU", hash=content_hash, size=2)


@pytest.mark.parametrize(
    ("live", "newest", "dependency", "expected"),
    [
        (None, None, False, (Action.CREATE, "missing")),
        (None, NEWEST, True, (Action.CREATE, "missing")),  # a missing parent is created
        (SNAPSHOT, NEWEST, False, (Action.SKIP, "identical")),
        (NEWEST, NEWEST, True, (Action.SKIP, "exists (not selected)")),  # a parent is never changed
        (NEWEST, NEWEST, False, (Action.UPDATE, "live matches the newest snapshot")),
        (OTHER, NEWEST, False, (Action.CONFLICT, "changed since the newest snapshot")),
        # Never backed up in this target: nothing says the live object is ours to overwrite.
        (OTHER, None, False, (Action.CONFLICT, "changed since the newest snapshot")),
    ],
    ids=["missing", "missing parent", "identical", "parent that differs", "rollback", "changed", "unknown"],
)
def test_each_case_has_its_action_and_reason(
    live: str | None, newest: str | None, dependency: bool, expected: tuple[Action, str]
) -> None:
    got = classify(
        entry(SNAPSHOT),
        None if live is None else Live(hash=live),
        None if newest is None else entry(newest),
        dependency=dependency,
    )
    assert got == expected


def test_an_item_is_not_a_dependency_unless_said() -> None:
    assert classify(entry(SNAPSHOT), Live(hash=NEWEST), entry(NEWEST)) == (
        Action.UPDATE,
        "live matches the newest snapshot",
    )
