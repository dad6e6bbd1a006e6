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
    # A v2 spec: ``elements`` of kind LibraryPanel (v2beta1 ``LibraryPanelKind``).
    elements = model.get("elements")
    for element in elements.values() if isinstance(elements, dict) else []:
        spec = element.get("spec") if isinstance(element, dict) else None
        ref = spec.get("libraryPanel") if isinstance(spec, dict) else None
        if isinstance(ref, dict) and isinstance(ref.get("uid"), str) and ref["uid"]:
            found[ref["uid"]] = None
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


def public_dashboard_item(source: str, org: int, data: dict[str, Any], *, title: str) -> Item:
    """A dashboard's public dashboard (pkg/services/publicdashboards/models ``PublicDashboard``).

    Its uid and access token are content: the access token is the public URL
    (``/public-dashboards/<accessToken>``), which a restore must bring back as it was.
    """
    dashboard_uid = str(data["dashboardUid"])
    return Item(
        source=source,
        kind="public-dashboard",
        key=f"{org}/{dashboard_uid}",
        title=title or dashboard_uid,
        folder=None,
        content={
            "dashboardUid": dashboard_uid,
            "uid": data.get("uid"),
            "accessToken": data.get("accessToken"),
            "isEnabled": data.get("isEnabled"),
            "annotationsEnabled": data.get("annotationsEnabled"),
            "timeSelectionEnabled": data.get("timeSelectionEnabled"),
            "share": data.get("share"),
        },
        meta={k: data[k] for k in ("createdAt", "updatedAt", "createdBy", "updatedBy") if k in data},
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


def api_version(res: dict[str, Any]) -> str:
    """The version a resource was served in (``dashboard.grafana.app/v0alpha1`` → ``v0alpha1``)."""
    return str(res.get("apiVersion") or "").rpartition("/")[2]


def conversion(res: dict[str, Any]) -> dict[str, Any]:
    """``status.conversion`` (apps/dashboard/pkg/apis/dashboard/*/ ``DashboardConversionStatus``)."""
    status = res.get("status")
    found = status.get("conversion") if isinstance(status, dict) else None
    return found if isinstance(found, dict) else {}


def stored_version(res: dict[str, Any]) -> str:
    """The version the dashboard is stored in: the conversion's ``storedVersion``, else the one served."""
    stored = conversion(res).get("storedVersion")
    return stored if isinstance(stored, str) and stored else api_version(res)


def is_v2(version: str) -> bool:
    return version.startswith("v2")


def reduced(res: dict[str, Any]) -> bool:
    """Whether a large dashboard came with its spec reduced to a few keys and its body in a blob
    (pkg/registry/apis/dashboard/large.go ``ReduceSpec``; the ``grafana.app/blob`` annotation)."""
    annotations = (res.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get("grafana.app/blob"))


def dashboard_item_apis(source: str, org: int, res: dict[str, Any]) -> Item:
    """A dashboard read through /apis. One read as saved (v0alpha1) has the legacy read's content;
    one read through another version says which in ``content.apiVersion``: a v2-schema dashboard,
    or a v1beta1 read, whose spec Grafana has migrated to the newest schemaVersion."""
    md = res.get("metadata") or {}
    uid = str(md["name"])
    version = api_version(res)
    model = dict(res.get("spec") or {})
    if not is_v2(version):
        # The legacy model always carries its uid; a resource's spec may leave it to metadata.name.
        model.setdefault("uid", uid)
    annotations = md.get("annotations") or {}
    folder = annotations.get("grafana.app/folder") or ""
    content: dict[str, Any] = {"dashboard": model, "folderUid": folder}
    if version != "v0alpha1":
        content["apiVersion"] = version
    return Item(
        source=source,
        kind="dashboard",
        key=f"{org}/{uid}",
        title=str(model.get("title") or uid),
        folder=folder or None,
        content=content,
        meta={
            "apiVersion": version,
            "version": model.get("version", md.get("generation")),
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
