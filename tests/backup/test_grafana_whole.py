"""`whole`: a dashboard read through /apis is taken only if it is the object asked for, as stored.

An answer for another object or version (a proxy's cache, a misrouted request), a failed conversion
or a spec still reduced is refused with a message naming the dashboard, the version and why.
"""

from __future__ import annotations

from typing import Any

import pytest

from backup.grafana import whole
from sources.errors import ResponseError


def resource(name: str = "cpu", version: str = "v2beta1", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"dashboard.grafana.app/{version}",
        "kind": "Dashboard",
        "metadata": {"name": name, **extra.pop("metadata", {})},
        "spec": {"title": "CPU"},
        **extra,
    }


def test_the_dashboard_asked_for_is_taken_as_it_came() -> None:
    data = resource(status={"conversion": {"failed": False, "storedVersion": "v2beta1"}})
    assert whole(data, "cpu", "v2beta1") is data


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (resource(version="v1beta1"), "answered dashboard.grafana.app/v1beta1 'cpu'"),
        (resource(name="mem"), "answered dashboard.grafana.app/v2beta1 'mem'"),
        (
            {"apiVersion": "dashboard.grafana.app/v2beta1", "spec": {}},
            "answered dashboard.grafana.app/v2beta1 None",
        ),
        ({"metadata": {"name": "cpu"}}, "answered None 'cpu'"),
        (
            resource(status={"conversion": {"failed": True, "error": "unknown panel type"}}),
            "its conversion failed: unknown panel type",
        ),
        (resource(status={"conversion": {"failed": True}}), "its conversion failed: no reason given"),
        (
            resource(metadata={"annotations": {"grafana.app/blob": "cpu; size=9000"}}),
            "its spec came reduced (a large object) even through /dto",
        ),
    ],
    ids=[
        "another version",
        "another dashboard",
        "no metadata",
        "no version",
        "failed",
        "failed silently",
        "reduced",
    ],
)
def test_anything_else_is_refused_naming_the_dashboard_the_version_and_why(
    data: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ResponseError) as raised:
        whole(data, "cpu", "v2beta1")
    assert raised.value.message == f"dashboard cpu read through v2beta1: {problem}"
