"""Whole Grafana dashboard models: annotations, links, templating variables, panels (``make_dashboard``)."""

from __future__ import annotations

import random
from typing import Any

from sandbox.generate.grafana_panels import DATASOURCE, _panels

_TAGS = [
    "prometheus", "kubernetes", "slo", "production", "staging", "team-sre", "team-data", "infra",
    "app", "database", "network", "golden-signals", "cost", "security", "latency",
]  # fmt: skip


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
