"""How an Arduino dashboard becomes items: content without server-assigned ids, in layout order.

A dashboard's content is ``{"name", "widgets"}``: widgets without their server-assigned ids, in layout
order, each with its linked variables reduced to stable references (property and thing ids and names).
Restored dashboards get new widget ids from the cloud, so they hash the same as the snapshot they came from.
"""

from collections.abc import Iterable
from typing import Any

from sources.arduino.models import Dashboard, LinkedVariable, UserRef, Widget
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
    """A widget without its server-assigned id, its links reduced to `variable_ref`s."""
    data = widget.model_dump(mode="json", exclude={"id", "variables"})
    out = {k: v for k, v in data.items() if v is not None}
    refs = [variable_ref(v) for v in widget.variables]
    out["variables"] = sorted(refs, key=lambda r: (str(r["thing_id"]), r["id"]))
    return out


def widget_order(content: dict[str, Any]) -> tuple[float, float, str, str, bytes]:
    """Layout order (top to bottom, left to right), then anything that tells widgets apart."""

    def num(key: str) -> float:
        value = content.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else -1

    return (num("y"), num("x"), str(content.get("type")), str(content.get("name")), canonical(content))


def dashboard_content(dashboard: Dashboard) -> dict[str, Any]:
    """What a dashboard is, independent of when it was saved and of the ids the cloud gave it."""
    widgets = sorted((widget_content(w) for w in dashboard.widgets), key=widget_order)
    return {"name": dashboard.name, "widgets": widgets}


def shares_content(dashboard_id: str, shares: Iterable[UserRef]) -> dict[str, Any]:
    """The users a dashboard is shared with, sorted by user id."""
    users = {s.user_id: {"user_id": s.user_id, "username": s.username} for s in shares}
    return {"dashboard": dashboard_id, "users": [users[k] for k in sorted(users)]}


def dashboard_item(source: str, dashboard: Dashboard) -> Item:
    """The `dashboard` item of one dashboard."""
    extra = dashboard.model_extra or {}
    creator = dashboard.created_by.username if dashboard.created_by else None
    return Item(
        source=source,
        kind="dashboard",
        key=dashboard.id,
        title=dashboard.name,
        content=dashboard_content(dashboard),
        meta={
            "id": dashboard.id,
            "created_at": dashboard.created_at,
            "updated_at": dashboard.updated_at,
            "updated_by": extra.get("updated_by") or creator,
            "widgets": len(dashboard.widgets),
        },
    )


def shares_item(source: str, dashboard: Dashboard, shares: Iterable[UserRef]) -> Item:
    """The `shares` item of one dashboard."""
    return Item(
        source=source,
        kind="shares",
        key=dashboard.id,
        title=dashboard.name,
        content=shares_content(dashboard.id, shares),
    )
