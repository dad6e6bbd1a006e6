"""Realistic Grafana dashboards and whole populations (nested folders, users, teams, ACLs) for the sandbox."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.arduino import ArduinoSandbox
from sandbox.grafana import GrafanaSandbox

__all__ = [
    "ARDUINO_SHARED_SPACE",
    "ArduinoPopulation",
    "Population",
    "make_dashboard",
    "populate",
    "populate_arduino",
]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PLUGIN_VERSION = "11.3.0"
# Above this many dashboards, models are cheap variations of a few generated templates.
TEMPLATE_THRESHOLD = 500
TEMPLATE_COUNT = 24

_SERVICES = [
    "API Gateway", "Checkout", "Payments", "Inventory", "Search", "Recommendations", "Auth", "Billing",
    "Notifications", "Ingest", "Kafka", "PostgreSQL", "Redis", "Elasticsearch", "Nginx", "HAProxy",
    "Kubernetes Nodes", "Kubernetes Pods", "CoreDNS", "etcd", "Ceph", "MinIO", "RabbitMQ", "Envoy",
    "Istio Mesh", "Loki", "Tempo", "Node Exporter", "Blackbox Probes", "CDN Edge", "Mobile Backend",
    "Web Frontend", "Batch Jobs", "ML Serving", "Feature Store", "Data Warehouse", "Airflow", "Spark",
    "VPN", "DNS Resolvers",
]  # fmt: skip
_ASPECTS = [
    "Overview", "Latency", "Errors", "Saturation", "Capacity", "SLOs", "Traffic", "Resources",
    "Deep Dive", "On-call", "Cost", "Availability", "Throughput", "Queues", "Storage",
]  # fmt: skip
_TOP_FOLDERS = [
    "Infrastructure", "Platform", "Applications", "Data", "Security", "Networking", "Observability",
    "Business", "Mobile", "Edge",
]  # fmt: skip
_SUB_FOLDERS = [
    "Production", "Staging", "Development", "EU West", "US East", "AP South", "Databases", "Messaging",
    "Compute", "Storage", "Frontend", "Backend", "Batch", "Streaming", "Legacy", "Experiments",
]  # fmt: skip
_TAGS = [
    "prometheus", "kubernetes", "slo", "production", "staging", "team-sre", "team-data", "infra",
    "app", "database", "network", "golden-signals", "cost", "security", "latency",
]  # fmt: skip
_USERS = [("alice", "Alice Martin"), ("bob", "Bob Chen"), ("carol", "Carol Diaz"), ("dave", "Dave Okafor"),
          ("erin", "Erin Novak"), ("frank", "Frank Ito")]  # fmt: skip
_TEAMS = ["SRE", "Backend", "Data Platform"]

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


def _variables(rng: random.Random) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [
        {
            "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
            "hide": 0,
            "includeAll": False,
            "label": "Data source",
            "multi": False,
            "name": "datasource",
            "options": [],
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "skipUrlSync": False,
            "type": "datasource",
        }
    ]
    kinds = rng.sample(["job", "instance", "namespace", "env", "interval"], rng.randint(1, 3))
    for kind in kinds:
        if kind in ("job", "instance", "namespace"):
            source = {
                "job": "label_values(up, job)",
                "instance": 'label_values(up{job=~"$job"}, instance)',
            }.get(kind, "label_values(kube_pod_info, namespace)")
            variables.append(
                {
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "datasource": dict(DATASOURCE),
                    "definition": source,
                    "hide": 0,
                    "includeAll": True,
                    "label": kind.capitalize(),
                    "multi": kind != "namespace",
                    "name": kind,
                    "options": [],
                    "query": {
                        "qryType": 1,
                        "query": source,
                        "refId": "PrometheusVariableQueryEditor-VariableQuery",
                    },
                    "refresh": 2,
                    "regex": "",
                    "skipUrlSync": False,
                    "sort": 1,
                    "type": "query",
                }
            )
        elif kind == "env":
            envs = ["production", "staging", "development"]
            variables.append(
                {
                    "current": {"selected": False, "text": envs[0], "value": envs[0]},
                    "hide": 0,
                    "includeAll": False,
                    "label": "Environment",
                    "multi": False,
                    "name": "env",
                    "options": [{"selected": i == 0, "text": e, "value": e} for i, e in enumerate(envs)],
                    "query": ",".join(envs),
                    "queryValue": "",
                    "skipUrlSync": False,
                    "type": "custom",
                }
            )
        else:
            steps = ["1m", "5m", "10m", "30m", "1h"]
            variables.append(
                {
                    "auto": True,
                    "auto_count": 30,
                    "auto_min": "10s",
                    "current": {"selected": False, "text": "auto", "value": "$__auto_interval_interval"},
                    "hide": 0,
                    "label": "Interval",
                    "name": "interval",
                    "options": [{"selected": False, "text": s, "value": s} for s in steps],
                    "query": ",".join(steps),
                    "refresh": 2,
                    "skipUrlSync": False,
                    "type": "interval",
                }
            )
    return variables


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


def make_dashboard(
    rng: random.Random, title: str, uid: str | None = None, panels: int | None = None
) -> dict[str, Any]:
    """A realistic Grafana dashboard model (no ``id``/``version``: the server assigns those)."""
    count = panels if panels is not None else rng.randint(4, 16)
    model: dict[str, Any] = {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": rng.choice(["", f"{title}: golden signals and saturation."]),
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": rng.choice([0, 1, 2]),
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": [rng.choice(_TAGS)],
                "targetBlank": False,
                "title": "Related",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ][: rng.randint(0, 1)],
        "panels": _panels(rng, count),
        "refresh": rng.choice(["", "30s", "1m", "5m"]),
        "schemaVersion": rng.randint(39, 41),
        "tags": sorted(rng.sample(_TAGS, rng.randint(0, 3))),
        "templating": {"list": _variables(rng)},
        "time": {"from": rng.choice(["now-1h", "now-6h", "now-24h", "now-7d"]), "to": "now"},
        "timepicker": rng.choice([{}, {"refresh_intervals": ["30s", "1m", "5m", "15m", "1h"]}]),
        "timezone": rng.choice(["browser", "utc", ""]),
        "title": title,
        "weekStart": "",
    }
    if uid is not None:
        model["uid"] = uid
    return model


@dataclass
class Population:
    """What :func:`populate` created."""

    org: int
    dashboards: list[str]
    folders: list[str]
    users: dict[str, int]
    teams: dict[str, int]
    dashboard_folders: dict[str, str | None] = field(default_factory=dict)
    """Dashboard uid -> folder uid (None at the root)."""
    folder_parents: dict[str, str | None] = field(default_factory=dict)
    with_permissions: list[str] = field(default_factory=list)
    """Uids of dashboards and folders that got an ACL of their own."""


def _uid(rng: random.Random, length: int, alphabet: str, taken: set[str]) -> str:
    while True:
        uid = "".join(rng.choice(alphabet) for _ in range(length))
        if uid not in taken:
            taken.add(uid)
            return uid


def _load_corpus(corpus_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file stem, model) for every dashboard JSON in the directory, sorted by file name."""
    out = []
    for path in sorted(corpus_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("dashboard"), dict):
            data = data["dashboard"]  # an export wrapped with its meta
        if isinstance(data, dict):
            out.append((path.stem, data))
    if not out:
        raise ValueError(f"no dashboard JSON files in {corpus_dir}")
    return out


def _acl(
    rng: random.Random, users: dict[str, int], teams: dict[str, int], *, folder: bool
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if rng.random() < 0.7:
        items.append({"role": rng.choice(["Viewer", "Editor"]), "permission": rng.choice([1, 2])})
    if teams and rng.random() < 0.7:
        items.append({"teamId": teams[rng.choice(sorted(teams))], "permission": rng.choice([1, 2, 4])})
    if users and (not items or rng.random() < 0.5):
        items.append(
            {
                "userId": users[rng.choice(sorted(users))],
                "permission": rng.choice([1, 2, 4] if folder else [1, 2]),
            }
        )
    return items


def populate(
    sandbox: GrafanaSandbox,
    *,
    dashboards: int = 300,
    org: int = 1,
    depth: int = 3,
    folders_per_level: int = 3,
    seed: int = 0,
    corpus_dir: Path | None = None,
    permissions: bool = True,
) -> Population:
    """Fill an org with nested folders, dashboards (some at the root), users, teams and ACLs.

    Deterministic for a given seed; 10,000 dashboards take a few seconds.
    """
    rng = random.Random(seed)
    existing_folders = set(sandbox.folders(org))
    existing_dashboards = set(sandbox.dashboards(org))

    users = {
        login: sandbox.add_user(login, email=f"{login}@example.com", name=name, org=org)
        for login, name in _USERS
    }
    teams: dict[str, int] = {}
    for name in _TEAMS:
        team_uid = _uid(rng, 14, string.ascii_lowercase + string.digits, set())
        email = f"{name.lower().replace(' ', '-')}@example.com"
        teams[name] = sandbox.add_team(name, uid=team_uid, org=org, email=email)

    # Nested folders, breadth first: depth levels of folders_per_level children each.
    folder_parents: dict[str, str | None] = {}
    level: list[str | None] = [None]
    for d in range(depth):
        next_level: list[str | None] = []
        for parent in level:
            names = _TOP_FOLDERS if d == 0 else _SUB_FOLDERS
            titles = rng.sample(names, min(folders_per_level, len(names)))
            titles += [f"{names[i % len(names)]} {i + 1}" for i in range(len(titles), folders_per_level)]
            for title in titles:
                uid = _uid(rng, 14, string.ascii_lowercase + string.digits, existing_folders)
                sandbox.add_folder(uid, title, parent_uid=parent, org=org)
                folder_parents[uid] = parent
                next_level.append(uid)
        level = next_level
    folder_uids = list(folder_parents)

    corpus = _load_corpus(corpus_dir) if corpus_dir is not None else None
    templates: list[dict[str, Any]] = []
    if corpus is None and dashboards > TEMPLATE_THRESHOLD:
        templates = [make_dashboard(rng, f"template {n}") for n in range(TEMPLATE_COUNT)]

    titles_in: dict[str | None, set[str]] = {}
    dashboard_folders: dict[str, str | None] = {}
    copies: dict[str, int] = {}
    for n in range(dashboards):
        # The root and every folder get one first (when there are enough dashboards), then about one
        # in ten goes to the root and the rest anywhere in the tree.
        if n < len(folder_uids) + 1 and dashboards > len(folder_uids):
            folder = folder_uids[n] if n < len(folder_uids) else None
        else:
            folder = None if not folder_uids or rng.random() < 0.1 else rng.choice(folder_uids)
        taken_titles = titles_in.setdefault(folder, set())
        if corpus is not None:
            stem, source = corpus[n % len(corpus)]
            k = copies.get(stem, 0)
            copies[stem] = k + 1
            base_title = str(source.get("title") or stem)
            title = base_title if k == 0 else f"{base_title} ({k + 1})"
            base_uid = str(source.get("uid") or stem)[:30]
            uid = base_uid if k == 0 else f"{base_uid}-{k + 1}"
            if uid in existing_dashboards:
                uid = _uid(rng, 9, string.ascii_letters + string.digits, existing_dashboards)
            existing_dashboards.add(uid)
            model = {k2: v for k2, v in source.items() if k2 not in ("id", "version")}
        else:
            uid = _uid(rng, 9, string.ascii_letters + string.digits, existing_dashboards)
            title = f"{rng.choice(_SERVICES)} {rng.choice(_ASPECTS)}"
            if templates:
                # Shares nested values with the template: cheap, and the sandbox never mutates them.
                model = dict(templates[n % len(templates)])
                model["tags"] = sorted(rng.sample(_TAGS, rng.randint(0, 3)))
                model["refresh"] = rng.choice(["", "30s", "1m", "5m"])
                model["description"] = rng.choice(["", f"{title}: golden signals and saturation."])
            else:
                model = make_dashboard(rng, title)
        unique = title
        suffix = 2
        while unique in taken_titles:
            unique = f"{title} {suffix}"
            suffix += 1
        taken_titles.add(unique)
        model["title"] = unique
        model["uid"] = uid
        sandbox._insert_dashboard(model, folder, org)
        dashboard_folders[uid] = folder

    with_permissions: list[str] = []
    if permissions:
        for uid in folder_uids:
            if rng.random() < 0.3:
                sandbox.set_permissions("folder", uid, _acl(rng, users, teams, folder=True), org=org)
                with_permissions.append(uid)
        for uid in dashboard_folders:
            if rng.random() < 0.15:
                sandbox.set_permissions("dashboard", uid, _acl(rng, users, teams, folder=False), org=org)
                with_permissions.append(uid)

    return Population(
        org=org,
        dashboards=list(dashboard_folders),
        folders=folder_uids,
        users=users,
        teams=teams,
        dashboard_folders=dashboard_folders,
        folder_parents=folder_parents,
        with_permissions=with_permissions,
    )


# -- Arduino IoT Cloud ----------------------------------------------------------------------------

#: The id of the shared space (organization) `populate_arduino` fills besides the personal one.
ARDUINO_SHARED_SPACE = "5e7a1c2d-3b4f-4a6e-9c8d-0f1e2d3c4b5a"

_ARDUINO_THINGS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Greenhouse", [("temperature", "FLOAT"), ("humidity", "FLOAT"), ("soil_moisture", "INT"),
                    ("irrigation", "BOOL"), ("fan_speed", "INT")]),
    ("Weather Station", [("wind_speed", "FLOAT"), ("rain", "FLOAT"), ("pressure", "FLOAT"),
                         ("location", "LOCATION"), ("report", "STRING")]),
    ("Garage Door", [("door_open", "BOOL"), ("light", "BOOL"), ("status_message", "STRING")]),
    ("Beehive", [("weight", "FLOAT"), ("hive_temperature", "FLOAT"), ("battery", "INT"),
                 ("position", "LOCATION")]),
    ("Aquarium", [("water_temperature", "FLOAT"), ("ph", "FLOAT"), ("pump", "BOOL"), ("feed_log", "STRING")]),
    ("Solar Panel", [("power", "FLOAT"), ("voltage", "FLOAT"), ("charge", "INT"), ("inverter_on", "BOOL")]),
]  # fmt: skip
_ARDUINO_USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
_ARDUINO_PLACES = [
    "Greenhouse", "Weather", "Garage", "Beehive", "Aquarium", "Solar", "Home", "Lab", "Office", "Garden",
    "Workshop", "Cellar",
]  # fmt: skip
_ARDUINO_VIEWS = ["Overview", "Monitor", "Control", "Live", "History", "Alerts", "Mobile", "Status"]
# Widget type -> the property types it can show (empty: a widget that links no variable).
_ARDUINO_WIDGETS: dict[str, tuple[str, ...]] = {
    "gauge": ("FLOAT", "INT"),
    "chart": ("FLOAT", "INT"),
    "value": ("FLOAT", "INT", "STRING"),
    "switch": ("BOOL",),
    "messenger": ("STRING",),
    "map": ("LOCATION",),
    "percentage": ("INT",),
    "status": ("BOOL",),
    "slider": ("INT",),
    "sticky_note": (),
    "image": (),
}


@dataclass
class ArduinoPopulation:
    """What :func:`populate_arduino` created."""

    spaces: list[str]
    dashboards: dict[str, list[str]]
    """Space ("" for the personal one) -> dashboard ids, in creation order."""
    things: dict[str, list[str]]
    properties: dict[str, list[str]]
    users: dict[str, str]
    """Username -> user id."""
    shares: dict[str, list[str]] = field(default_factory=dict)
    """Dashboard id -> ids of the users it is shared with (only shared dashboards)."""
    links: dict[str, list[str]] = field(default_factory=dict)
    """Dashboard id -> the property ids its widgets link (only dashboards with links)."""

    def space_of(self, dashboard_id: str) -> str:
        """The space a generated dashboard is in."""
        for space, ids in self.dashboards.items():
            if dashboard_id in ids:
                return space
        raise KeyError(dashboard_id)

    @property
    def all_dashboards(self) -> list[str]:
        """Every generated dashboard id."""
        return [d for ids in self.dashboards.values() for d in ids]


def _arduino_options(rng: random.Random, kind: str, label: str) -> dict[str, Any]:
    show = rng.random() < 0.6
    if kind == "gauge":
        return {"min": 0, "max": rng.choice([50, 100, 1000]), "showThingName": show, "frameless": False}
    if kind == "chart":
        return {"showThingName": show, "type": rng.choice(["line", "spline", "bar"]),
                "timeframe": rng.choice(["1h", "1d", "7d", "15d"])}  # fmt: skip
    if kind == "switch":
        return {"showLabels": True, "showThingName": show}
    if kind == "map":
        return {"zoom": rng.randint(8, 16), "showThingName": show}
    if kind == "percentage":
        return {"showThingName": show, "iconTarget": rng.choice(["battery", "water", "humidity"])}
    if kind == "status":
        return {"showLabels": True, "onColor": "#5ECC78", "offColor": "#D1D5DB"}
    if kind == "slider":
        return {"min": 0, "max": 100, "step": rng.choice([1, 5, 10])}
    if kind == "sticky_note":
        return {"text": f"{label}: check the readings every morning", "color": rng.choice(["yellow", "blue"])}
    if kind == "image":
        return {"url": f"https://images.example.com/{label.lower().replace(' ', '-')}.jpg", "fit": "cover"}
    return {"showThingName": show}


def _arduino_widgets(
    rng: random.Random, label: str, props_by_type: dict[str, list[tuple[str, str]]]
) -> list[dict[str, Any]]:
    """Widgets on the 8-column desktop grid and the 2-column mobile one, row by row."""
    widgets: list[dict[str, Any]] = []
    x = y = row_height = mobile_y = 0
    for _ in range(rng.randint(3, 9)):
        kind = rng.choice(list(_ARDUINO_WIDGETS))
        width, height = rng.choice([(2, 2), (2, 1), (3, 2), (4, 2), (4, 3), (2, 3)])
        if x + width > 8:
            x, y, row_height = 0, y + row_height, 0
        candidates = [p for t in _ARDUINO_WIDGETS[kind] for p in props_by_type.get(t, [])]
        variables: list[str] = []
        name = kind.replace("_", " ").title()
        if candidates and rng.random() < 0.8:
            count = 2 if kind == "chart" and len(candidates) > 1 and rng.random() < 0.4 else 1
            picked = rng.sample(candidates, count)
            variables = [pid for pid, _ in picked]
            name = picked[0][1].replace("_", " ").capitalize()
        widgets.append(
            {
                "type": kind,
                "name": name,
                "options": _arduino_options(rng, kind, label),
                "x": x,
                "y": y,
                "width": width,
                "height": height,
                "x_mobile": 0,
                "y_mobile": mobile_y,
                "width_mobile": 2,
                "height_mobile": height,
                "variables": variables,
            }
        )
        x += width
        row_height = max(row_height, height)
        mobile_y += height
    return widgets


def populate_arduino(
    sandbox: ArduinoSandbox,
    *,
    dashboards: int = 40,
    spaces: tuple[str, ...] = ("", ARDUINO_SHARED_SPACE),
    seed: int = 0,
) -> ArduinoPopulation:
    """Fill an Arduino sandbox: things with properties, users, and dashboards spread over `spaces`.

    Most widgets link one or two properties of a matching type; about half the dashboards are shared.
    """
    rng = random.Random(seed)
    users = {name: sandbox.add_user(name) for name in _ARDUINO_USERS}
    population = ArduinoPopulation(
        spaces=list(spaces),
        dashboards={s: [] for s in spaces},
        things={s: [] for s in spaces},
        properties={s: [] for s in spaces},
        users=users,
    )
    props_by_type: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for space in spaces:
        if space:
            sandbox.add_organization(space)
        by_type: dict[str, list[tuple[str, str]]] = {}
        for thing_name, props in rng.sample(_ARDUINO_THINGS, 4):
            thing = sandbox.add_thing(thing_name, org=space)
            population.things[space].append(thing)
            for prop_name, prop_type in props:
                pid = sandbox.add_property(thing, prop_name, type=prop_type)
                population.properties[space].append(pid)
                by_type.setdefault(prop_type, []).append((pid, prop_name))
        props_by_type[space] = by_type

    names: dict[str, set[str]] = {s: set() for s in spaces}
    for n in range(dashboards):
        space = spaces[n % len(spaces)]
        base = f"{rng.choice(_ARDUINO_PLACES)} {rng.choice(_ARDUINO_VIEWS)}"
        name, suffix = base, 2
        while name in names[space]:
            name, suffix = f"{base} {suffix}", suffix + 1
        names[space].add(name)
        widgets = _arduino_widgets(rng, base, props_by_type[space])
        shared = rng.sample(sorted(users.values()), rng.randint(1, 3)) if rng.random() < 0.5 else []
        dashboard_id = sandbox.add_dashboard(name, widgets, org=space, shares=shared)
        population.dashboards[space].append(dashboard_id)
        if shared:
            population.shares[dashboard_id] = shared
        linked = [pid for w in widgets for pid in w["variables"]]
        if linked:
            population.links[dashboard_id] = linked
    return population
