"""Grafana panel models for generated dashboards: timeseries, stat, gauge, table ... and their grid layout.

Panels query Prometheus through the dashboard's ``$datasource`` variable, with the field config,
options and targets Grafana saves for each panel type.
"""

from __future__ import annotations

import random
import string
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PLUGIN_VERSION = "11.3.0"
_SERVICES = [
    "API Gateway", "Checkout", "Payments", "Inventory", "Search", "Recommendations", "Auth", "Billing",
    "Notifications", "Ingest", "Kafka", "PostgreSQL", "Redis", "Elasticsearch", "Nginx", "HAProxy",
    "Kubernetes Nodes", "Kubernetes Pods", "CoreDNS", "etcd", "Ceph", "MinIO", "RabbitMQ", "Envoy",
    "Istio Mesh", "Loki", "Tempo", "Node Exporter", "Blackbox Probes", "CDN Edge", "Mobile Backend",
    "Web Frontend", "Batch Jobs", "ML Serving", "Feature Store", "Data Warehouse", "Airflow", "Spark",
    "VPN", "DNS Resolvers",
]  # fmt: skip

_METRICS = [
    (
        "http_requests_total",
        "reqps",
        'sum by (status) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))',
    ),
    (
        "http_request_duration_seconds",
        "s",
        "histogram_quantile(0.99, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))',
    ),
    (
        "node_cpu_seconds_total",
        "percentunit",
        "1 - avg by (instance) "
        '(rate(node_cpu_seconds_total{mode="idle", instance=~"$instance"}[$__rate_interval]))',
    ),
    (
        "node_memory_MemAvailable_bytes",
        "bytes",
        'node_memory_MemTotal_bytes{instance=~"$instance"} '
        '- node_memory_MemAvailable_bytes{instance=~"$instance"}',
    ),
    (
        "container_cpu_usage_seconds_total",
        "short",
        'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="$namespace"}[$__rate_interval]))',
    ),
    (
        "kube_pod_container_status_restarts_total",
        "none",
        'sum by (pod) (increase(kube_pod_container_status_restarts_total{namespace="$namespace"}[1h]))',
    ),
    ("up", "none", 'sum(up{job=~"$job"})'),
    (
        "process_resident_memory_bytes",
        "bytes",
        'sum by (instance) (process_resident_memory_bytes{job=~"$job"})',
    ),
    (
        "node_network_receive_bytes_total",
        "Bps",
        'sum by (instance) (rate(node_network_receive_bytes_total{instance=~"$instance"}[$__rate_interval]))',
    ),
    (
        "pg_stat_database_xact_commit",
        "ops",
        'sum by (datname) (rate(pg_stat_database_xact_commit{instance=~"$instance"}[$__rate_interval]))',
    ),
]
_PANEL_TYPES = ["timeseries", "timeseries", "timeseries", "stat", "gauge", "bargauge", "table", "text",
                "piechart", "heatmap"]  # fmt: skip
_SIGNALS = ["requests", "errors", "p99 latency", "CPU", "memory", "restarts", "throughput", "queue depth"]
_COLORS = ["green", "blue", "yellow", "orange", "red", "purple"]


def _thresholds(rng: random.Random) -> dict[str, Any]:
    high = rng.choice([70, 80, 90, 95, 100, 500, 1000])
    return {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "orange", "value": round(high * 0.8, 2)},
            {"color": "red", "value": high},
        ],
    }


def _targets(rng: random.Random, count: int, panel_type: str) -> tuple[list[dict[str, Any]], str]:
    targets = []
    unit = "short"
    for n in range(count):
        name, unit, expr = rng.choice(_METRICS)
        target: dict[str, Any] = {
            "datasource": dict(DATASOURCE),
            "editorMode": "code",
            "expr": expr,
            "legendFormat": rng.choice(["{{instance}}", "{{pod}}", "{{status}}", "__auto", name]),
            "range": True,
            "refId": string.ascii_uppercase[n],
        }
        if panel_type == "heatmap":
            target["format"] = "heatmap"
        elif panel_type == "table":
            target.update(format="table", instant=True, range=False)
        targets.append(target)
    return targets, unit


def _reduce_options(rng: random.Random) -> dict[str, Any]:
    return {"calcs": [rng.choice(["lastNotNull", "mean", "max", "sum"])], "fields": "", "values": False}


def _panel(rng: random.Random, panel_id: int, panel_type: str, grid: dict[str, int]) -> dict[str, Any]:
    title = f"{rng.choice(_SERVICES)} {rng.choice(_SIGNALS)}"
    panel: dict[str, Any] = {"id": panel_id, "type": panel_type, "title": title, "gridPos": grid}
    if panel_type == "text":
        panel["options"] = {
            "mode": "markdown",
            "content": f"## {title}\n\nRunbook: https://runbooks.example.com/{panel_id}\n\n"
            "Page the on-call engineer when the error budget burn rate exceeds **14.4x**.",
            "code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False},
        }
        panel["pluginVersion"] = PLUGIN_VERSION
        return panel
    targets, unit = _targets(rng, rng.randint(1, 3), panel_type)
    defaults: dict[str, Any] = {
        "color": {"mode": rng.choice(["palette-classic", "thresholds", "continuous-GrYlRd"])},
        "mappings": [],
        "thresholds": _thresholds(rng),
        "unit": unit,
    }
    options: dict[str, Any]
    if panel_type == "timeseries":
        defaults["custom"] = {
            "axisBorderShow": False,
            "axisCenteredZero": False,
            "axisColorMode": "text",
            "axisLabel": "",
            "axisPlacement": "auto",
            "barAlignment": 0,
            "drawStyle": rng.choice(["line", "line", "bars", "points"]),
            "fillOpacity": rng.choice([0, 10, 20, 30]),
            "gradientMode": rng.choice(["none", "opacity"]),
            "hideFrom": {"legend": False, "tooltip": False, "viz": False},
            "insertNulls": False,
            "lineInterpolation": rng.choice(["linear", "smooth", "stepAfter"]),
            "lineWidth": rng.choice([1, 1, 2]),
            "pointSize": 5,
            "scaleDistribution": {"type": "linear"},
            "showPoints": "auto",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": rng.choice(["none", "none", "normal"])},
            "thresholdsStyle": {"mode": rng.choice(["off", "line", "dashed"])},
        }
        options = {
            "legend": {
                "calcs": rng.choice([[], ["mean", "max"], ["lastNotNull"]]),
                "displayMode": rng.choice(["list", "table"]),
                "placement": rng.choice(["bottom", "right"]),
                "showLegend": True,
            },
            "tooltip": {"hideZeros": False, "mode": rng.choice(["single", "multi"]), "sort": "none"},
        }
    elif panel_type == "stat":
        options = {
            "colorMode": rng.choice(["value", "background"]),
            "graphMode": rng.choice(["area", "none"]),
            "justifyMode": "auto",
            "orientation": "auto",
            "percentChangeColorMode": "standard",
            "reduceOptions": _reduce_options(rng),
            "showPercentChange": False,
            "textMode": "auto",
            "wideLayout": True,
        }
    elif panel_type == "gauge":
        defaults.update(min=0, max=rng.choice([1, 100]))
        options = {
            "minVizHeight": 75,
            "minVizWidth": 75,
            "orientation": "auto",
            "reduceOptions": _reduce_options(rng),
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
            "sizing": "auto",
        }
    elif panel_type == "bargauge":
        options = {
            "displayMode": rng.choice(["gradient", "lcd", "basic"]),
            "maxVizHeight": 300,
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "auto",
            "orientation": rng.choice(["horizontal", "vertical"]),
            "reduceOptions": _reduce_options(rng),
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        }
    elif panel_type == "table":
        defaults["custom"] = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
        options = {
            "cellHeight": "sm",
            "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": "Value"}],
        }
        panel["transformations"] = [
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True}, "indexByName": {}, "renameByName": {}},
            }
        ]
    elif panel_type == "piechart":
        defaults["custom"] = {"hideFrom": {"legend": False, "tooltip": False, "viz": False}}
        options = {
            "displayLabels": ["percent"],
            "legend": {"displayMode": "list", "placement": "right", "showLegend": True},
            "pieType": rng.choice(["pie", "donut"]),
            "reduceOptions": _reduce_options(rng),
            "tooltip": {"mode": "single", "sort": "none"},
        }
    else:  # heatmap
        defaults["custom"] = {
            "hideFrom": {"legend": False, "tooltip": False, "viz": False},
            "scaleDistribution": {"type": "linear"},
        }
        options = {
            "calculate": False,
            "cellGap": 1,
            "color": {
                "exponent": 0.5,
                "fill": "dark-orange",
                "mode": "scheme",
                "scheme": "Oranges",
                "steps": 64,
            },
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-9},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": False},
            "yAxis": {"axisPlacement": "left", "reverse": False, "unit": "s"},
        }
    overrides: list[dict[str, Any]] = []
    if rng.random() < 0.3:
        overrides.append(
            {
                "matcher": {"id": "byName", "options": "5xx"},
                "properties": [
                    {"id": "color", "value": {"fixedColor": rng.choice(_COLORS), "mode": "fixed"}}
                ],
            }
        )
    panel.update(
        datasource=dict(DATASOURCE),
        description=rng.choice(["", f"{title} across all selected instances."]),
        fieldConfig={"defaults": defaults, "overrides": overrides},
        options=options,
        pluginVersion=PLUGIN_VERSION,
        targets=targets,
    )
    return panel


def _panels(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` visual panels laid out on the 24-column grid, some grouped under row panels."""
    rows = rng.randint(1, 3) if count >= 6 else 0
    group_size = max(1, count // (rows + 1)) if rows else count
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    remaining = count
    row_index = 0
    while remaining > 0:
        in_row = row_index > 0
        size = remaining if row_index == rows else min(group_size, remaining)
        members: list[dict[str, Any]] = []
        row: dict[str, Any] | None = None
        if in_row:
            row = {
                "collapsed": rng.random() < 0.4,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
                "title": rng.choice(["Details", "Resources", "Network", "Storage", "Errors", "Internals"]),
                "type": "row",
            }
            next_id += 1
            y += 1
        x = 0
        line_height = 0
        for _ in range(size):
            width = rng.choice([6, 8, 12, 12, 24])
            height = rng.choice([4, 6, 8, 8, 9])
            if x + width > 24:
                x = 0
                y += line_height
                line_height = 0
            members.append(
                _panel(rng, next_id, rng.choice(_PANEL_TYPES), {"h": height, "w": width, "x": x, "y": y})
            )
            next_id += 1
            x += width
            line_height = max(line_height, height)
        y += line_height
        remaining -= size
        if row is not None and row["collapsed"]:
            # Collapsed rows carry their panels inside, as Grafana saves them.
            row["panels"] = members
            panels.append(row)
        else:
            if row is not None:
                panels.append(row)
            panels.extend(members)
        row_index += 1
    return panels
