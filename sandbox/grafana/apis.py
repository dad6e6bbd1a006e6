"""The ``/apis`` routes of the sandbox Grafana: dashboards and folders as Kubernetes-style resources.

API groups, namespaces (``default`` for org 1, ``org-N`` otherwise), resources with resourceVersion,
generation and managed fields, lists paged with continue tokens (which can expire), and failures
as Kubernetes ``Status`` bodies.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.grafana.conversion import V1, convert, is_v2, migrate, v2_errors
from sandbox.grafana.rbac import Caller
from sandbox.grafana.resources import (
    DASHBOARD_GROUP,
    FOLDER_API,
    FOLDER_GROUP,
    ResourceViews,
    _dash_details,
    _k8s_error,
)
from sandbox.grafana.state import MAX_UID_LENGTH, _Dashboard, _Folder, _Org, cluster_wide_uid, slugify
from sandbox.server import HTTPError, Request, Response, encode_json, json_response

EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list "
    "- objects that were created, modified, or deleted between the time the first chunk was returned "
    "and now may show up in the list."
)
CONFLICT_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
# Keys we manage on resources; everything else a client sends in metadata is kept as given.
_SYSTEM_ANNOTATIONS = frozenset(
    {
        "grafana.app/folder",
        "grafana.app/message",
        "grafana.app/createdBy",
        "grafana.app/updatedBy",
        "grafana.app/updatedTimestamp",
    }
)
_SYSTEM_LABELS = frozenset({"grafana.app/deprecatedInternalID"})


@dataclass
class _Continue:
    offset: int
    rv: int
    issued: float
    last: str


class ApisApi(ResourceViews):
    """Handlers of the ``/apis`` routes."""

    # -- namespace selection -----------------------------------------------------------------------

    def _ns_org(self, req: Request) -> _Org:
        """The org of the namespace in the path, which must be the caller's own.

        pkg/registry/apis/dashboard/authorizer.go ``GetAuthorizer``: a namespace of another org is
        denied ("org mismatch") before any verb is looked at.
        """
        ns = req.params["ns"]
        org_id: int | None = None
        if self.stack_id is not None:
            org_id = 1 if ns == self._namespace(1) else None  # a Cloud stack has one org
        elif ns == "default":
            org_id = 1
        elif (m := re.fullmatch(r"org-([0-9]+)", ns)) is not None:
            org_id = int(m.group(1))
        org = self._orgs.get(org_id) if org_id is not None else None
        if org is None:
            raise _k8s_error(404, "NotFound", f'namespaces "{ns}" not found')
        if self._org(req).id != org.id:
            raise _k8s_error(403, "Forbidden", f'namespace "{ns}" is forbidden: org mismatch')
        return org

    def _k8s_require(
        self, req: Request, org: _Org, action: str, obj: _Dashboard | _Folder | None, name: str
    ) -> Caller:
        """The caller, if it may; a Kubernetes ``Forbidden`` status otherwise."""
        caller = self._caller(req, org)
        if not self._may(org, caller, action, obj):
            resource = "folders" if action.startswith("folders") else "dashboards"
            group = FOLDER_GROUP if resource == "folders" else DASHBOARD_GROUP
            raise _k8s_error(403, "Forbidden", f'{resource}.{group} "{name}" is forbidden: {action}')
        return caller

    def _frontend_settings(self, req: Request) -> Response:
        """The part of ``/api/frontend/settings`` clients read: the org's namespace, the build.

        pkg/api/frontendsettings.go ``getFrontendSettings``: ``Namespace = hs.namespacer(c.OrgID)``.
        """
        with self.lock:
            org = self._org(req)
            self._caller(req, org)
            return json_response(
                {
                    "namespace": self._namespace(org.id),
                    "buildInfo": {
                        "version": self.grafana_version,
                        "commit": "sandbox",
                        "edition": "Open Source",
                    },
                    "featureToggles": {"nestedFolders": True, "kubernetesDashboards": self.apis},
                }
            )

    def _require_apis(self) -> None:
        if not self.apis:
            raise HTTPError(404, {"message": "Not found"})

    # -- /apis handlers ----------------------------------------------------------------------------

    def _api_groups(self, req: Request) -> Response:
        self._require_apis()
        groups = [self._group(DASHBOARD_GROUP), self._group(FOLDER_GROUP)]
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    def _group(self, name: str) -> dict[str, Any]:
        """An ``APIGroup``'s versions, in ``GetGroupVersions`` order, the first one preferred."""
        versions = self._served_versions() if name == DASHBOARD_GROUP else ("v1beta1",)
        listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"name": name, "versions": listed, "preferredVersion": dict(listed[0])}

    def _api_group(self, req: Request) -> Response:
        """``GET /apis/dashboard.grafana.app``: the generic apiserver's group discovery."""
        self._require_apis()
        return json_response({"kind": "APIGroup", "apiVersion": "v1", **self._group(req.params["group"])})

    def _dash_version(self, req: Request) -> str:
        """The dashboard API version in the path; one this release does not serve is a 404."""
        self._require_apis()
        version = req.params["version"]
        if version not in self._served_versions():
            raise _k8s_error(404, "NotFound", "the server could not find the requested resource")
        return version

    def _decode_continue(self, token: str) -> _Continue:
        try:
            data = json.loads(base64.b64decode(token, validate=True))
            position = _Continue(
                offset=int(data["offset"]),
                rv=int(data["rv"]),
                issued=float(data["issued"]),
                last=str(data["last"]),
            )
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise _k8s_error(400, "BadRequest", "continue key is not valid: invalid continue token") from None
        if position.offset < 0:
            raise _k8s_error(400, "BadRequest", "continue key is not valid: negative offset")
        return position

    @staticmethod
    def _encode_continue(position: _Continue) -> str:
        raw = json.dumps(
            {"offset": position.offset, "rv": position.rv, "issued": position.issued, "last": position.last},
            separators=(",", ":"),
        )
        return base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii")

    def _k8s_list(self, req: Request, kind: Literal["dashboards", "folders"]) -> Response:
        version = self._dash_version(req) if kind == "dashboards" else "v1beta1"
        limit = max(0, req.int_arg("limit", 0))
        token = req.arg("continue") or None
        with self.lock:
            org = self._ns_org(req)
            after: str | None = None
            offset, rv = 0, self._rv
            if token is not None:
                if self.expire_next_continue > 0:
                    self.expire_next_continue -= 1
                    raise _k8s_error(410, "Expired", EXPIRED_MESSAGE)
                position = self._decode_continue(token)
                if self.continue_ttl is not None and time.time() - position.issued > self.continue_ttl:
                    raise _k8s_error(410, "Expired", EXPIRED_MESSAGE)
                offset, rv, after = position.offset, position.rv, position.last
            self._check_listing_faults(offset, apis=True)
            keys = org.dashboard_keys() if kind == "dashboards" else org.folder_keys()
            caller = self._caller(req, org)
            if caller.role != "Admin":  # items the caller may not read are skipped (server.go `List`)
                held = org.dashboards if kind == "dashboards" else org.folders
                keys = [k for k in keys if self._visible(org, caller, held[k])]
            if kind == "dashboards" and self.hidden_from_listing:
                keys = [k for k in keys if k not in self.hidden_from_listing]
            # Resume after the last name served, so writes between pages neither skip nor repeat items.
            start = bisect_right(keys, after) if after is not None else 0
            chunk = keys[start : start + limit] if limit else keys[start:]
            items: list[bytes]
            if kind == "dashboards":
                items = [self._dash_resource_json(org, org.dashboards[k], version) for k in chunk]
            else:
                items = [encode_json(self._folder_resource(org, org.folders[k])) for k in chunk]
            metadata: dict[str, Any] = {"resourceVersion": str(rv)}
            if chunk and start + len(chunk) < len(keys):
                metadata["continue"] = self._encode_continue(
                    _Continue(offset=offset + len(chunk), rv=rv, issued=time.time(), last=chunk[-1])
                )
        list_kind, api = (
            ("DashboardList", f"{DASHBOARD_GROUP}/{version}")
            if kind == "dashboards"
            else ("FolderList", FOLDER_API)
        )
        head = encode_json({"kind": list_kind, "apiVersion": api, "metadata": metadata})
        body = Response(raw=head[:-1] + b',"items":[' + b",".join(items) + b"]}")
        return self._listing_response(body, offset)

    def _apis_list_dashboards(self, req: Request) -> Response:
        return self._k8s_list(req, "dashboards")

    def _apis_list_folders(self, req: Request) -> Response:
        return self._k8s_list(req, "folders")

    def _apis_get_dashboard(self, req: Request) -> Response:
        version = self._dash_version(req)
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req)
            d = org.dashboards.get(name)
            # The authorizer asks for dashboards:read on this name before storage is read: a caller
            # without it on every dashboard gets 403 for a missing one, not 404.
            self._k8s_require(req, org, "dashboards:read", d, name)
            if d is None:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            return Response(raw=self._dash_resource_json(org, d, version))

    def _apis_dashboard_dto(self, req: Request) -> Response:
        """``.../dashboards/<name>/dto``: the whole dashboard, a large one rebuilt from its blob, with
        the caller's access (pkg/registry/apis/dashboard/sub_dto.go ``DTOConnector.Connect``: the
        guardian's answers, ``canStar`` only for a user, never a service account; ``isPublic`` is
        never set, and the v2 ``DashboardAccess`` serialises it without omitempty, so a v2 version
        says ``false`` and v0/v1 leave it out: apps/dashboard/pkg/apis/dashboard/v2beta1/types.go)."""
        version = self._dash_version(req)
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req)
            d = org.dashboards.get(name)
            caller = self._k8s_require(req, org, "dashboards:read", d, name)
            if d is None:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            resource = self._dash_resource(org, d, version)
            resource["spec"], _ = convert(d.model, d.api_version, version, self._version())
            resource["metadata"]["annotations"].pop("grafana.app/blob", None)
            level = self._level(org, caller, d)
            actions = {"canAdd": level >= 2, "canEdit": level >= 2, "canDelete": level >= 2}
            access: dict[str, Any] = {
                "slug": slugify(d.title),
                "url": f"/d/{d.uid}/{slugify(d.title)}",
                "canSave": level >= 2,
                "canEdit": level >= 2,
                "canAdmin": level >= 4,
                "canStar": not caller.service_account,
                "canDelete": level >= 2,
                "annotationsPermissions": {"dashboard": actions, "organization": actions},
            }
            if is_v2(version):
                access["isPublic"] = False
            resource["access"] = access
            return json_response(resource)

    def _apis_get_folder(self, req: Request) -> Response:
        self._require_apis()
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req)
            f = org.folders.get(name)
            self._k8s_require(req, org, "folders:read", f, name)
            if f is None:
                details = {"name": name, "group": FOLDER_GROUP, "kind": "folders"}
                raise _k8s_error(404, "NotFound", f'folders.{FOLDER_GROUP} "{name}" not found', details)
            return json_response(self._folder_resource(org, f))

    @staticmethod
    def _resource_parts(body: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
        """(metadata, spec, custom labels, custom annotations) of a posted resource."""
        if not isinstance(body, dict):
            raise _k8s_error(400, "BadRequest", "the request body must be a JSON object")
        metadata = body.get("metadata") or {}
        spec = body.get("spec")
        if not isinstance(metadata, dict) or not isinstance(spec, dict):
            raise _k8s_error(400, "BadRequest", "metadata and spec must be JSON objects")
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        if not isinstance(labels, dict) or not isinstance(annotations, dict):
            raise _k8s_error(400, "BadRequest", "labels and annotations must be JSON objects")
        title = spec.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _k8s_error(400, "BadRequest", "spec.title: Required value: dashboard title cannot be empty")
        custom_labels = {str(k): str(v) for k, v in labels.items() if k not in _SYSTEM_LABELS}
        custom_annotations = {str(k): str(v) for k, v in annotations.items() if k not in _SYSTEM_ANNOTATIONS}
        return metadata, spec, custom_labels, custom_annotations

    def _written_spec(self, version: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec as stored after a write through ``version`` (mutate.go ``Mutate``, validation.go)."""
        if version == V1:
            migrated, error = migrate(spec, self._version())
            problems = [f"spec: Invalid value: {name!r}: {error}"] if error is not None else []
            spec = migrated
        else:
            problems = v2_errors(spec) if is_v2(version) else []
        if problems:
            details = {**_dash_details(name), "causes": [{"message": p} for p in problems]}
            raise _k8s_error(
                422, "Invalid", f'Dashboard.{DASHBOARD_GROUP} "{name}" is invalid: {problems[0]}', details
            )
        return dict(spec)

    @staticmethod
    def _resource_folder(org: _Org, metadata: dict[str, Any]) -> str | None:
        folder = (metadata.get("annotations") or {}).get("grafana.app/folder") or None
        if folder is not None and (not isinstance(folder, str) or folder not in org.folders):
            raise _k8s_error(400, "BadRequest", f"folder not found: {folder}")
        return folder

    @staticmethod
    def _resource_message(metadata: dict[str, Any]) -> str:
        message = (metadata.get("annotations") or {}).get("grafana.app/message")
        return message if isinstance(message, str) else ""

    def _refuse_write(self, name: str) -> None:
        """The ``refuse_dashboard_writes`` fault knob (off unless a test sets it)."""
        if name in self.refuse_dashboard_writes:
            raise _k8s_error(403, "Forbidden", f'dashboards.{DASHBOARD_GROUP} "{name}" is forbidden')

    def _apis_create_dashboard(self, req: Request) -> Response:
        version = self._dash_version(req)
        metadata, spec, labels, annotations = self._resource_parts(req.json)
        name = metadata.get("name") or ""
        generate = metadata.get("generateName") or ""
        if not isinstance(name, str) or not isinstance(generate, str):
            raise _k8s_error(400, "BadRequest", "metadata.name must be a string")
        if len(name) > MAX_UID_LENGTH:
            raise _k8s_error(
                400, "BadRequest", f"metadata.name: Invalid value: {name!r}: uid too long, max 40"
            )
        with self.lock:
            org = self._ns_org(req)
            if not name:
                if not generate:
                    raise _k8s_error(400, "BadRequest", "name or generateName is required")
                suffix_alphabet = "bcdfghjklmnpqrstvwxz2456789"
                name = generate[: MAX_UID_LENGTH - 5] + self._gen_uid(
                    lambda u: generate[: MAX_UID_LENGTH - 5] + u in org.dashboards, 5, suffix_alphabet
                )
            self._refuse_write(name)
            if name in org.dashboards:
                raise _k8s_error(
                    409,
                    "AlreadyExists",
                    f'dashboards.{DASHBOARD_GROUP} "{name}" already exists',
                    _dash_details(name),
                )
            folder = self._resource_folder(org, metadata)
            self._k8s_require(req, org, "dashboards:create", org.folders.get(folder or ""), name)
            # pkg/storage/unified/apistore/permissions.go ``afterCreatePermissionCreator``: the
            # creation defaults are given only when asked for, and the annotation is not stored.
            grant = annotations.pop("grafana.app/grant-permissions", "")
            if grant not in ("", "default"):
                raise _k8s_error(400, "BadRequest", "invalid permissions value. only 'default' supported")
            model = self._written_spec(version, name, spec)
            model.pop("id", None)
            d = self._new_dashboard(
                org,
                name,
                model,
                folder_uid=folder,
                actor=req.user or "anonymous",
                message=self._resource_message(metadata),
                labels=labels,
                annotations=annotations,
                default_acl=grant == "default",
                api_version=version,
            )
            self._connect_or_fail(org, d)
            return json_response(self._dash_resource(org, d, version), 201)

    def _apis_update_dashboard(self, req: Request) -> Response:
        version = self._dash_version(req)
        name = req.params["name"]
        metadata, spec, labels, annotations = self._resource_parts(req.json)
        body_name = metadata.get("name")
        if body_name not in (None, "", name):
            raise _k8s_error(
                400,
                "BadRequest",
                f"the name of the object ({body_name}) does not match the name on the URL ({name})",
            )
        self._refuse_write(name)
        with self.lock:
            org = self._ns_org(req)
            self._concurrent_edit(org.id, name)
            d = org.dashboards.get(name)
            self._k8s_require(req, org, "dashboards:write", d, name)
            if d is None:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            rv = metadata.get("resourceVersion")
            if rv not in (None, "") and str(rv) != str(d.version):
                raise _k8s_error(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on dashboards.{DASHBOARD_GROUP} "{name}": '
                    + CONFLICT_MESSAGE,
                    _dash_details(name),
                )
            folder = self._resource_folder(org, metadata)
            model = self._written_spec(version, name, spec)
            model.pop("id", None)
            self._save_dashboard(
                org,
                d,
                model,
                folder_uid=folder,
                actor=req.user or "anonymous",
                message=self._resource_message(metadata),
                api_version=version,
            )
            d.labels = labels
            d.annotations = annotations
            self._connect_or_fail(org, d)
            return json_response(self._dash_resource(org, d, version))

    def _connect_or_fail(self, org: _Org, d: _Dashboard) -> None:
        """pkg/registry/apis/dashboard/legacy/sql_dashboards.go ``SaveDashboard`` connects the library
        panels after the save and returns the error as it is: the apiserver's 500 (GUESS on the body,
        the generic ``InternalError`` status of an unmapped error)."""
        error = self._connect_library_panels(org, d.uid, d.model)
        if error is not None:
            raise _k8s_error(500, "InternalError", f"Internal error occurred: {error}")

    def _apis_delete_dashboard(self, req: Request) -> Response:
        self._dash_version(req)
        name = req.params["name"]
        with self.lock:
            org = self._ns_org(req)
            self._k8s_require(req, org, "dashboards:delete", org.dashboards.get(name), name)
            if name not in org.dashboards:
                raise _k8s_error(
                    404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', _dash_details(name)
                )
            self._remove_dashboard(org, name)
            uid = cluster_wide_uid(DASHBOARD_GROUP, "Dashboard", req.params["ns"], name)
            return json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": _dash_details(name, uid),
                }
            )
