"""Bounded concurrent fetching for collectors: tasks run a few at a time while their listing still pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def pooled(tasks: Iterable[Callable[[], list[T]]], *, limit: int, name: str) -> Iterator[T]:
    """Run `tasks` `limit` at a time (threads named after `name`), yielding results as tasks finish.

    At most 2 × `limit` tasks are pulled ahead of the consumer, so memory stays bounded. If the
    iterable feeding the tasks fails (a listing cut short), the results already fetched are still
    yielded before the error; closing the generator cancels what has not started.
    """
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"{name}-fetch") as pool:
        pending: set[Future[list[T]]] = set()

        def drain() -> Iterator[T]:
            nonlocal pending
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield from f.result()

        try:
            for task in tasks:
                pending.add(pool.submit(task))
                if len(pending) >= limit * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        yield from f.result()
        except GeneratorExit:
            for f in pending:
                f.cancel()
            raise
        except Exception:
            yield from drain()
            raise
        yield from drain()
