"""Populating an Arduino sandbox: things with properties, users, and shared dashboards in several spaces."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox.arduino import ArduinoSandbox

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
        pages: list[dict[str, object]] = []
        if n % 5 == 4 and len(widgets) >= 2:
            # Every fifth dashboard has a second page (v3, 2026) holding its last widgets.
            page = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "name": "Details",
                "position": 1,
            }
            pages.append(page)
            for w in widgets[len(widgets) // 2 :]:
                w["page_id"] = page["id"]
        dashboard_id = sandbox.add_dashboard(name, widgets, org=space, shares=shared, pages=pages)
        population.dashboards[space].append(dashboard_id)
        if shared:
            population.shares[dashboard_id] = shared
        linked = [pid for w in widgets for pid in w["variables"]]
        if linked:
            population.links[dashboard_id] = linked
    return population
