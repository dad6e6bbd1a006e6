"""From configuration to working objects: the store and one collector per configured source."""

from __future__ import annotations

from backup.arduino import ArduinoClient, ArduinoCollector
from backup.config import ArduinoSourceConfig, Config, GrafanaSourceConfig, StorageConfig
from backup.errors import StoreError
from backup.grafana import GrafanaClient, GrafanaCollector
from backup.run import Collector
from storage.git import GitStore
from storage.store import Store


def open_store(config: StorageConfig) -> Store:
    """The configured store backend; S3 credentials come from the config keys, else boto3's default chain."""
    if config.backend == "git":
        return GitStore(config.path, remote=config.remote)
    if config.backend == "s3":
        from storage.s3 import S3Store  # boto3 is slow to import: only when the store is S3

        key_id, secret = config.access_key_id, config.secret_access_key
        return S3Store(
            config.bucket,
            prefix=config.prefix,
            endpoint_url=config.endpoint_url or None,
            region=config.region or None,
            access_key_id=key_id.get_secret_value() if key_id is not None else None,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            sse=config.sse or None,
            kms_key_id=config.kms_key_id or None,
            storage_class=config.storage_class or None,
        )
    raise StoreError(f"storage.backend {config.backend!r} is not available in this version of dashvault")


def make_collectors(config: Config, names: list[str] | None = None) -> list[Collector]:
    """One collector per configured source (or per name given)."""
    chosen = [config.source(n) for n in names] if names else list(config.sources)
    collectors: list[Collector] = []
    for source in chosen:
        if isinstance(source, GrafanaSourceConfig):
            collectors.append(GrafanaCollector(source))
        else:
            collectors.append(ArduinoCollector(source))
    return collectors


def check_source(source: GrafanaSourceConfig | ArduinoSourceConfig) -> str:
    """Reach a source with its credentials; a one-line description of what was found."""
    if isinstance(source, ArduinoSourceConfig):
        return _check_arduino(source)
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


def _check_arduino(source: ArduinoSourceConfig) -> str:
    client = ArduinoClient(source)
    try:
        dashboards = client.list_dashboards()
        space = f"organization {source.organization}" if source.organization else "personal space"
        shared = sum(1 for d in dashboards if d.shared_with)
        return f"Arduino IoT Cloud, {space}: {len(dashboards)} dashboards ({shared} shared)"
    finally:
        client.close()
