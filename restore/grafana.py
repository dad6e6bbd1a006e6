"""GrafanaTarget: reads live Grafana objects for the plan and replays snapshot items into Grafana.

Writes use Grafana's own optimistic concurrency: legacy updates carry the live `version` (412
`version-mismatch` if someone saved meanwhile), /apis updates carry the live `resourceVersion`
(409). Either is reported to the executor as a `StaleWrite`, which re-plans the item.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from restore.plan import Action, Live, Outcome, PlanItem, Policy, StaleWrite
from sources.config import GrafanaSourceConfig
from sources.errors import ResponseError, SourceError
from sources.grafana.client import GrafanaClient, NotLegacyError
from sources.grafana.items import (
    dashboard_item_apis,
    dashboard_item_legacy,
    folder_item,
    is_v2,
    library_panel_item,
    library_panel_uids,
    permissions_item,
    public_dashboard_item,
)
from sources.grafana.library import (
    CONNECT_FAILED,
    create_library_panel,
    library_panel,
    library_panels,
    update_library_panel,
)
from sources.grafana.public import (
    create_public_dashboard,
    delete_public_dashboard,
    public_dashboard,
    update_public_dashboard,
)
from storage.hashing import entry_for
from storage.model import Entry, SnapshotInfo

# Grafana's limit on uid length.
MAX_UID = 40

T = TypeVar("T")


def split_key(key: str) -> tuple[int, str]:
    org, _, uid = key.partition("/")
    return int(org), uid


def copy_uid(uid: str) -> str:
    """A fresh uid for a restored copy, recognisably derived from the original."""
    suffix = "-r" + secrets.token_hex(3)
    return uid[: MAX_UID - len(suffix)] + suffix


class GrafanaTarget:
    """One Grafana source as a restore target; `org_map` remaps orgs for migrations (`--to`)."""

    def __init__(
        self,
        config: GrafanaSourceConfig,
        *,
        snapshot: SnapshotInfo,
        message: str,
        org_map: dict[int, int] | None = None,
    ) -> None:
        self.config = config
        self.client = GrafanaClient(config)
        self.snapshot = snapshot
        self.message = message
        self.org_map = org_map or {}
        self.api = self.client.resolve_api()
        # (kind, target key) of objects the prefetch listing did not show; trusted once, so a
        # re-plan after a refused write reads the object itself.
        self._absent: set[tuple[str, str]] = set()
        # Users and teams looked up for ACLs: one request per login or team, not per ACL entry.
        # Permissions are applied concurrently: a lookup in flight is waited for, not repeated.
        self._users: dict[tuple[int, str], int | None] = {}
        self._teams: dict[tuple[int, str | None, str | None], int | None] = {}
        self._libraries: dict[tuple[int, str], bool] = {}
        self._lookup_locks: dict[tuple[object, ...], threading.Lock] = {}
        self._lookup_guard = threading.Lock()

    @property
    def name(self) -> str:
        return self.config.name

    def close(self) -> None:
        self.client.close()

    def target_key(self, entry: Entry) -> str:
        org, uid = split_key(entry.key)
        return f"{self.org_map.get(org, org)}/{uid}"

    # -- live state ---------------------------------------------------------------------------

    def prefetch(self, keys: list[tuple[str, str]]) -> None:
        """List the folders and dashboards of the orgs concerned; what is not listed is taken as absent.

        An object the listing missed (created meanwhile, hidden by a paging race) is only assumed
        missing: creating it is refused (409/412), and the re-plan reads it.
        """
        listed = ("folder", "dashboard", "library-panel")
        orgs = {split_key(key)[0] for kind, key in keys if kind in (*listed, "permissions")}
        existing: dict[tuple[str, int], set[str]] = {}
        try:
            for org in sorted(orgs):
                for kind, search in (("folder", "dash-folder"), ("dashboard", "dash-db")):
                    existing.setdefault((kind, org), set()).update(self.client.search_uids(org, search))
                if any(kind == "library-panel" for kind, _ in keys):
                    uids = {str(e["uid"]) for e in library_panels(self.client, org)}
                    existing.setdefault(("library-panel", org), set()).update(uids)
        except SourceError:
            return  # no listing: every object is read by itself, as without a prefetch
        objects = {(kind, f"{org}/{uid}") for (kind, org), uids in existing.items() for uid in uids}
        absent_objects = {
            key for kind, key in keys if kind in ("folder", "dashboard") and (kind, key) not in objects
        }
        self._absent = {(kind, key) for kind, key in keys if kind in listed} - objects
        # Permissions of an object that does not exist do not exist either.
        riders = ("permissions", "public-dashboard")
        self._absent |= {(kind, key) for kind, key in keys if kind in riders and key in absent_objects}

    def live(self, entry: Entry, target_key: str) -> Live | None:
        if (entry.kind, target_key) in self._absent:
            self._absent.discard((entry.kind, target_key))
            return None
        org, uid = split_key(target_key)
        if entry.kind == "folder":
            data = self.client.folder(org, uid)
            if data is None:
                return None
            return Live(
                entry_for(folder_item(self.name, org, data))[0].hash, {"version": data.get("version")}
            )
        if entry.kind == "dashboard":
            through = self._version_for(str(entry.meta.get("apiVersion") or ""))
            if through is None:
                try:
                    data = self.client.dashboard(org, uid)
                except NotLegacyError as exc:  # stored in the v2 schema now: it differs
                    through = self._version_for(exc.version)
                else:
                    if data is None:
                        return None
                    version = (data.get("dashboard") or {}).get("version")
                    item = dashboard_item_legacy(self.name, org, data)
                    return Live(entry_for(item)[0].hash, {"version": version})
            res = self.client.resource(org, uid, through)
            if res is None:
                return None
            md = res.get("metadata") or {}
            token = {"resourceVersion": md.get("resourceVersion"), "version": md.get("generation")}
            return Live(entry_for(dashboard_item_apis(self.name, org, res))[0].hash, token)
        if entry.kind == "library-panel":
            element = library_panel(self.client, org, uid)
            if element is None:
                return None
            item = library_panel_item(self.name, org, element)
            return Live(entry_for(item)[0].hash, {"version": element.get("version")})
        if entry.kind == "public-dashboard":
            data = public_dashboard(self.client, org, uid)
            if data is None:
                return None
            item = public_dashboard_item(self.name, org, data, title=entry.title)
            return Live(
                entry_for(item)[0].hash, {"uid": data.get("uid"), "accessToken": data.get("accessToken")}
            )
        if entry.kind == "permissions":
            kind = str(entry.meta.get("object") or "dashboard")
            raw = self.client.permissions(org, kind, uid)
            if raw is None:  # no object, no ACL; an empty own ACL is one, as a backup records it
                return None
            item = permissions_item(self.name, org, kind, uid, title=entry.title, raw=raw)
            return Live(entry_for(item)[0].hash)
        raise SourceError(f"{self.name}: cannot restore items of kind {entry.kind!r}")

    # -- writes -------------------------------------------------------------------------------

    def apply(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        kind = item.entry.kind
        if kind == "folder":
            self._folder(item, content, policy)
        elif kind == "library-panel":
            self._library_panel(item, content, policy)
        elif kind == "dashboard":
            self._dashboard(item, content, policy)
        elif kind == "permissions":
            self._permissions(item, content)
        elif kind == "public-dashboard":
            self._public_dashboard(item, content, policy)
        else:
            raise SourceError(f"{self.name}: cannot restore items of kind {kind!r}")

    def _folder(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        org, uid = split_key(item.target_key)
        title, parent = str(content.get("title") or uid), str(content.get("parentUid") or "")
        if item.action is Action.CREATE:
            status, body = self.client.create_folder(org, uid, title, parent)
            if status in (409, 412):
                raise StaleWrite(_message(body, "the folder was created meanwhile"))
            item.outcome = Outcome.CREATED
            return
        if item.action is Action.CONFLICT and policy is Policy.COPY:
            # A folder is a place, not a document: a copy would empty nothing and confuse everyone.
            item.outcome, item.detail = Outcome.CONFLICT, "folders are not copied; kept the live folder"
            return
        live = item.live.token if item.live else {}
        status, body = self.client.update_folder(
            org, uid, title, version=live.get("version"), overwrite=policy is Policy.OVERWRITE
        )
        if status in (409, 412):
            raise StaleWrite(_message(body, "the folder changed meanwhile"))
        current = self.client.folder(org, uid) or {}
        if (current.get("parentUid") or "") != parent:
            self.client.move_folder(org, uid, parent)
        item.outcome = Outcome.UPDATED

    def _library_panel(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        org, uid = split_key(item.target_key)
        name, folder = str(content.get("name") or uid), str(content.get("folderUid") or "")
        model = dict(content.get("model") or {})
        if item.action is Action.CONFLICT and policy is Policy.COPY:
            # Dashboards name a library panel by uid: a copy under another uid would be used by none.
            item.outcome = Outcome.CONFLICT
            item.detail = "library panels are not copied; kept the live one"
            return
        if item.action is Action.CREATE:
            status, body = create_library_panel(self.client, org, uid, name, model, folder)
            if status == 400:  # the uid, or the name in that folder, is taken: look again
                raise StaleWrite(_message(body, "a library panel with that name or uid exists"))
            item.outcome = Outcome.CREATED
            return
        version = (item.live.token if item.live else {}).get("version")
        status, body = update_library_panel(self.client, org, uid, name, model, folder, version=version)
        if status in (400, 412):
            raise StaleWrite(_message(body, "the library panel changed meanwhile"))
        item.outcome = Outcome.UPDATED

    def _version_for(self, recorded: str) -> str | None:
        """The /apis version to read and write a dashboard recorded as ``recorded``; None: legacy.

        A v2-schema dashboard goes through its own version (the nearest served); with ``api =
        "apis"`` the others through the version they were read in, or as saved (v0alpha1).
        """
        if is_v2(recorded):
            version = self.client.v2_version(recorded)
            if version is None:
                raise SourceError(f"{self.name}: the dashboard is stored as {recorded}, which is not served")
            return version
        if self.api != "apis":
            return None
        return recorded if recorded in self.client.served_versions() else self.client.read_version()

    def _dashboard(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        org, uid = split_key(item.target_key)
        model = dict(content.get("dashboard") or {})
        folder = str(content.get("folderUid") or "")
        through = self._version_for(str(content.get("apiVersion") or ""))
        copy = item.action is Action.CONFLICT and policy is Policy.COPY
        if copy:
            uid = copy_uid(uid)
            when = self.snapshot.time.strftime("%Y-%m-%d %H:%M UTC")
            model["title"] = f"{model.get('title') or uid} (restored {when})"
        if not is_v2(through or ""):
            model["uid"] = uid  # a v2 spec has no uid: metadata.name is the uid
        missing = [u for u in library_panel_uids(model) if not self._library_panel_exists(org, u)]
        if through is not None:
            try:
                self._dashboard_apis(
                    item,
                    org,
                    uid,
                    model,
                    folder,
                    create=copy or item.action is Action.CREATE,
                    version=through,
                )
            except ResponseError as exc:
                # Legacy storage connects the library panels after the save, and its error is the
                # apiserver's 500 (pkg/registry/apis/dashboard/legacy/sql_dashboards.go).
                if exc.status != 500 or not missing:
                    raise
                item.outcome = Outcome.INCOMPLETE
        else:
            self._dashboard_legacy(item, org, uid, model, folder, copy=copy, policy=policy)
        if copy and item.outcome is not Outcome.INCOMPLETE:
            item.outcome, item.new_key = Outcome.COPIED, f"{org}/{uid}"
            item.detail = f"restored as {uid} beside the live dashboard"
        if missing and item.outcome in (Outcome.CREATED, Outcome.UPDATED, Outcome.COPIED):
            item.outcome = Outcome.INCOMPLETE
        if item.outcome is Outcome.INCOMPLETE:
            item.new_key = f"{org}/{uid}" if copy else None
            item.detail = (
                f"saved, but its library panels {', '.join(missing) or '(unknown)'} are in neither the "
                "snapshot nor Grafana: those panels show as missing"
            )

    def _library_panel_exists(self, org: int, uid: str) -> bool:
        """Whether the target has the library panel now (asked once per uid; restored ones come first)."""
        return self._once(
            self._libraries, (org, uid), lambda: library_panel(self.client, org, uid) is not None
        )

    def _dashboard_legacy(
        self,
        item: PlanItem,
        org: int,
        uid: str,
        model: dict[str, Any],
        folder: str,
        *,
        copy: bool,
        policy: Policy,
    ) -> None:
        model["id"] = None
        create = copy or item.action is Action.CREATE
        overwrite = not create and item.action is Action.CONFLICT and policy is Policy.OVERWRITE
        if create:
            model.pop("version", None)
        else:
            model["version"] = (item.live.token if item.live else {}).get("version")
        status, body = self.client.save_dashboard(
            org, model, folder, message=self.message, overwrite=overwrite
        )
        if status == 500:
            # pkg/api/dashboard.go ``postDashboard``: saved, then its library panels not connected.
            if _message(body, "") != CONNECT_FAILED:
                raise SourceError(f"{self.name}: saving dashboard {uid} answered 500: {_message(body, '')}")
            item.outcome = Outcome.INCOMPLETE
            return
        if status == 409:
            raise StaleWrite(_message(body, "the dashboard changed meanwhile"))
        if status == 412:
            reason = body.get("status") if isinstance(body, dict) else None
            if reason == "name-exists":
                other = self.client.find_dashboard_uid(org, str(model.get("title")), folder)
                item.outcome = Outcome.CONFLICT
                item.detail = (
                    f"a dashboard titled {model.get('title')!r} already exists in folder "
                    f"{folder or 'General'!r} as uid {other or '?'} (snapshot uid {uid})"
                )
                return
            raise StaleWrite(_message(body, "the dashboard changed meanwhile"))
        item.outcome = Outcome.CREATED if create else Outcome.UPDATED

    def _dashboard_apis(
        self,
        item: PlanItem,
        org: int,
        uid: str,
        model: dict[str, Any],
        folder: str,
        *,
        create: bool,
        version: str,
    ) -> None:
        model.pop("id", None)
        if create:
            status, body = self.client.create_resource(
                org, uid, model, folder, message=self.message, version=version
            )
        else:
            rv = str((item.live.token if item.live else {}).get("resourceVersion") or "")
            status, body = self.client.update_resource(
                org, uid, model, folder, message=self.message, resource_version=rv, version=version
            )
        if status == 409:
            raise StaleWrite(_message(body, "the dashboard changed meanwhile"))
        item.outcome = Outcome.CREATED if create else Outcome.UPDATED

    def _public_dashboard(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        """Create it with its uid and access token (the same public URL), or set the live one's switches.

        A live one with another access token is replaced: a patch cannot change the token.
        """
        org, dashboard_uid = split_key(item.target_key)
        settings = dict(content)
        if item.target_key != self.target_key(item.entry):
            # It follows a copy of its dashboard: the original keeps the uid and the URL.
            settings.pop("uid", None)
            settings.pop("accessToken", None)
        live = item.live.token if item.live else None
        if live is not None and item.action is Action.CONFLICT and policy is Policy.COPY:
            item.outcome, item.detail = (
                Outcome.CONFLICT,
                "public dashboards are not copied; kept the live one",
            )
            return
        if live is not None and live.get("accessToken") == settings.get("accessToken"):
            update_public_dashboard(self.client, org, dashboard_uid, str(live.get("uid")), settings)
            item.outcome = Outcome.UPDATED
            return
        if live is not None:
            delete_public_dashboard(self.client, org, dashboard_uid, str(live.get("uid")))
        status, body = create_public_dashboard(self.client, org, dashboard_uid, settings)
        if status == 400:
            if isinstance(body, dict) and body.get("messageId") == "publicdashboards.dashboardIsPublic":
                raise StaleWrite(_message(body, "the dashboard was made public meanwhile"))
            raise SourceError(
                f"{self.name}: public dashboard of {dashboard_uid}: {_message(body, 'refused (400)')}"
            )
        item.outcome = Outcome.UPDATED if live is not None else Outcome.CREATED

    def _permissions(self, item: PlanItem, content: dict[str, Any]) -> None:
        org, uid = split_key(item.target_key)
        items: list[dict[str, Any]] = []
        missing: list[str] = []
        for acl in content.get("items") or []:
            permission = acl.get("permission")
            if acl.get("role"):
                items.append({"role": acl["role"], "permission": permission})
            elif acl.get("userLogin"):
                user = self._user_id(org, str(acl["userLogin"]))
                if user is None:
                    missing.append(f"user {acl['userLogin']!r}")
                else:
                    items.append({"userId": user, "permission": permission})
            elif acl.get("teamUid") or acl.get("team"):
                team = self._team_id(org, acl.get("teamUid"), acl.get("team"))
                if team is None:
                    missing.append(f"team {acl.get('team') or acl.get('teamUid')!r}")
                else:
                    items.append({"teamId": team, "permission": permission})
        self.client.set_permissions(org, str(content.get("object") or "dashboard"), uid, items)
        item.outcome = Outcome.CREATED if item.live is None else Outcome.UPDATED
        if missing:
            item.detail = "skipped entries for " + ", ".join(missing) + " (no longer exist)"

    def _user_id(self, org: int, login: str) -> int | None:
        return self._once(self._users, (org, login), lambda: self.client.user_id(org, login))

    def _team_id(self, org: int, uid: str | None, name: str | None) -> int | None:
        return self._once(self._teams, (org, uid, name), lambda: self.client.team_id(org, uid, name))

    def _once(self, cache: dict[Any, T], key: tuple[Any, ...], fetch: Callable[[], T]) -> T:
        """`cache[key]`, fetched by the first thread that asks; the others wait for its answer."""
        with self._lookup_guard:
            lock = self._lookup_locks.setdefault((id(cache), *key), threading.Lock())
        with lock:
            if key not in cache:
                cache[key] = fetch()
            return cache[key]


def _message(body: Any, default: str) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return default
