"""The Arduino sandbox's in-memory model: properties, things, widgets, pages, dashboards, their spaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The page id of a dashboard's main page (`widgetv3.page_id`: "0" if it's in the main page).
MAIN_PAGE = "0"


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
    # options and layout as the client sent them (only the fields `widget` models): never mutated in place.
    fields: dict[str, Any]
    variables: list[str]
    page_id: str = MAIN_PAGE


@dataclass
class _Page:
    id: str
    name: str
    position: int
    icon: str | None = None


@dataclass
class _Dashboard:
    id: str
    name: str
    widgets: list[_Widget]
    created_by: str
    updated_at: str
    cover_image: str | None = None
    pages: list[_Page] = field(default_factory=list)
    shares: dict[str, None] = field(default_factory=dict)


@dataclass
class _Space:
    org: str
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    things: dict[str, _Thing] = field(default_factory=dict)
    properties: dict[str, _Property] = field(default_factory=dict)
    share_requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(dashboard id, requesting user id, message) of every `share_request`."""
