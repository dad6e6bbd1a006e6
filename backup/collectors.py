"""From source configs to collectors: one per configured source."""

from __future__ import annotations

from collections.abc import Iterable

from backup.arduino import ArduinoCollector
from backup.collector import Collector
from backup.grafana import GrafanaCollector
from sources.config import GrafanaSourceConfig, SourceConfig


def make_collectors(sources: Iterable[SourceConfig]) -> list[Collector]:
    """One collector per source config."""
    collectors: list[Collector] = []
    for source in sources:
        if isinstance(source, GrafanaSourceConfig):
            collectors.append(GrafanaCollector(source))
        else:
            collectors.append(ArduinoCollector(source))
    return collectors
