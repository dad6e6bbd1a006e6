"""How the legacy ``/api`` renders the model: folder JSON, dashboard meta, and search hits.

A mixin of its own because the Python API's ``add_folder`` returns the folder JSON too.
"""

from __future__ import annotations

from typing import Any

from sandbox.grafana.core import GrafanaCore
from sandbox.grafana.state import _Dashboard, _display, _Folder, _Org, slugify

ROOT_FOLDER_TITLE = "Dashboards"
ZERO_TIME = "0001-01-01T00:00:00Z"


class LegacyViews(GrafanaCore):
    """JSON views of folders and dashboards in the legacy ``/api`` shapes."""

    # -- JSON views --------------------------------------------------------------------------------

    def _folder_json(self, org: _Org, f: _Folder, *, with_parents: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f.id,
            "uid": f.uid,
            "orgId": org.id,
            "title": f.title,
            "url": self._folder_url(f),
            "hasAcl": bool(f.acl),
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "canDelete": True,
            "createdBy": _display(f.created_by),
            "created": f.created,
            "updatedBy": _display(f.updated_by),
            "updated": f.updated,
            "version": f.version,
        }
        if f.description:
            out["description"] = f.description
        if f.parent_uid:
            out["parentUid"] = f.parent_uid
        if with_parents:
            parents = list(reversed(self._ancestors(org, f.parent_uid)))
            if parents:
                out["parents"] = [self._folder_json(org, p, with_parents=False) for p in parents]
        return out

    def _dash_meta(self, org: _Org, d: _Dashboard) -> dict[str, Any]:
        folder = org.folders.get(d.folder_uid) if d.folder_uid else None
        return {
            "type": "db",
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "canStar": True,
            "canDelete": True,
            "slug": slugify(d.title),
            "url": self._dash_url(d),
            "expires": ZERO_TIME,
            "created": d.created,
            "updated": d.updated,
            "updatedBy": _display(d.updated_by),
            "createdBy": _display(d.created_by),
            "version": d.version,
            "hasAcl": bool(d.acl),
            "isFolder": False,
            "folderId": folder.id if folder else 0,
            "folderUid": folder.uid if folder else "",
            "folderTitle": folder.title if folder else ROOT_FOLDER_TITLE,
            "folderUrl": self._folder_url(folder) if folder else "",
            # pkg/api/dashboard.go ``GetDashboard``: provisioned only when the UI may not save it.
            "provisioned": d.provisioned is not None and not d.provisioned[1],
            "provisionedExternalId": d.provisioned[0] if d.provisioned else "",
        }

    def _dash_hit(self, org: _Org, d: _Dashboard) -> dict[str, Any]:
        slug = slugify(d.title)
        tags = d.model.get("tags")
        hit: dict[str, Any] = {
            "id": d.id,
            "uid": d.uid,
            "orgId": org.id,
            "title": d.title,
            "uri": f"db/{slug}",
            "url": self._dash_url(d),
            "slug": slug,
            "type": "dash-db",
            "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
            "isStarred": False,
            "sortMeta": 0,
        }
        folder = org.folders.get(d.folder_uid) if d.folder_uid else None
        if folder is not None:
            hit.update(
                folderId=folder.id,
                folderUid=folder.uid,
                folderTitle=folder.title,
                folderUrl=self._folder_url(folder),
            )
        return hit

    def _folder_hit(self, org: _Org, f: _Folder) -> dict[str, Any]:
        slug = slugify(f.title)
        hit: dict[str, Any] = {
            "id": f.id,
            "uid": f.uid,
            "orgId": org.id,
            "title": f.title,
            "uri": f"db/{slug}",
            "url": self._folder_url(f),
            "slug": slug,
            "type": "dash-folder",
            "tags": [],
            "isStarred": False,
            "sortMeta": 0,
        }
        parent = org.folders.get(f.parent_uid) if f.parent_uid else None
        if parent is not None:
            hit.update(
                folderId=parent.id,
                folderUid=parent.uid,
                folderTitle=parent.title,
                folderUrl=self._folder_url(parent),
            )
        return hit
