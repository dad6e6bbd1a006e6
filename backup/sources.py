"""From configuration to working objects: the store and one collector per configured source."""

from __future__ import annotations

from collections.abc import Iterator

from backup.config import ArduinoSourceConfig, Config, GrafanaSourceConfig, StorageConfig
from backup.errors import SourceError, StoreError
from backup.grafana import GrafanaClient, GrafanaCollector
from backup.run import Collector, ItemFailure
from storage.git import GitStore
from storage.model import Item
from storage.store import Store


def open_store(config: StorageConfig) -> Store:
    """The configured store backend."""
    if config.backend == "git":
        return GitStore(config.path, remote=config.remote)
    raise StoreError(f"storage.backend {config.backend!r} is not available in this version of dashvault")


class UnsupportedSource:
    """A configured source this version cannot collect: reported as failed, its backups kept."""

    def __init__(self, name: str, reason: str) -> None:
        self._name = name
        self.reason = reason

    @property
    def source(self) -> str:
        return self._name

    def collect(self, known: object = ()) -> Iterator[Item | ItemFailure]:
        raise SourceError(f"{self._name}: {self.reason}")


def make_collectors(config: Config, names: list[str] | None = None) -> list[Collector]:
    """One collector per configured source (or per name given)."""
    chosen = [config.source(n) for n in names] if names else list(config.sources)
    collectors: list[Collector] = []
    for source in chosen:
        if isinstance(source, GrafanaSourceConfig):
            collectors.append(GrafanaCollector(source))
        else:
            collectors.append(
                UnsupportedSource(source.name, "Arduino IoT Cloud sources are not supported yet")
            )
    return collectors


def check_source(source: GrafanaSourceConfig | ArduinoSourceConfig) -> str:
    """Reach a source with its credentials; a one-line description of what was found."""
    if not isinstance(source, GrafanaSourceConfig):
        raise SourceError(f"{source.name}: Arduino IoT Cloud sources are not supported yet")
    client = GrafanaClient(source)
    try:
        version = client.health().get("version", "?")
        api = GrafanaCollector(source, client).resolve_api()
        counts = []
        for org in client.org_ids():
            dashboards = sum(len(page) for page in client.search_pages(org, "dash-db"))
            folders = sum(len(page) for page in client.search_pages(org, "dash-folder"))
            counts.append(f"org {org}: {dashboards} dashboards, {folders} folders")
        return f"Grafana {version}, api {api}; " + "; ".join(counts)
    finally:
        client.close()
