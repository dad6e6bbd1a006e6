"""How the sandbox Grafana serves a dashboard in an API version other than the one it is stored in.

Followed from Grafana's source (grafana/grafana, 12.x):

- pkg/registry/apis/dashboard/register.go ``GetGroupVersions``: ``dashboard.grafana.app`` serves
  v1beta1 (preferred), v0alpha1, v2beta1 and v2alpha1. A dashboard keeps the version it was last
  written through (the legacy ``api_version`` column); legacy ``/api`` saves are v0alpha1.
- apps/dashboard/pkg/migration/conversion: a read through another version converts and says so in
  ``status.conversion`` (``DashboardConversionStatus``: ``failed``, ``storedVersion``, ``error``).
  v0alpha1 → v1beta1 runs the schema migration to ``LATEST_VERSION`` (``Convert_V0_to_V1``; below
  ``MIN_VERSION`` it fails with ``NewMinimumVersionError``'s text); v1beta1 → v0alpha1 copies.
  v2 → v0/v1 was not implemented at first (``Convert_V2alpha1_to_V1``: empty spec, failed "backend
  conversion not yet implemented"), later converts with loss (layout and element kinds that v1
  cannot hold are dropped); v0/v1 → v2 the same way round. A failed conversion is still a 200.
- apps/dashboard/pkg/migration/schemaversion/migrations.go: MIN_VERSION 21 / LATEST_VERSION 41
  (12.0), 13 / 42 (12.1 on). The sandbox applies only the version bump of a migration, not each
  step's rewrite of panels and targets: enough to change what a v1beta1 read returns.
- apps/dashboard/pkg/apis/dashboard/v2beta1 ``ValidateDashboardSpec`` (422 ``Invalid``) and
  pkg/registry/apis/dashboard/mutate.go (v1beta1 writes are migrated; v0alpha1 writes are not).
"""

from __future__ import annotations

from typing import Any

V0, V1, V2A, V2B = "v0alpha1", "v1beta1", "v2alpha1", "v2beta1"
# pkg/registry/apis/dashboard/register.go ``GetGroupVersions`` without dashboardNewLayouts.
SERVED = (V1, V0, V2B, V2A)
NOT_IMPLEMENTED = "backend conversion not yet implemented"
CURSOR_SYNC = ("Crosshair", "Tooltip", "Off")
LAYOUTS = ("GridLayout", "RowsLayout", "AutoGridLayout", "TabsLayout")


def is_v2(version: str) -> bool:
    return version.startswith("v2")


def schema_limits(grafana: tuple[int, int]) -> tuple[int, int]:
    """(MIN_VERSION, LATEST_VERSION) of the schema migration of a Grafana release."""
    return (21, 41) if grafana < (12, 1) else (13, 42)


def migrate(spec: dict[str, Any], grafana: tuple[int, int]) -> tuple[dict[str, Any], str | None]:
    """``migration.Migrate`` to the latest schemaVersion: (the spec, the error if it cannot)."""
    low, latest = schema_limits(grafana)
    version = spec.get("schemaVersion")
    version = version if isinstance(version, int) and not isinstance(version, bool) else 0
    if version < low:
        return dict(spec), (
            f"dashboard schema version {version} cannot be migrated to latest version {latest} - "
            f"migration path only exists for versions greater than {low}"
        )
    return {**spec, "schemaVersion": max(version, latest)}, None


def v2_errors(spec: dict[str, Any]) -> list[str]:
    """What ``ValidateDashboardSpec`` refuses in a v2 spec (the checks a restore can trip on)."""
    errors = []
    title = spec.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append("spec.title: Required value")
    if spec.get("cursorSync", "Off") not in CURSOR_SYNC:
        errors.append(f"spec.cursorSync: Invalid value: {spec.get('cursorSync')!r}")
    layout = spec.get("layout")
    if not isinstance(layout, dict) or layout.get("kind") not in LAYOUTS:
        errors.append("spec.layout.kind: Required value")
    if not isinstance(spec.get("elements", {}), dict):
        errors.append("spec.elements: Invalid value: must be an object")
    return errors


def _v2_to_v1(spec: dict[str, Any]) -> dict[str, Any]:
    """A lossy v1 view of a v2 spec: its panels, titles and tags; layouts beyond a grid are lost."""
    panels = []
    for n, (name, element) in enumerate(sorted((spec.get("elements") or {}).items()), start=1):
        inner = element.get("spec") or {} if isinstance(element, dict) else {}
        panel: dict[str, Any] = {"id": inner.get("id", n), "title": inner.get("title", name)}
        viz = inner.get("vizConfig")
        if isinstance(viz, dict):
            panel["type"] = viz.get("group") or viz.get("kind")
        if isinstance(inner.get("libraryPanel"), dict):
            panel["libraryPanel"] = inner["libraryPanel"]
        panels.append(panel)
    out: dict[str, Any] = {"title": spec.get("title", ""), "tags": spec.get("tags") or [], "panels": panels}
    if "description" in spec:
        out["description"] = spec["description"]
    return out


def _v1_to_v2(spec: dict[str, Any]) -> dict[str, Any]:
    """A v2 view of a v1 spec (``ConvertDashboard_V1beta1_to_V2alpha1``, reduced to panels in a grid)."""
    elements: dict[str, Any] = {}
    items = []
    for n, panel in enumerate(p for p in spec.get("panels") or [] if isinstance(p, dict)):
        name = f"panel-{panel.get('id', n)}"
        viz: dict[str, Any] = {
            "options": panel.get("options") or {},
            "fieldConfig": {"defaults": {}, "overrides": []},
        }
        elements[name] = {
            "kind": "Panel",
            "spec": {
                "id": panel.get("id", n),
                "title": panel.get("title", ""),
                "description": panel.get("description", ""),
                "links": [],
                "data": {
                    "kind": "QueryGroup",
                    "spec": {"queries": [], "transformations": [], "queryOptions": {}},
                },
                "vizConfig": {
                    "kind": "VizConfig",
                    "group": str(panel.get("type", "")),
                    "version": "",
                    "spec": viz,
                },
            },
        }
        grid = panel.get("gridPos") or {}
        items.append(
            {
                "kind": "GridLayoutItem",
                "spec": {
                    "x": grid.get("x", 0),
                    "y": grid.get("y", 0),
                    "width": grid.get("w", 12),
                    "height": grid.get("h", 8),
                    "element": {"kind": "ElementReference", "name": name},
                },
            }
        )
    time: dict[str, Any] = spec["time"] if isinstance(spec.get("time"), dict) else {}
    # DashboardSpec.description is optional in the v2beta1 document: carried when the v1 spec has one.
    described = {"description": spec["description"]} if isinstance(spec.get("description"), str) else {}
    return {
        "title": spec.get("title", ""),
        **described,
        "tags": spec.get("tags") or [],
        "annotations": [],
        "links": [],
        "variables": [],
        "preload": False,
        "cursorSync": "Off",
        "elements": elements,
        "layout": {"kind": "GridLayout", "spec": {"items": items}},
        "timeSettings": {
            "from": time.get("from", "now-6h"),
            "to": time.get("to", "now"),
            "autoRefresh": "",
            "autoRefreshIntervals": [],
            "hideTimepicker": False,
            "fiscalYearStartMonth": 0,
        },
    }


def convert(
    spec: dict[str, Any], stored: str, wanted: str, grafana: tuple[int, int]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A stored spec as served through another version: (spec, ``status.conversion`` or None)."""
    if stored == wanted or (is_v2(stored) and is_v2(wanted)):
        return spec, None if stored == wanted else {"failed": False, "storedVersion": stored}
    if is_v2(stored) != is_v2(wanted):
        if grafana < (12, 2):  # the first conversions were placeholders
            empty: dict[str, Any] = {"title": spec.get("title", "")} if is_v2(wanted) else {}
            if is_v2(wanted):
                empty["layout"] = {"kind": "GridLayout", "spec": {}}
            return empty, {"failed": True, "storedVersion": stored, "error": NOT_IMPLEMENTED}
        converted = _v2_to_v1(spec) if is_v2(stored) else _v1_to_v2(spec)
        if wanted == V1 and "schemaVersion" not in converted:
            converted["schemaVersion"] = schema_limits(grafana)[1]
        return converted, {"failed": False, "storedVersion": stored}
    if wanted == V1:  # v0alpha1 -> v1beta1: the schema migration
        migrated, error = migrate(spec, grafana)
        status: dict[str, Any] = {"failed": error is not None, "storedVersion": stored}
        if error is not None:
            status["error"] = error
        return migrated, status
    return spec, {"failed": False, "storedVersion": stored}  # v1beta1 -> v0alpha1 copies
