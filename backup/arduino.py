"""ArduinoCollector: every dashboard of one Arduino IoT Cloud space, with the users each is shared with.

A dashboard a restore re-created under a new id (storage/restores.py) is recorded under its old key, so
its history goes on and its old id is not counted as deleted. Dashboards are read through v3 where the
cloud serves it (pages); one whose last entry has pages is never recorded from a v2 read, which cannot
show them: it is an item failure and keeps its entry.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping

from backup.collector import ItemFailure
from backup.pool import pooled
from sources.arduino.client import ArduinoClient
from sources.arduino.items import dashboard_item, shares_item
from sources.config import ArduinoSourceConfig
from sources.errors import SourceError
from storage.model import Entry, Item
from storage.restores import RestoredIds

Result = Item | ItemFailure


class ArduinoCollector:
    """Collects every dashboard of one Arduino Cloud space, with the users each one is shared with."""

    def __init__(self, config: ArduinoSourceConfig, client: ArduinoClient | None = None) -> None:
        self.config = config
        self.client = client or ArduinoClient(config)
        self.renamed: dict[str, str] = {}
        """Live id -> snapshot key of the dashboards restores put under new ids."""

    @property
    def source(self) -> str:
        """The configured source name."""
        return self.config.name

    def adopt_restores(self, restored: RestoredIds) -> None:
        """Take the store's restore records: dashboards they name are recorded under their old keys."""
        self.renamed = restored.renamed(self.source, "dashboard")

    def collect(
        self, known: Mapping[tuple[str, str], Entry] | Iterable[tuple[str, str]] = ()
    ) -> Iterator[Result]:
        """Yield every item; dashboards of the last snapshot that the listing misses are re-checked by id."""
        entries = known if isinstance(known, Mapping) else dict.fromkeys(known)
        try:
            listed = [d.id for d in self.client.list_dashboards()]
            have = set(listed)
            # A restored dashboard takes its old key, unless the old dashboard is listed too.
            key_of = {i: k for i, k in self.renamed.items() if k not in have}
            id_of = {k: i for i, k in key_of.items()}
            # (`get(i)` without its default is equivalent: `ids` below takes each id once anyway.)
            covered = {key_of.get(i, i) for i in listed}  # pragma: no mutate
            recheck = sorted({k for kind, k in entries if kind == "dashboard" and k not in covered})
            ids = dict.fromkeys([*listed, *(id_of.get(k, k) for k in recheck)])
            tasks = []
            for i in ids:
                key = key_of.get(i, i)
                tasks.append(self._task(i, key, entries.get(("dashboard", key))))
            yield from self._pooled(tasks)
        finally:
            self.client.close()

    def _task(self, dashboard_id: str, key: str, last: Entry | None) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            try:
                dashboard = self.client.show_dashboard(dashboard_id)
            except SourceError as exc:
                return [
                    ItemFailure("dashboard", key, exc.message),
                    ItemFailure("shares", key, exc.message, follows="dashboard"),
                ]
            if dashboard is None:
                return []  # deleted since it was listed
            api = self.client.api
            pages = last.meta.get("pages") if last is not None else None
            if api == "v2" and pages:
                why = (
                    f"{self.source}: dashboard {dashboard_id} had {pages} pages, and /iot/v3 (pages) is not "
                    "served now: a v2 read cannot show them, the previous entry is kept"
                )
                return [ItemFailure("dashboard", key, why)]
            item = dashboard_item(self.source, dashboard, key=key, api=api)
            try:
                shares = self.client.list_shares(dashboard_id)
            except SourceError as exc:
                return [item, ItemFailure("shares", key, exc.message)]
            if shares is None:
                return []  # deleted between the two calls
            return [item, shares_item(self.source, dashboard, shares, key=key)]

        return run

    def _pooled(self, tasks: Iterable[Callable[[], list[Result]]]) -> Iterator[Result]:
        return pooled(tasks, limit=self.config.concurrency, name=self.source)
