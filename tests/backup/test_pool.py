import threading
from collections.abc import Callable, Iterator

import pytest

from backup.pool import pooled


def task(value: int, started: list[int] | None = None) -> Callable[[], list[int]]:
    def run() -> list[int]:
        if started is not None:
            started.append(value)
        return [value, -value]

    return run


def test_every_result_of_every_task_is_yielded() -> None:
    got = list(pooled((task(n) for n in range(1, 51)), limit=4, name="t"))
    assert sorted(got) == sorted([*range(1, 51), *(-n for n in range(1, 51))])


def test_tasks_are_pulled_at_most_twice_the_limit_ahead() -> None:
    pulled = 0
    gate = threading.Event()

    def tasks() -> Iterator[Callable[[], list[int]]]:
        nonlocal pulled
        for n in range(100):
            pulled += 1

            def blocked(n: int = n) -> list[int]:
                gate.wait(10)
                return [n]

            yield blocked

    results = pooled(tasks(), limit=3, name="t")
    gate.set()
    first = next(results)
    assert pulled <= 3 * 2 + 1
    assert len([first, *results]) == 100


def test_a_listing_that_fails_still_yields_what_was_fetched() -> None:
    def tasks() -> Iterator[Callable[[], list[int]]]:
        yield task(1)
        yield task(2)
        raise RuntimeError("listing cut short")

    got: list[int] = []

    def consume() -> None:
        got.extend(pooled(tasks(), limit=8, name="t"))

    with pytest.raises(RuntimeError, match="cut short"):
        consume()
    assert sorted(got) == [-2, -1, 1, 2]


def test_closing_early_stops_pulling_tasks() -> None:
    started: list[int] = []
    results = pooled((task(n, started) for n in range(1000)), limit=2, name="t")
    next(results)
    results.close()
    assert len(started) < 1000
