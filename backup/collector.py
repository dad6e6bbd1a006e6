"""What a collector is: the protocol every source's collector implements, and what it yields besides items."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from storage.model import Entry, Item
from storage.restores import RestoredIds


@dataclass(frozen=True)
class ItemFailure:
    """An item the collector listed but could not read; its previous entry is carried forward."""

    kind: str
    key: str
    error: str
    follows: str = ""
    """The kind of the object whose failure this follows (its permissions when the dashboard could
    not be read): kept like any failure, but said and counted once, with the object."""


@dataclass(frozen=True)
class Unchanged:
    """A listed item the collector knows to be its previous entry's version: that entry is kept as is."""

    kind: str
    key: str


class Collector(Protocol):
    """Yields a source's items; raises a `DashvaultError` if the listing itself fails or is cut short."""

    @property
    def source(self) -> str: ...

    def collect(self, known: Mapping[tuple[str, str], Entry] = ...) -> Iterator[Result]:
        """Yield items; `known` maps (kind, key) to the last snapshot's entries, re-checked if not listed.

        An item whose version the source shows to be that of its entry may be yielded as `Unchanged`.
        """
        ...


@runtime_checkable
class AdoptsRestores(Protocol):
    """A collector of a source whose restores give objects new ids (Arduino): told where they went."""

    def adopt_restores(self, restored: RestoredIds) -> None:
        """Take the store's restore records before `collect`."""
        ...


@dataclass(frozen=True)
class SourceWarning:
    """Something the run should say once about a source that is not an item failure (exit 0)."""

    message: str


@dataclass(frozen=True)
class ListingIncomplete:
    """The listing was not trusted: the source is marked incomplete (no deletions, exit 1) though
    every item it could read is kept. The collector goes on with what else it lists."""

    message: str


Result = Item | ItemFailure | Unchanged | SourceWarning | ListingIncomplete
