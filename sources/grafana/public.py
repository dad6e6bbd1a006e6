"""Public dashboards of one Grafana org: listed, read per dashboard, and written back.

pkg/services/publicdashboards (``api.go``, ``service.go``): the list names each public dashboard's
dashboard; a dashboard's own settings come from ``/api/dashboards/uid/:uid/public-dashboards``. A
create may set ``uid`` and ``accessToken``, so a restore brings the same public URL back; a patch
changes only the switches. "Not found" is Grafana's own only with its ``messageId``: a plain 404
is a server without public dashboards (``[public_dashboards] enabled = false``) or not Grafana.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sources.errors import ResponseError
from sources.grafana.client import GrafanaClient, json_object, seg

LIST = "/api/dashboards/public-dashboards"
NOT_FOUND = "publicdashboards.notFound"
# What a restore sets (``PublicDashboardDTO``), the rest is Grafana's bookkeeping.
SETTINGS = ("uid", "accessToken", "isEnabled", "annotationsEnabled", "timeSelectionEnabled", "share")
MAX_PAGES = 10_000


class PublicDashboardsOff(ResponseError):
    """The server answers a plain 404 for the public dashboard routes: they are switched off."""


def _path(dashboard_uid: str) -> str:
    return f"/api/dashboards/uid/{seg(dashboard_uid)}/public-dashboards"


def public_dashboards(client: GrafanaClient, org: int) -> Iterator[dict[str, Any]]:
    """Every public dashboard of the org the caller may see (list items: uid, dashboardUid, title ...)."""
    per_page = 1000
    page, pages = 1, 1
    while page <= pages:
        status, data = client.call(
            "GET",
            LIST,
            params={"perpage": per_page, "page": page},
            headers={"X-Grafana-Org-Id": str(org)},
            ok=(200, 404),
        )
        if status == 404:
            raise PublicDashboardsOff(f"{client.name}: {LIST} answered 404: public dashboards are off", 404)
        body = json_object(data, LIST)
        items, total = body.get("publicDashboards"), body.get("totalCount")
        if not isinstance(items, list) or not isinstance(total, int) or isinstance(total, bool):
            raise ResponseError(f"{LIST} did not return publicDashboards and a totalCount")
        pages = -(-total // per_page)
        if pages > MAX_PAGES:
            raise ResponseError(f"{LIST} claims {total} public dashboards")
        yield from (i for i in items if isinstance(i, dict) and isinstance(i.get("dashboardUid"), str))
        page += 1


def public_dashboard(client: GrafanaClient, org: int, dashboard_uid: str) -> dict[str, Any] | None:
    """A dashboard's public dashboard; None only on Grafana's own ``publicdashboards.notFound``."""
    status, data = client.call(
        "GET", _path(dashboard_uid), headers={"X-Grafana-Org-Id": str(org)}, ok=(200, 404)
    )
    if status == 404:
        if isinstance(data, dict) and data.get("messageId") == NOT_FOUND:
            return None
        raise PublicDashboardsOff(
            f"{client.name}: public dashboard of {dashboard_uid} answered a plain 404", 404
        )
    body = json_object(data, "public dashboard")
    if body.get("dashboardUid") != dashboard_uid:
        raise ResponseError(
            f"public dashboard of {dashboard_uid} answered for dashboard {body.get('dashboardUid')!r}"
        )
    return body


def create_public_dashboard(
    client: GrafanaClient, org: int, dashboard_uid: str, settings: dict[str, Any]
) -> tuple[int, Any]:
    """POST the settings, ``uid`` and ``accessToken`` included; a 400 comes back to the caller."""
    body = {k: settings[k] for k in SETTINGS if settings.get(k) not in (None, "")}
    return client.call(
        "POST", _path(dashboard_uid), json=body, headers={"X-Grafana-Org-Id": str(org)}, ok=(200, 400)
    )


def update_public_dashboard(
    client: GrafanaClient, org: int, dashboard_uid: str, uid: str, settings: dict[str, Any]
) -> None:
    """PATCH the switches and the share of the public dashboard ``uid``."""
    body = {k: settings[k] for k in SETTINGS[2:] if k in settings}
    client.call(
        "PATCH", f"{_path(dashboard_uid)}/{seg(uid)}", json=body, headers={"X-Grafana-Org-Id": str(org)}
    )


def delete_public_dashboard(client: GrafanaClient, org: int, dashboard_uid: str, uid: str) -> None:
    client.call("DELETE", f"{_path(dashboard_uid)}/{seg(uid)}", headers={"X-Grafana-Org-Id": str(org)})
