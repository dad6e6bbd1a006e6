"""How an Arduino dashboard becomes items: exactly what the request models accept, in layout order.

A dashboard's content is what a create body (``dashboardv3``) can give back: ``name``, ``cover_image``
(when set), ``pages`` (when the dashboard has any) and ``widgets``. A widget is what ``widgetv3`` accepts
except its id: type, name, options, the desktop and mobile layout, ``page_id`` (off the main page only)
and its linked variables reduced to stable references (property and thing ids and names). Left out:
widget ids (a restore writes fresh ones), the cloud-computed flags (``has_unlinked_variable`` ...:
they flip when a property changes, not the dashboard), live readings and anything a response adds.
So a dashboard read through v2 or v3 hashes the same while it has no pages, and a restored one hashes
the same as its snapshot.
"""

from collections.abc import Iterable
from typing import Any

from sources.arduino.models import (
    CLOUD_FLAGS,
    LAYOUT_FIELDS,
    MAIN_PAGE,
    Dashboard,
    LinkedVariable,
    UserRef,
    Widget,
)
from storage.hashing import canonical
from storage.model import Item


def variable_ref(variable: LinkedVariable) -> dict[str, Any]:
    """The stable part of a linked variable: property and thing ids, names for readers."""
    return {
        "id": variable.id,
        "name": variable.name,
        "thing_id": variable.thing_id,
        "thing_name": variable.thing_name,
    }


def widget_content(widget: Widget) -> dict[str, Any]:
    """A widget as `widgetv3` accepts it, without its id; its links reduced to `variable_ref`s."""
    out: dict[str, Any] = {"type": widget.type}
    if widget.name is not None:
        out["name"] = widget.name
    out["options"] = widget.options
    for key in LAYOUT_FIELDS:
        value = getattr(widget, key)
        if value is not None:
            out[key] = value
    if widget.page_id not in (None, MAIN_PAGE):
        out["page_id"] = widget.page_id
    refs = [variable_ref(v) for v in widget.variables]
    out["variables"] = sorted(refs, key=lambda r: (str(r["thing_id"]), r["id"]))
    return out


def widget_order(content: dict[str, Any]) -> tuple[str, float, float, str, str, bytes]:
    """Page, then layout order (top to bottom, left to right), then anything that tells widgets apart."""

    def num(key: str) -> float:
        value = content.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else -1

    page = str(content.get("page_id") or "")
    return (page, num("y"), num("x"), str(content.get("type")), str(content.get("name")), canonical(content))


def dashboard_content(dashboard: Dashboard) -> dict[str, Any]:
    """What a dashboard is, independent of when it was saved, of the ids of its widgets and of the API
    version it was read through."""
    out: dict[str, Any] = {"name": dashboard.name}
    if dashboard.cover_image:
        out["cover_image"] = dashboard.cover_image
    if dashboard.pages:
        pages = sorted(dashboard.pages, key=lambda p: (p.position, p.id))
        out["pages"] = [
            p.model_dump(mode="json", include={"id", "name", "position", "icon"}, exclude_none=True)
            for p in pages
        ]
    out["widgets"] = sorted((widget_content(w) for w in dashboard.widgets), key=widget_order)
    return out


def cloud_flags(dashboard: Dashboard) -> list[dict[str, Any]]:
    """The widgets the cloud flags (incompatible or unlinked variables), for the audit meta."""
    out = []
    for w in dashboard.widgets:
        raised = [f for f in CLOUD_FLAGS if getattr(w, f)]
        if raised:
            out.append({"widget": w.name or w.type, "id": w.id, "flags": raised})
    return out


def shares_content(dashboard_id: str, shares: Iterable[UserRef]) -> dict[str, Any]:
    """The users a dashboard is shared with, sorted by user id."""
    users = {s.user_id: {"user_id": s.user_id, "username": s.username} for s in shares}
    return {"dashboard": dashboard_id, "users": [users[k] for k in sorted(users)]}


def dashboard_item(source: str, dashboard: Dashboard, *, key: str | None = None, api: str = "v2") -> Item:
    """The `dashboard` item of one dashboard; `key` is its snapshot key when a restore gave it a new id."""
    extra = dashboard.model_extra or {}
    creator = dashboard.created_by.username if dashboard.created_by else None
    meta: dict[str, Any] = {
        "id": dashboard.id,
        "updated_at": dashboard.updated_at,
        "updated_by": extra.get("updated_by") or creator,
        "widgets": len(dashboard.widgets),
        "api": api,
    }
    if dashboard.pages:
        meta["pages"] = len(dashboard.pages)
    if flags := cloud_flags(dashboard):
        meta["cloud_flags"] = flags
    return Item(
        source=source,
        kind="dashboard",
        key=key or dashboard.id,
        title=dashboard.name,
        content=dashboard_content(dashboard),
        meta=meta,
    )


def shares_item(
    source: str, dashboard: Dashboard, shares: Iterable[UserRef], *, key: str | None = None
) -> Item:
    """The `shares` item of one dashboard."""
    return Item(
        source=source,
        kind="shares",
        key=key or dashboard.id,
        title=dashboard.name,
        content=shares_content(key or dashboard.id, shares),
    )
