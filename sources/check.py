"""`dashvault check` for a source: reach it with its credentials and say what is there."""

from __future__ import annotations

from sources.arduino.client import ArduinoClient
from sources.config import ArduinoSourceConfig, GrafanaSourceConfig
from sources.grafana.client import GrafanaClient


def check_source(source: GrafanaSourceConfig | ArduinoSourceConfig) -> str:
    """Reach a source with its credentials; a one-line description of what was found."""
    if isinstance(source, ArduinoSourceConfig):
        return _check_arduino(source)
    client = GrafanaClient(source)
    try:
        version = client.health().get("version", "?")
        api = client.resolve_api()
        counts = []
        for org in client.org_ids():
            dashboards = sum(len(page) for page in client.search_pages(org, "dash-db"))
            folders = sum(len(page) for page in client.search_pages(org, "dash-folder"))
            counts.append(f"org {org}: {dashboards} dashboards, {folders} folders")
            counts.extend(_grafana_access(client, org))
        return f"Grafana {version}, api {api}; " + "; ".join(counts)
    finally:
        client.close()


# The RBAC actions each job needs (pkg/api/api.go, pkg/api/folder.go route registrations). The org
# Admin role holds all of them; Viewer and Editor hold none of the permissions ones by default.
BACKUP_ACTIONS = (
    "dashboards:read",
    "folders:read",
    "dashboards.permissions:read",
    "folders.permissions:read",
    "library.panels:read",
)
RESTORE_ACTIONS = (
    "dashboards:create",
    "dashboards:write",
    "folders:create",
    "folders:write",
    "dashboards.permissions:write",
    "folders.permissions:write",
    "library.panels:create",
    "library.panels:write",
    "dashboards.public:write",
    "org.users:read",
    "teams:read",
    "serviceaccounts:read",
)


def _grafana_access(client: GrafanaClient, org: int) -> list[str]:
    """What the credentials lack for backup and for restore, from Grafana's own account of them."""
    held = client.user_permissions(org)
    if held is None:
        return []  # a Grafana without the endpoint: nothing to say
    out = []
    for job, needed in (("backup", BACKUP_ACTIONS), ("restore", RESTORE_ACTIONS)):
        missing = [a for a in needed if not held.get(a)]
        # Held through some objects' permissions only, not on every object ("...:*").
        partial = [a for a in needed if held.get(a) and not any(s.endswith("*") for s in held[a])]
        if missing:
            out.append(f"org {org}: {job} lacks {', '.join(missing)}")
        if partial:
            out.append(f"org {org}: {job} holds {', '.join(partial)} only where an object grants it")
    if not out:
        out.append(f"org {org}: the credentials may back up and restore everything")
    return out


def _check_arduino(source: ArduinoSourceConfig) -> str:
    client = ArduinoClient(source)
    try:
        dashboards = client.list_dashboards()
        space = f"organization {source.organization}" if source.organization else "personal space"
        shared = sum(1 for d in dashboards if d.shared_with)
        return f"Arduino IoT Cloud, {space}: {len(dashboards)} dashboards ({shared} shared)"
    finally:
        client.close()
