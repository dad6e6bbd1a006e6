"""ArduinoCollector: every dashboard of one Arduino IoT Cloud space, with the users each is shared with."""

from collections.abc import Callable, Iterable, Iterator

from backup.collector import ItemFailure
from backup.pool import pooled
from sources.arduino.client import ArduinoClient
from sources.arduino.items import dashboard_item, shares_item
from sources.config import ArduinoSourceConfig
from sources.errors import SourceError
from storage.model import Item

Result = Item | ItemFailure


class ArduinoCollector:
    """Collects every dashboard of one Arduino Cloud space, with the users each one is shared with."""

    def __init__(self, config: ArduinoSourceConfig, client: ArduinoClient | None = None) -> None:
        self.config = config
        self.client = client or ArduinoClient(config)

    @property
    def source(self) -> str:
        """The configured source name."""
        return self.config.name

    def collect(self, known: Iterable[tuple[str, str]] = ()) -> Iterator[Result]:
        """Yield every item; dashboards of the last snapshot that the listing misses are re-checked by id."""
        try:
            listed = [d.id for d in self.client.list_dashboards()]
            have = set(listed)
            recheck = sorted({key for kind, key in known if kind == "dashboard" and key not in have})
            yield from self._pooled(self._task(i) for i in dict.fromkeys([*listed, *recheck]))
        finally:
            self.client.close()

    def _task(self, dashboard_id: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            try:
                dashboard = self.client.show_dashboard(dashboard_id)
            except SourceError as exc:
                return [
                    ItemFailure("dashboard", dashboard_id, exc.message),
                    ItemFailure("shares", dashboard_id, exc.message),
                ]
            if dashboard is None:
                return []  # deleted since it was listed
            item = dashboard_item(self.source, dashboard)
            try:
                shares = self.client.list_shares(dashboard_id)
            except SourceError as exc:
                return [item, ItemFailure("shares", dashboard_id, exc.message)]
            if shares is None:
                return []  # deleted between the two calls
            return [item, shares_item(self.source, dashboard, shares)]

        return run

    def _pooled(self, tasks: Iterable[Callable[[], list[Result]]]) -> Iterator[Result]:
        return pooled(tasks, limit=self.config.concurrency, name=self.source)
