"""The sandbox Grafana's in-memory model: dashboards and their versions, folders, users, teams, orgs.

Plain dataclasses, with the constants and helpers that name things in them: timestamps, URL slugs,
object uids, and how an actor is shown. Nothing here knows about HTTP routes; ``GrafanaCore`` holds
the state built from these and changes it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.server import encode_json

MAX_UID_LENGTH = 40
_ALNUM = string.ascii_letters + string.digits


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slugify(title: str) -> str:
    """Grafana-style URL slug of a title."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if slug:
        return slug
    # Titles with no ASCII letters still need a non-empty, stable slug.
    return hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def cluster_wide_uid(group: str, kind: str, namespace: str, name: str) -> str:
    """metadata.uid of an object read from legacy SQL storage: derived from its name alone.

    Follows pkg/services/apiserver/utils/uids.go `CalculateClusterWideUID` (sha256 of
    group|kind|namespace|name, base64url, every non-alphanumeric replaced by X): the same after a
    delete and re-create.
    """
    digest = hashlib.sha256(f"{group}|{kind}|{namespace}|{name}".encode("utf-8", "surrogatepass")).digest()
    return "".join(c if c.isalnum() else "X" for c in base64.urlsafe_b64encode(digest).decode("ascii"))


def _k8s_uid(*parts: object) -> str:
    """A stable 44-character alphanumeric object uid, like the ones Grafana's /apis returns."""
    data = "\x00".join(str(p) for p in parts).encode("utf-8", "surrogatepass")
    n = int.from_bytes(hashlib.sha512(data).digest(), "big")
    chars = []
    for _ in range(44):
        n, r = divmod(n, len(_ALNUM))
        chars.append(_ALNUM[r])
    return "".join(chars)


def _display(actor: str) -> str:
    """Legacy APIs show a login where /apis shows ``user:<login>`` or ``service-account:<name>``."""
    return actor.split(":", 1)[1] if ":" in actor else actor


# -- state --------------------------------------------------------------------------------------


@dataclass
class _Version:
    version: int
    created: str
    created_by: str
    message: str
    model: dict[str, Any]


@dataclass
class _Dashboard:
    uid: str
    id: int
    # Stored models are never mutated in place (saves replace them), so they can be shared and
    # serialised outside the lock.
    model: dict[str, Any]
    folder_uid: str | None
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    acl: list[dict[str, Any]] = field(default_factory=list)
    history: list[_Version] = field(default_factory=list)
    # Set when a file provisioner owns the dashboard: (the file's path, whether the UI may save it).
    provisioned: tuple[str, bool] | None = None
    # The /apis version it was last written through; legacy /api saves are v0alpha1 (conversion.py).
    api_version: str = "v0alpha1"
    # The JSON of `model`, kept with the model it encodes: serving 10k large dashboards must not
    # re-encode each one per request.
    _encoded: tuple[dict[str, Any], bytes] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        title = self.model.get("title")
        return title if isinstance(title, str) else ""

    def model_json(self) -> bytes:
        cached = self._encoded
        if cached is not None and cached[0] is self.model:
            return cached[1]
        model = self.model
        data = encode_json(model)
        self._encoded = (model, data)
        return data


@dataclass
class _Folder:
    uid: str
    id: int
    title: str
    parent_uid: str | None
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    resource_version: int
    k8s_uid: str
    description: str = ""
    acl: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _LibraryElement:
    """A library panel (pkg/services/libraryelements/model ``LibraryElement``); kind 1 is a panel."""

    uid: str
    id: int
    name: str
    model: dict[str, Any]
    folder_uid: str | None
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    kind: int = 1

    @property
    def type(self) -> str:
        value = self.model.get("type")
        return value if isinstance(value, str) else ""

    @property
    def description(self) -> str:
        value = self.model.get("description")
        return value if isinstance(value, str) else ""


@dataclass
class _PublicDashboard:
    """A public dashboard (pkg/services/publicdashboards/models ``PublicDashboard``)."""

    uid: str
    dashboard_uid: str
    access_token: str
    is_enabled: bool
    annotations_enabled: bool
    time_selection_enabled: bool
    share: str
    created_by: int
    updated_by: int
    created_at: str
    updated_at: str


@dataclass
class _User:
    id: int
    login: str
    email: str
    name: str
    created: str
    is_admin: bool = False
    service_account: bool = False
    org_id: int = 0  # a service account's one org


@dataclass
class _Team:
    id: int
    uid: str
    org_id: int
    name: str
    email: str
    members: set[int] = field(default_factory=set)


@dataclass
class _Org:
    id: int
    name: str
    folders: dict[str, _Folder] = field(default_factory=dict)
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    teams: dict[int, _Team] = field(default_factory=dict)
    members: dict[int, str] = field(default_factory=dict)
    library: dict[str, _LibraryElement] = field(default_factory=dict)
    # Library element uid -> uids of the dashboards connected to it: the library_element_connection
    # rows that a dashboard save writes (pkg/services/libraryelements/database.go).
    library_links: dict[str, set[str]] = field(default_factory=dict)
    # Dashboard uid -> its public dashboard (one per dashboard, table dashboard_public).
    public: dict[str, _PublicDashboard] = field(default_factory=dict)
    # (folder uid, title) -> dashboard uids: the name-exists check must not scan every dashboard.
    titles: dict[tuple[str | None, str], set[str]] = field(default_factory=dict)
    _dashboard_keys: list[str] | None = None
    _folder_keys: list[str] | None = None

    def dashboard_keys(self) -> list[str]:
        # Cached between writes: paging through 10k dashboards must not re-sort them per page.
        if self._dashboard_keys is None:
            self._dashboard_keys = sorted(self.dashboards)
        return self._dashboard_keys

    def folder_keys(self) -> list[str]:
        if self._folder_keys is None:
            self._folder_keys = sorted(self.folders)
        return self._folder_keys

    def index(self, d: _Dashboard) -> None:
        self.titles.setdefault((d.folder_uid, d.title), set()).add(d.uid)

    def unindex(self, d: _Dashboard) -> None:
        uids = self.titles.get((d.folder_uid, d.title))
        if uids is not None:
            uids.discard(d.uid)
            if not uids:
                del self.titles[(d.folder_uid, d.title)]

    def changed(self) -> None:
        self._dashboard_keys = None
        self._folder_keys = None


def library_uids(model: dict[str, Any]) -> list[str | None]:
    """The ``libraryPanel.uid`` of every panel of a dashboard model, collapsed rows' panels too.

    None stands for a ``libraryPanel`` without a uid ("library panel header is missing required
    property uid", librarypanels.go ``connectLibraryPanelsRecursively``).
    """
    found: list[str | None] = []

    def walk(panels: Any) -> None:
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict):
                continue
            ref = panel.get("libraryPanel")
            if ref is not None:
                uid = ref.get("uid") if isinstance(ref, dict) else None
                found.append(uid if isinstance(uid, str) and uid else None)
            if panel.get("type") == "row":
                walk(panel.get("panels"))

    walk(model.get("panels"))
    # A v2 spec: elements of kind LibraryPanel (v2beta1 ``DashboardLibraryPanelKind``).
    elements = model.get("elements")
    for element in elements.values() if isinstance(elements, dict) else []:
        spec = (
            element.get("spec")
            if isinstance(element, dict) and element.get("kind") == "LibraryPanel"
            else None
        )
        if isinstance(spec, dict):
            ref = spec.get("libraryPanel")
            uid = ref.get("uid") if isinstance(ref, dict) else None
            found.append(uid if isinstance(uid, str) and uid else None)
    return found
