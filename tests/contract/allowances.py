"""Where Grafana's behaviour differs from its published documents, and the contract follows Grafana.

These are exactly the differences listed with the documents (``../shared/specs/README.md``), each
with the Grafana source it follows; plus the Kubernetes convention the ``/apis`` snapshots leave
implicit (an error is a ``Status``), and the one undocumented path dashvault reads. Anything else
the documents do not describe is a deviation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

from tests.contract.spec import Operation, Schema, Specs

LEGACY = "api-merged.json"
ERROR_BODY = "/definitions/ErrorResponseBody"
K8S_STATUS = "/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"

#: (method, full-match regex over the raw path) of requests no document describes that are fine.
UNDOCUMENTED: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Kubernetes API discovery (the APIGroupList), served by the API server itself and so outside
    # every API group's own document: k8s.io/apiserver/pkg/endpoints/discovery/root.go
    # `rootAPIsHandler`. dashvault reads it to learn whether /apis serves dashboards (`has_apis`).
    ("GET", re.compile(r"/apis")),
    # The group's discovery (an ``APIGroup``), from the same handler family: k8s.io/apiserver/pkg/
    # endpoints/discovery/group.go ``APIGroupHandler``; dashvault reads it to learn the versions.
    ("GET", re.compile(r"/apis/(dashboard|folder)\.grafana\.app")),
    # The settings the frontend boots with, where it learns the /apis namespace: pkg/api/api.go
    # registers `/api/frontend/settings` (`GetFrontendSettings`, dtos.FrontendSettingsDTO with
    # `namespace` set in pkg/api/frontendsettings.go); the published document leaves it out.
    ("GET", re.compile(r"/api/frontend/settings")),
    # The caller's own RBAC actions: pkg/services/accesscontrol/api/api.go `getUserPermissions`,
    # registered as /api/access-control/user/permissions (signed in); not in the document either.
    ("GET", re.compile(r"/api/access-control/user/permissions")),
)


# dashboard.grafana.app/v0alpha1 and v1beta1 serve the same resource types (``Dashboard``,
# ``DashboardList``, ``DashboardWithAccessInfo``), both with an ``Unstructured`` spec
# (apps/dashboard/pkg/apis/dashboard/v0alpha1 and v1beta1 ``dashboard_spec_gen.go``); only the
# conversion between them differs. ../shared/specs holds no v0alpha1 snapshot, so its exchanges are
# checked against the v1beta1 document.
_V0 = re.compile(r"/apis/dashboard\.grafana\.app/v0alpha1(/.*)?")


def documented_path(path: str) -> str:
    """The path whose document describes a request: v0alpha1 dashboards are v1beta1's."""
    found = _V0.fullmatch(path)
    return f"/apis/dashboard.grafana.app/v1beta1{found.group(1) or ''}" if found else path


def undocumented(method: str, path: str) -> bool:
    """Whether a request to a path (or method) no document describes is on the allow-list."""
    return any(m == method and regex.fullmatch(path) for m, regex in UNDOCUMENTED)


#: (method, template) -> query parameters Grafana reads there though the document declares none:
#: each a positive integer.
UNDECLARED_PARAMETERS: dict[tuple[str, str], frozenset[str]] = {
    # pkg/services/publicdashboards/api/api.go `ListPublicDashboards`: c.QueryInt("perpage"),
    # c.QueryInt("page") (1000 and 1 when absent).
    ("GET", "/api/dashboards/public-dashboards"): frozenset({"perpage", "page"}),
}


def undeclared_parameter(method: str, template: str, name: str, values: list[str]) -> bool:
    """Whether an undeclared query parameter is one Grafana reads there, with a valid value."""
    known = name in UNDECLARED_PARAMETERS.get((method, template), ())
    return known and all(v.isdigit() and int(v) > 0 for v in values)


# -- statuses the documents do not declare ----------------------------------------------------------

#: (method, template) -> statuses Grafana answers there although the document does not declare them.
#: Each answers with Grafana's ordinary JSON error body (``ErrorResponseBody``).
UNDECLARED_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    # Deleting a provisioned dashboard: pkg/api/dashboard.go `deleteDashboard` answers the
    # DashboardErr's status, 400 for dashboards.ErrDashboardCannotDeleteProvisionedDashboard.
    ("DELETE", "/api/dashboards/uid/{uid}"): frozenset({400}),
    # A stale dashboard version on newer releases, which save through the /apis storage:
    # pkg/api/apierrors/dashboard.go `ToDashboardErrorResponse` passes the storage's 409 Conflict on.
    ("POST", "/api/dashboards/db"): frozenset({409}),
    # Creating a folder under a missing parent: pkg/api/apierrors/folder.go `ToFolderErrorResponse`
    # answers dashboards.ErrFolderNotFound with 404.
    ("POST", "/api/folders"): frozenset({404}),
    # Updating a folder with a stale version: pkg/api/apierrors/folder.go `ToFolderErrorResponse`
    # answers dashboards.ErrFolderVersionMismatch with 412 ("version-mismatch").
    ("PUT", "/api/folders/{folder_uid}"): frozenset({412}),
    # A move past the nested-folder depth limit (or into its own subtree): pkg/api/apierrors/folder.go
    # `ToFolderErrorResponse` answers folder.ErrMaximumDepthReached / ErrCircularReference with 400.
    ("POST", "/api/folders/{folder_uid}/move"): frozenset({400}),
    # Invalid permission items: pkg/api/folder_permission.go `UpdateFolderPermissions` answers 400.
    ("POST", "/api/folders/{folder_uid}/permissions"): frozenset({400}),
    # Public dashboards switched off: pkg/services/publicdashboards/api/api.go `ProvideApi` registers
    # no route unless `[public_dashboards] enabled`, so the router's NotFoundHandler answers 404.
    # A missing dashboard or public dashboard on a write: api.go `CreatePublicDashboard` and
    # `UpdatePublicDashboard` pass service.go's ErrDashboardNotFound / ErrPublicDashboardNotFound
    # (models/errors.go, 404) on.
    ("GET", "/api/dashboards/public-dashboards"): frozenset({404}),
    ("POST", "/api/dashboards/uid/{dashboardUid}/public-dashboards"): frozenset({404}),
    ("PATCH", "/api/dashboards/uid/{dashboardUid}/public-dashboards/{uid}"): frozenset({404}),
    ("DELETE", "/api/dashboards/uid/{dashboardUid}/public-dashboards/{uid}"): frozenset({404}),
}


@dataclass(frozen=True)
class Expected:
    """What an undeclared status must look like instead: its body schema, and why it is allowed."""

    schema: Schema
    reason: str


def _k8s_error(op: Operation, status: int) -> Schema:
    """A Kubernetes ``Status`` failure whose ``code`` is the HTTP status."""
    document = op.document
    inline = {
        "allOf": [{"$ref": f"{document.uri}#{K8S_STATUS}"}],
        "required": ["kind", "apiVersion", "status", "message", "reason", "code"],
        "properties": {
            "kind": {"enum": ["Status"]},
            "status": {"enum": ["Failure"]},
            "code": {"enum": [status]},
        },
    }
    return Schema(document, f"{K8S_STATUS}?code={status}", inline)


def undeclared_status(specs: Specs, op: Operation, status: int) -> Expected | None:
    """The allowance for a status the operation does not declare, None when there is none."""
    legacy = specs.document(LEGACY)
    if status in UNDECLARED_STATUSES.get((op.method, op.template), ()):
        return Expected(legacy.schema(ERROR_BODY), "known status the document omits")
    if op.document.swagger2 or status < 400:
        return None
    if status == 401:
        # The sign-in middleware answers before the request reaches the API server, with Grafana's
        # ordinary JSON error: pkg/middleware/auth.go `notAuthorized`.
        return Expected(legacy.schema(ERROR_BODY), "401 from Grafana's sign-in middleware")
    # Kubernetes-style documents list success responses only; every failure is a metav1.Status
    # (k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/writers.go `ErrorNegotiated`, with
    # the body built by status.go `ErrorToAPIStatus`).
    return Expected(_k8s_error(op, status), "Kubernetes error Status")


def empty_body(op: Operation, status: int) -> bool:
    """Whether Grafana answers this operation with no body at all where the document has one."""
    # pkg/services/publicdashboards/api/api.go `DeletePublicDashboard`: response.Empty(200).
    return (op.method, op.template, status) == (
        "DELETE",
        "/api/dashboards/uid/{dashboardUid}/public-dashboards/{uid}",
        200,
    )


# -- bodies that differ from the documents -----------------------------------------------------------


def response_view(op: Operation, status: int, body: Any) -> tuple[Any, str]:
    """(the part of a response body the document's schema describes, its JSON path)."""
    # Grafana 12 wraps the list as {"versions": [...], "continueToken": "..."}; the document still
    # has the plain array of older releases: pkg/api/dashboard.go `GetDashboardVersions`
    # (dashver.DashboardVersionResponseMeta). Either shape is accepted.
    if (
        (op.method, op.template, status) == ("GET", "/api/dashboards/uid/{uid}/versions", 200)
        and isinstance(body, dict)
        and "versions" in body
        and set(body) <= {"versions", "continueToken"}
        and isinstance(body.get("continueToken", ""), str)
    ):
        return body["versions"], "$.versions"
    return body, "$"


def allowed(
    op: Operation, status: int, body: Any, error: ValidationError, query: dict[str, list[str]]
) -> bool:
    """Whether one schema violation in a response body is a known difference Grafana's source wins."""
    key = (op.method, op.template, status)
    path = list(error.path)
    if key == ("POST", "/api/dashboards/db", 200):
        # The save answers with "slug" where the document requires "title": pkg/api/dashboard.go
        # `postDashboard` (its util.DynMap has status, slug, version, id, uid, url, folderUid).
        return _missing(error) == "title" and isinstance(body, dict) and "slug" in body
    if key == ("DELETE", "/api/folders/{folder_uid}", 200):
        # The delete answers {"message": "Folder deleted"} only: pkg/api/folder.go `DeleteFolder`.
        return _missing(error) in ("id", "title")
    if key == ("GET", "/api/teams/search", 200):
        # accessControl is null unless ?accesscontrol=true: pkg/services/team/teamapi/team.go
        # `getMultiAccessControlMetadata` (a lookup in an empty map).
        asked = [v.lower() for v in query.get("accesscontrol", [])]
        return (
            len(path) == 3
            and path[0] == "teams"
            and path[2] == "accessControl"
            and error.instance is None
            and not {"true", "1"} & set(asked)
        )
    if status == 403 and "/public-dashboards" in op.template:
        # The route's RBAC middleware refuses before the handler, with its own body, not the
        # handler's PublicError: pkg/services/accesscontrol/middleware.go `deny`.
        return (
            isinstance(body, dict)
            and "accessErrorId" in body
            and _missing(error) in ("statusCode", "messageId")
        )
    if (
        op.method == "GET"
        and op.template.startswith("/apis/dashboard.grafana.app/v2beta1/")
        and status == 200
    ):
        # A v0/v1 dashboard read through v2beta1 on 12.0/12.1 has a title and an empty layout, the
        # failed conversion marked in its status: apps/dashboard/pkg/migration/conversion/v1.go
        # `Convert_V1beta1_to_V2beta1` (and v0.go) set status.conversion.failed.
        return _in_failed_conversion(body, path)
    return False


_REQUIRED = re.compile(r"""(['"])(?P<name>.*)\1 is a required property""")


def _missing(error: ValidationError) -> str | None:
    """The property a ``required`` violation names (each missing property is a violation of its own)."""
    m = _REQUIRED.fullmatch(error.message) if error.validator == "required" else None
    return m.group("name") if m is not None else None


def _in_failed_conversion(body: Any, path: Sequence[Any]) -> bool:
    """Whether a violation lies in the spec of a dashboard whose conversion is marked failed."""
    resource, rest = body, list(path)
    if rest[:1] == ["items"] and len(rest) >= 2 and isinstance(body, dict):
        items = body.get("items")
        if not isinstance(items, list) or not isinstance(rest[1], int) or rest[1] >= len(items):
            return False
        resource, rest = items[rest[1]], rest[2:]
    if not isinstance(resource, dict) or rest[:1] != ["spec"]:
        return False
    conversion = (resource.get("status") or {}).get("conversion") or {}
    return isinstance(conversion, dict) and conversion.get("failed") is True
