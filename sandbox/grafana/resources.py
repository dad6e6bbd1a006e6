"""The sandbox Grafana's ``/apis`` objects: API groups, namespaces, and dashboards and folders as resources.

A dashboard is served in the version asked for, converted from the one it is stored in
(``sandbox.grafana.conversion``); failures are Kubernetes ``Status`` bodies.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.grafana.conversion import SERVED, V0, V1, convert, is_v2
from sandbox.grafana.library import LibraryApi
from sandbox.grafana.state import _Dashboard, _Folder, _Org, cluster_wide_uid
from sandbox.server import HTTPError, encode_json

DASHBOARD_GROUP = "dashboard.grafana.app"
FOLDER_GROUP = "folder.grafana.app"
API_VERSION = "v1beta1"
DASHBOARD_API = f"{DASHBOARD_GROUP}/{API_VERSION}"
FOLDER_API = f"{FOLDER_GROUP}/{API_VERSION}"
# large.go ``reduceUnstructredSpec``: what a reduced v0/v1 spec keeps.
LARGE_KEPT = ("title", "description", "tags", "schemaVersion")


def namespace_of(org: int) -> str:
    """The /apis namespace of an org: ``default`` for org 1, ``org-N`` otherwise."""
    return "default" if org == 1 else f"org-{org}"


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Kubernetes ``Status`` failure body."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _k8s_error(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> HTTPError:
    return HTTPError(code, _status(code, reason, message, details))


def _dash_details(name: str, uid: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "group": DASHBOARD_GROUP, "kind": "dashboards"}
    if uid is not None:
        details["uid"] = uid
    return details


class ResourceViews(LibraryApi):
    """Dashboards and folders as ``/apis`` resources, in the API version a request names."""

    def _served_versions(self) -> tuple[str, ...]:
        """The dashboard API versions of this release: v2 from 12.0 (register.go ``GetGroupVersions``)."""
        served = SERVED if self._version() >= (12, 0) else tuple(v for v in SERVED if not is_v2(v))
        if self.dashboard_versions is not None:
            served = tuple(v for v in served if v in self.dashboard_versions)
        return served

    def _dash_resource(self, org: _Org, d: _Dashboard, version: str = V1) -> dict[str, Any]:
        """The dashboard as a resource of one API version, converted from the one it is stored in."""
        annotations = dict(d.annotations)
        if d.folder_uid:
            annotations["grafana.app/folder"] = d.folder_uid
        annotations["grafana.app/createdBy"] = d.created_by
        annotations["grafana.app/updatedBy"] = d.updated_by
        annotations["grafana.app/updatedTimestamp"] = d.updated
        if d.provisioned is not None:
            # legacy/sql_dashboards.go ``scanRow``: a dashboard_provisioning row becomes manager and
            # source annotations (pkg/apimachinery/utils/meta.go names them).
            annotations["grafana.app/managedBy"] = "classic-file-provisioning"
            annotations["grafana.app/managerId"] = "sandbox-provisioner"
            annotations["grafana.app/managerAllowsEdits"] = "true" if d.provisioned[1] else "false"
            annotations["grafana.app/sourcePath"] = d.provisioned[0]
        spec, conversion = convert(d.model, d.api_version, version, self._version())
        if self._reduced(d):
            # pkg/registry/apis/dashboard/large.go ``ReduceSpec``: a large dashboard is stored with
            # these keys only and its body in a blob named by an annotation; Get and GetList
            # (pkg/storage/unified/apistore/store.go) do not rebuild it, only ``/dto`` does.
            if is_v2(version):
                # ReduceSpec works on the v0 form (conversion.ToInternalDashboardV0), keeps LARGE_KEPT
                # and converts that back (scheme.Convert): a v2 dashboard is left with a whole v2 spec
                # that has nothing in it but those keys, as the v2beta1 document's DashboardSpec wants.
                as_v0, _ = convert(d.model, d.api_version, V0, self._version())
                spec, _ = convert(
                    {k: as_v0[k] for k in LARGE_KEPT if k in as_v0}, V0, version, self._version()
                )
            else:
                spec = {k: spec[k] for k in LARGE_KEPT if k in spec}
            size = len(d.model_json())
            digest = hashlib.sha256(d.model_json()).hexdigest()
            annotations["grafana.app/blob"] = f"{d.uid}; size={size}; hash={digest}; mime=application/json"
        api = f"{DASHBOARD_GROUP}/{version}"
        return {
            "kind": "Dashboard",
            "apiVersion": api,
            "metadata": {
                "name": d.uid,
                "namespace": self._namespace(org.id),
                # Legacy SQL storage (pkg/registry/apis/dashboard/legacy/sql_dashboards.go `scanRow`):
                # resourceVersion and generation are the dashboard's version, the uid comes from the
                # name, creationTimestamp is the row's `created`, the row id is a label.
                "uid": cluster_wide_uid(DASHBOARD_GROUP, "Dashboard", self._namespace(org.id), d.uid),
                "resourceVersion": str(d.version),
                "generation": d.version,
                "creationTimestamp": d.created,
                "labels": {**d.labels, "grafana.app/deprecatedInternalID": str(d.id)},
                "annotations": annotations,
                "managedFields": [
                    {
                        "manager": "grafana",
                        "operation": "Update",
                        "apiVersion": f"{DASHBOARD_GROUP}/{d.api_version}",
                        "time": d.updated,
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:spec": {f"f:{k}": {} for k in d.model}},
                    }
                ],
            },
            "spec": dict(spec),
            "status": {} if conversion is None else {"conversion": conversion},
        }

    def _reduced(self, d: _Dashboard) -> bool:
        return self.large_object_bytes is not None and len(d.model_json()) > self.large_object_bytes

    def _dash_resource_json(self, org: _Org, d: _Dashboard, version: str = V1) -> bytes:
        """`_dash_resource` encoded; served as stored, the cached model is spliced in as `spec`."""
        resource = self._dash_resource(org, d, version)
        if version != d.api_version or self._reduced(d):
            return encode_json(resource)
        del resource["spec"], resource["status"]
        return encode_json(resource)[:-1] + b',"spec":' + d.model_json() + b',"status":{}}'

    def _folder_resource(self, org: _Org, f: _Folder) -> dict[str, Any]:
        annotations: dict[str, str] = {}
        if f.parent_uid:
            annotations["grafana.app/folder"] = f.parent_uid
        annotations["grafana.app/createdBy"] = f.created_by
        annotations["grafana.app/updatedBy"] = f.updated_by
        annotations["grafana.app/updatedTimestamp"] = f.updated
        spec: dict[str, Any] = {"title": f.title}
        if f.description:
            spec["description"] = f.description
        return {
            "kind": "Folder",
            "apiVersion": FOLDER_API,
            "metadata": {
                "name": f.uid,
                "namespace": self._namespace(org.id),
                "uid": f.k8s_uid,
                "resourceVersion": str(f.resource_version),
                "generation": f.version,
                "creationTimestamp": f.created,
                "labels": {"grafana.app/deprecatedInternalID": str(f.id)},
                "annotations": annotations,
            },
            "spec": spec,
            "status": {},
        }
