"""What a Grafana answer must be before a backup believes it: shape, identity, and its own "not found".

A proxy or load balancer in front of Grafana can answer for it: an HTML 404 of its own, another
object's cached body, ``200 {}``. Believed, each would record a live dashboard or ACL as deleted or
store a bogus entry. So a body is checked for the fields a backup relies on (pydantic models) and
for identity (the uid or name in it is the one asked for), and a 404 means "gone" only when it is
Grafana's own not-found body:

- legacy ``/api``: ``response.Error(404, "Dashboard not found", err)`` in pkg/api/dashboard.go
  ``getDashboardHelper`` writes ``{"message": "Dashboard not found"}`` (newer releases add
  ``traceID``); pkg/api/apierrors/folder.go ``ToFolderErrorResponse`` writes
  ``{"status": "not-found", "message": "folder not found"}``; errutil-based errors add ``messageId``
  (``folder.notFound``). Every variant read is a JSON object whose ``message`` says "not found".
- ``/apis``: the apiserver's ``metav1.Status`` with ``reason: NotFound`` and ``code: 404``
  (k8s.io/apimachinery/pkg/api/errors ``NewNotFound``).

Anything else is an item failure: the item keeps its last snapshot's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from sources.errors import ResponseError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _DashboardModel(_Open):
    uid: str
    title: str | None = None


class LegacyDashboard(_Open):
    """``GET /api/dashboards/uid/:uid`` (``dtos.DashboardFullWithMeta``): what a backup reads of it."""

    dashboard: _DashboardModel
    meta: dict[str, Any]


class LegacyFolder(_Open):
    """``GET /api/folders/:uid`` (``dtos.Folder``)."""

    uid: str
    title: str


class _AclEntry(_Open):
    permission: int
    uid: str | None = None
    """The object's uid (``DashboardACLInfoDTO.UID``): a folder's or dashboard's own."""


class _Metadata(_Open):
    name: str


class Resource(_Open):
    """A dashboard resource of ``/apis``: what identifies it."""

    apiVersion: str
    metadata: _Metadata


def _excerpt(data: Any) -> str:
    if data is None:
        return "no JSON body"
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(what: str, exc: ValidationError) -> ResponseError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the body"
    return ResponseError(f"{what} answered a body that is not Grafana's ({where}: {first['msg'].lower()})")


def _object(
    model: type[BaseModel], data: Any, kind: str, uid: str, identity: Callable[[Any], Any]
) -> dict[str, Any]:
    """`data` if it has `model`'s shape and `identity(data)` is the uid asked for."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(f"{kind} {uid}", exc) from None
    got = identity(data)
    if got != uid:
        raise ResponseError(f"{kind} {uid} answered with {kind} {got!r}: another object's body")
    return dict(data)


def dashboard(data: Any, uid: str) -> dict[str, Any]:
    """A legacy dashboard answer, if it is a dashboard and the one asked for."""
    return _object(LegacyDashboard, data, "dashboard", uid, lambda d: d["dashboard"]["uid"])


def folder(data: Any, uid: str) -> dict[str, Any]:
    """A legacy folder answer, if it is a folder and the one asked for."""
    return _object(LegacyFolder, data, "folder", uid, lambda d: d["uid"])


def permissions(data: Any, kind: str, uid: str) -> list[dict[str, Any]]:
    """An ACL answer: a list of entries, each (where it names one) of the object asked for."""
    if not isinstance(data, list):
        raise ResponseError(f"permissions of {kind} {uid} did not answer a JSON list ({_excerpt(data)})")
    for raw in data:
        try:
            entry = _AclEntry.model_validate(raw)
        except ValidationError as exc:
            raise _invalid(f"permissions of {kind} {uid}", exc) from None
        if entry.uid and entry.uid != uid:
            raise ResponseError(
                f"permissions of {kind} {uid} answered with entries of {entry.uid!r}: another object's body"
            )
    return list(data)


def resource(data: Any, name: str) -> dict[str, Any]:
    """An /apis dashboard answer, if it is a resource and the one asked for."""
    return _object(Resource, data, "dashboard", name, lambda d: d["metadata"]["name"])


def is_not_found(data: Any) -> bool:
    """Whether a legacy 404 body is Grafana's own "not found" (see the module's docstring)."""
    if not isinstance(data, dict):
        return False
    message = data.get("message")
    return (isinstance(message, str) and "not found" in message.lower()) or data.get("status") == "not-found"


def is_k8s_not_found(data: Any) -> bool:
    """Whether an /apis 404 body is the apiserver's ``Status`` of reason ``NotFound``."""
    return (
        isinstance(data, dict)
        and data.get("kind") == "Status"
        and data.get("reason") == "NotFound"
        and data.get("code") == 404
    )


def not_grafanas_404(what: str, data: Any) -> ResponseError:
    """The error for a 404 that is not Grafana's: a proxy's page says nothing about the object."""
    return ResponseError(
        f"{what} answered 404 without Grafana's not-found body ({_excerpt(data)}): "
        "a proxy or another server answered, so nothing is taken as deleted",
        status=404,
    )
