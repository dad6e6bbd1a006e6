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
    limit = 3
    consumed = 0  # tasks whose result the consumer has received
    ahead: list[int] = []  # at each pull: tasks pulled so far whose results were not consumed yet
    window_full = threading.Event()

    def tasks() -> Iterator[Callable[[], list[int]]]:
        for n in range(100):
            ahead.append(n + 1 - consumed)
            if n + 1 == 2 * limit:
                window_full.set()

            def blocked(n: int = n) -> list[int]:
                # The first tasks hold their workers until the pool has pulled its whole window, so
                # that window is pulled while `limit` tasks are still running and none has finished.
                assert window_full.wait(10), "the pool never pulled 2 x limit tasks ahead"
                return [n]

            yield blocked

    got = []
    for result in pooled(tasks(), limit=limit, name="t"):
        got.append(result)
        consumed += 1
    assert sorted(got) == list(range(100))
    # The window is filled (six tasks pulled before any result), and never exceeded.
    assert ahead[: 2 * limit] == [1, 2, 3, 4, 5, 6]
    assert max(ahead) == 2 * limit


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
    limit = 2
    pulled = 0
    started: list[int] = []

    def tasks() -> Iterator[Callable[[], list[int]]]:
        nonlocal pulled
        for n in range(1, 1001):
            pulled += 1
            yield task(n, started)

    results = pooled(tasks(), limit=limit, name="t")
    first = next(results)
    assert pulled == 2 * limit  # the window, pulled before the first result came back
    results.close()
    # Nothing more is pulled once closed (the pool has shut down, its threads are done) ...
    assert pulled == 2 * limit
    # ... and what ran was taken from that window only.
    assert first in started
    assert set(started) <= set(range(1, 2 * limit + 1))
