"""How Grafana payloads become items; both APIs give the same items with the same content hashes.

A dashboard's content is ``{"dashboard": <model>, "folderUid": <uid or "">}`` whichever API it was
read from.
"""

from __future__ import annotations

from typing import Any

from storage.model import Item


def folder_item(source: str, org: int, data: dict[str, Any]) -> Item:
    uid = str(data["uid"])
    parent = data.get("parentUid") or ""
    return Item(
        source=source,
        kind="folder",
        key=f"{org}/{uid}",
        title=str(data.get("title") or uid),
        folder=parent or None,
        content={"uid": uid, "title": data.get("title"), "parentUid": parent},
        meta={k: data[k] for k in ("version", "updated", "updatedBy", "id") if k in data},
    )


def library_panel_uids(model: dict[str, Any]) -> list[str]:
    """The library panels a dashboard model uses: ``libraryPanel.uid`` of its panels, rows' too.

    pkg/services/librarypanels/librarypanels.go ``connectLibraryPanelsRecursively`` walks the same.
    """
    found: dict[str, None] = {}

    def walk(panels: Any) -> None:
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict):
                continue
            ref = panel.get("libraryPanel")
            if isinstance(ref, dict) and isinstance(ref.get("uid"), str) and ref["uid"]:
                found[ref["uid"]] = None
            if panel.get("type") == "row":
                walk(panel.get("panels"))

    walk(model.get("panels"))
    return list(found)


def library_panel_item(source: str, org: int, data: dict[str, Any]) -> Item:
    """A library element (pkg/services/libraryelements/model ``LibraryElementDTO``) as an item."""
    uid = str(data["uid"])
    # Lists say "" for the General folder, a GET says "general" (12.x ``getLibraryElements``).
    folder = data.get("folderUid") or ""
    folder = "" if folder == "general" else str(folder)
    meta = data.get("meta") or {}
    return Item(
        source=source,
        kind="library-panel",
        key=f"{org}/{uid}",
        title=str(data.get("name") or uid),
        folder=folder or None,
        content={
            "uid": uid,
            "name": data.get("name"),
            "kind": data.get("kind"),
            "folderUid": folder,
            "model": data.get("model"),
        },
        meta={
            "version": data.get("version"),
            "id": data.get("id"),
            "connections": meta.get("connectedDashboards"),
            "updated": meta.get("updated"),
            "updatedBy": (meta.get("updatedBy") or {}).get("name"),
        },
    )


def dashboard_item_legacy(source: str, org: int, data: dict[str, Any], digest: str = "") -> Item:
    model = dict(data.get("dashboard") or {})
    meta = data.get("meta") or {}
    uid = str(model.get("uid"))
    folder = meta.get("folderUid") or ""
    return Item(
        source=source,
        kind="dashboard",
        key=f"{org}/{uid}",
        title=str(model.get("title") or uid),
        folder=folder or None,
        content={"dashboard": model, "folderUid": folder},
        meta={
            "version": model.get("version", meta.get("version")),
            "id": model.get("id"),
            "updated": meta.get("updated"),
            "updatedBy": meta.get("updatedBy"),
            "api": "legacy",
            # pkg/api/dashboard.go ``GetDashboard``: set when a provisioning file owns it and the UI
            # may not save it; a restore cannot write over it (400 "Cannot save provisioned dashboard").
            **(
                {"provisioned": str(meta.get("provisionedExternalId") or "")}
                if meta.get("provisioned")
                else {}
            ),
            **({"digest": digest} if digest else {}),
        },
    )


def dashboard_item_apis(source: str, org: int, res: dict[str, Any]) -> Item:
    md = res.get("metadata") or {}
    uid = str(md["name"])
    model = dict(res.get("spec") or {})
    # The legacy model always carries its uid; a resource's spec may leave it to metadata.name.
    model.setdefault("uid", uid)
    annotations = md.get("annotations") or {}
    folder = annotations.get("grafana.app/folder") or ""
    return Item(
        source=source,
        kind="dashboard",
        key=f"{org}/{uid}",
        title=str(model.get("title") or uid),
        folder=folder or None,
        content={"dashboard": model, "folderUid": folder},
        meta={
            "version": model.get("version"),
            "resourceVersion": md.get("resourceVersion"),
            "generation": md.get("generation"),
            "uid": md.get("uid"),
            "created": md.get("creationTimestamp"),
            "internalId": (md.get("labels") or {}).get("grafana.app/deprecatedInternalID"),
            "updated": annotations.get("grafana.app/updatedTimestamp"),
            "updatedBy": annotations.get("grafana.app/updatedBy"),
            "api": "apis",
            **_provisioned(annotations),
        },
    )


def _provisioned(annotations: dict[str, Any]) -> dict[str, str]:
    """{"provisioned": source path} when a manager owns the resource and does not allow edits.

    pkg/apimachinery/utils/meta.go: ``grafana.app/managedBy``, ``grafana.app/managerAllowsEdits``,
    ``grafana.app/sourcePath``.
    """
    if (
        not annotations.get("grafana.app/managedBy")
        or annotations.get("grafana.app/managerAllowsEdits") == "true"
    ):
        return {}
    return {
        "provisioned": str(annotations.get("grafana.app/sourcePath") or annotations["grafana.app/managedBy"])
    }


def acl_items(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The restorable part of an ACL: own (not inherited) entries by role, team or user login."""
    items = []
    for p in raw:
        if p.get("inherited"):
            continue
        entry: dict[str, Any] = {"permission": p.get("permission")}
        if p.get("role"):
            entry["role"] = p["role"]
        elif p.get("teamUid") or p.get("team"):
            entry["team"] = p.get("team")
            entry["teamUid"] = p.get("teamUid")
        elif p.get("userLogin"):
            entry["userLogin"] = p["userLogin"]
        else:
            continue
        items.append(entry)
    return sorted(items, key=lambda e: sorted((k, str(v)) for k, v in e.items()))


def permissions_item(
    source: str, org: int, kind: str, uid: str, *, title: str, raw: list[dict[str, Any]]
) -> Item:
    return Item(
        source=source,
        kind="permissions",
        key=f"{org}/{uid}",
        title=title,
        content={"object": kind, "uid": uid, "items": acl_items(raw)},
        meta={"object": kind},
    )
