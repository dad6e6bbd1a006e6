"""`dashvault check` for a source: reach it with its credentials and say what is there."""

from __future__ import annotations

from sources.arduino.client import ArduinoClient
from sources.config import ArduinoSourceConfig, GrafanaSourceConfig
from sources.grafana.client import GrafanaClient


def check_source(source: GrafanaSourceConfig | ArduinoSourceConfig) -> str:
    """Reach a source with its credentials; a one-line description of what was found."""
    if isinstance(source, ArduinoSourceConfig):
        return _check_arduino(source)
    client = GrafanaClient(source)
    try:
        version = client.health().get("version", "?")
        api = client.resolve_api()
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
