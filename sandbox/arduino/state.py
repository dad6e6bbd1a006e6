"""The Arduino sandbox's in-memory model: properties, things, widgets, dashboards, and their spaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# -- state --------------------------------------------------------------------------------------


@dataclass
class _Property:
    id: str
    thing_id: str
    name: str
    type: str
    permission: str
    variable_name: str


@dataclass
class _Thing:
    id: str
    name: str
    properties: dict[str, _Property] = field(default_factory=dict)


@dataclass
class _Widget:
    id: str
    type: str
    name: str | None
    # options, layout and whatever else the client sent: never mutated in place.
    fields: dict[str, Any]
    variables: list[str]


@dataclass
class _Dashboard:
    id: str
    name: str
    widgets: list[_Widget]
    created_by: str
    created_at: str
    updated_at: str
    shares: dict[str, None] = field(default_factory=dict)


@dataclass
class _Space:
    org: str
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    things: dict[str, _Thing] = field(default_factory=dict)
    properties: dict[str, _Property] = field(default_factory=dict)
    share_requests: list[tuple[str, str]] = field(default_factory=list)
