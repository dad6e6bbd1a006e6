"""`same_version`: when an /apis dashboard may be taken as the one the last snapshot recorded, unread.

The entry is made the way a backup makes it (`dashboard_item_apis`, then `entry_for`), so the test
checks that what is recorded and what is compared are the same fields. A doubt must read as a change:
a wrong "same" skips a dashboard that changed, a wrong "changed" only costs a read.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from backup.grafana import same_version
from sources.grafana.items import dashboard_item_apis, dashboard_item_legacy
from storage.hashing import entry_for
from storage.model import Entry

LABEL = "grafana.app/deprecatedInternalID"


def resource(**metadata: Any) -> dict[str, Any]:
    md: dict[str, Any] = {
        "name": "cpu",
        "resourceVersion": "1717",
        "generation": 3,
        "uid": "3f1c0d8e-5b9a-4e62-9d0f-7a2b1c4e8f60",
        "creationTimestamp": "2026-11-02T08:00:00Z",
        "labels": {LABEL: "42"},
        "annotations": {"grafana.app/folder": "ops"},
    }
    md.update(metadata)
    return {
        "apiVersion": "dashboard.grafana.app/v1beta1",
        "kind": "Dashboard",
        "metadata": {k: v for k, v in md.items() if v is not None},
        "spec": {"title": "CPU", "panels": []},
    }


def recorded(res: dict[str, Any]) -> Entry:
    return entry_for(dashboard_item_apis("grafana", 1, res))[0]


def test_the_very_object_and_version_is_the_same() -> None:
    res = resource()
    assert same_version(recorded(res), copy.deepcopy(res)) is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resourceVersion", "1718"),
        ("generation", 4),
        ("uid", "0b7e6f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("creationTimestamp", "2026-11-30T09:00:00Z"),
        ("labels", {LABEL: "43"}),
    ],
    ids=["resourceVersion", "generation", "uid", "created", "internal id"],
)
def test_any_identifying_field_that_differs_is_a_change(field: str, value: Any) -> None:
    # Deleted and created again with legacy storage gives 1/1 and the same uid: only these tell.
    assert same_version(recorded(resource()), resource(**{field: value})) is False


@pytest.mark.parametrize("field", ["resourceVersion", "generation", "uid"])
@pytest.mark.parametrize("missing", [None, ""], ids=["absent", "empty"])
def test_a_required_field_missing_on_both_sides_is_a_doubt(field: str, missing: Any) -> None:
    res = resource(**{field: missing})
    assert same_version(recorded(res), copy.deepcopy(res)) is False


def test_the_optional_fields_may_be_absent_on_both_sides() -> None:
    # Unified storage may leave out the creation time and the legacy row id.
    res = resource(creationTimestamp=None, labels=None)
    assert same_version(recorded(res), copy.deepcopy(res)) is True


def test_an_optional_field_that_appears_is_a_change() -> None:
    assert same_version(recorded(resource(labels=None)), resource()) is False


def test_an_entry_read_through_the_legacy_api_is_never_the_same() -> None:
    res = resource()
    legacy = dashboard_item_legacy(
        "grafana", 1, {"dashboard": {"uid": "cpu", "title": "CPU", "version": 3}, "meta": {}}, digest="d"
    )
    entry = entry_for(legacy)[0]
    # Even with the resource's identifying fields copied in, a legacy read is no /apis version.
    forged = entry.model_copy(update={"meta": {**recorded(res).meta, "api": "legacy"}})
    assert same_version(forged, res) is False
    assert same_version(entry, res) is False


def test_a_resource_without_metadata_is_a_change() -> None:
    res = resource()
    assert same_version(recorded(res), {"apiVersion": res["apiVersion"], "spec": res["spec"]}) is False
