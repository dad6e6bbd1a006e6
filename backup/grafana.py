"""GrafanaCollector: folders, dashboards and permissions of every configured org of one Grafana."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from backup.collector import ItemFailure, ListingIncomplete, Result, SourceWarning, Unchanged
from backup.pool import pooled
from sources.config import GrafanaSourceConfig
from sources.errors import AccessDeniedError, ResponseError, SourceError
from sources.grafana import answers
from sources.grafana.client import GrafanaClient, stored_v2_version
from sources.grafana.items import (
    api_version,
    conversion,
    dashboard_item_apis,
    dashboard_item_legacy,
    folder_item,
    is_v2,
    library_panel_item,
    permissions_item,
    public_dashboard_item,
    reduced,
    stored_version,
)
from sources.grafana.library import library_panel, library_panels
from sources.grafana.public import PublicDashboardsOff, public_dashboard, public_dashboards
from storage.model import Entry, Item

log = logging.getLogger("dashvault.backup")

_NOTHING_KNOWN: Mapping[tuple[str, str], Entry] = MappingProxyType({})

# One object's read: what it yields (the object, what rides on it, or its failure).
Task = Callable[[], list[Result]]


class GrafanaCollector:
    """Collects folders, dashboards and permissions of every configured org of one Grafana."""

    def __init__(self, config: GrafanaSourceConfig, client: GrafanaClient | None = None) -> None:
        self.config = config
        self.client = client or GrafanaClient(config)
        self.api_used = ""
        self._previous: Mapping[tuple[str, str], Entry] = {}
        # Set at the first 403 on a permissions read: the token cannot read ACLs at all (a Viewer's
        # or an Editor's). Later objects' ACLs are not asked for, and every one is carried forward.
        self._acl_denied = False
        self._acl_lock = threading.Lock()

    @property
    def source(self) -> str:
        return self.config.name

    def resolve_api(self) -> str:
        return self.client.resolve_api()

    def collect(self, known: Mapping[tuple[str, str], Entry] = _NOTHING_KNOWN) -> Iterator[Result]:
        """Yield every item; `known` entries that the listing misses are re-checked one by one.

        An /apis dashboard whose resourceVersion is that of its entry is `Unchanged`.
        """
        self._previous = known
        known_set = set(known)
        try:
            self.api_used = self.resolve_api()
            for org in self.client.org_ids():
                yield from self._collect_org(org, known_set)
        finally:
            self.client.close()

    def _collect_org(self, org: int, known: set[tuple[str, str]]) -> Iterator[Result]:
        def folders() -> Iterator[tuple[str, Task]]:
            return ((uid, self._folder_task(org, uid)) for uid in self.client.search_uids(org, "dash-folder"))

        # Parents a search did not return (permissions, paging races) are fetched on the way.
        yield from self._listed(org, "folder", known, folders, lambda uid: self._folder_task(org, uid))
        yield from self._library_panels(org, known)

        yield from self._public_dashboards(org, known)
        if self.api_used == "apis":

            def resources() -> Iterator[tuple[str, Task]]:
                for res in self.client.list_resources(org):
                    yield str(res["metadata"]["name"]), self._resource_task(org, res)

            yield from self._listed(
                org, "dashboard", known, resources, lambda uid: self._resource_task(org, None, uid)
            )
        else:

            def searched() -> Iterator[tuple[str, Task]]:
                return (
                    (uid, self._dashboard_task(org, uid)) for uid in self.client.search_uids(org, "dash-db")
                )

            yield from self._listed(
                org, "dashboard", known, searched, lambda uid: self._dashboard_task(org, uid)
            )

    def _listed(
        self,
        org: int,
        kind: str,
        known: set[tuple[str, str]],
        listing: Callable[[], Iterator[tuple[str, Task]]],
        by_uid: Callable[[str], Task],
    ) -> Iterator[Result]:
        """Every object a listing names, then those of the last snapshot it missed, asked for by uid.

        A listing is trusted only when it is consistent: if an object it missed is alive, items
        created since the last snapshot may be missing from it too (a short page, a paging race, an
        empty answer), and nothing could tell. So it is listed again once; what that listing adds is
        read, and an object alive but missing again marks the source incomplete (no deletions, exit 1).
        """
        listed: list[str] = []

        def first() -> Iterator[Task]:
            for uid, task in listing():
                listed.append(uid)
                yield task

        yield from self._pooled(first())
        alive: set[str] = set()
        lock = threading.Lock()

        def recheck(uid: str) -> Task:
            task = by_uid(uid)

            def run() -> list[Result]:
                out = task()
                if any(isinstance(r, Item | Unchanged) and r.kind == kind for r in out):
                    with lock:
                        alive.add(uid)
                return out

            return run

        yield from self._pooled(recheck(uid) for uid in _missing(known, kind, f"{org}/", listed))
        if not alive:
            return
        log.warning(
            "listing missed live objects, listing again",
            extra={
                "event": "listing.relist",
                "source": self.source,
                "org": org,
                "kind": kind,
                "missed": len(alive),
            },
        )
        done = set(listed) | alive
        again: set[str] = set()

        def second() -> Iterator[Task]:
            for uid, task in listing():
                again.add(uid)
                if uid not in done:
                    done.add(uid)
                    yield task

        yield from self._pooled(second())
        still = sorted(alive - again)
        if still:
            yield ListingIncomplete(
                f"{self.source}: the {kind} listing of org {org} is unreliable: {len(still)} {kind}s "
                f"missing from it twice are alive (e.g. {still[0]}); deletions not recorded"
            )

    def _library_panels(self, org: int, known: set[tuple[str, str]]) -> Iterator[Result]:
        """Library panels come whole in their listing; only those it missed are asked for by uid."""
        listed: list[str] = []
        for data in library_panels(self.client, org):
            listed.append(str(data["uid"]))
            yield library_panel_item(self.source, org, data)

        def recheck(uid: str) -> Callable[[], list[Result]]:
            def run() -> list[Result]:
                data = library_panel(self.client, org, uid)
                return [] if data is None else [library_panel_item(self.source, org, data)]

            return lambda: self._failing("library-panel", org, uid, run, riders=())

        yield from self._pooled(recheck(uid) for uid in _missing(known, "library-panel", f"{org}/", listed))

    def _public_dashboards(self, org: int, known: set[tuple[str, str]]) -> Iterator[Result]:
        """Public dashboards: listed, then each read for its settings; those the listing missed
        are asked for by dashboard before they are called deleted."""
        prefix = f"{org}/"
        try:
            listed = {
                str(p["dashboardUid"]): str(p.get("title") or "") for p in public_dashboards(self.client, org)
            }
        except PublicDashboardsOff as exc:
            # Switched off, or a proxy's 404: say nothing is gone, keep what was there.
            yield from (
                ItemFailure(k, key, exc.message)
                for k, key in known
                if k == "public-dashboard" and key.startswith(prefix)
            )
            return
        previous = {
            key[len(prefix) :]: key for k, key in known if k == "public-dashboard" and key.startswith(prefix)
        }

        def task(dashboard_uid: str, title: str) -> Callable[[], list[Result]]:
            def run() -> list[Result]:
                data = public_dashboard(self.client, org, dashboard_uid)
                if data is None:
                    return []
                old = self._previous.get(("public-dashboard", f"{org}/{dashboard_uid}"))
                name = title or (old.title if old is not None else "")
                return [public_dashboard_item(self.source, org, data, title=name)]

            return lambda: self._failing("public-dashboard", org, dashboard_uid, run, riders=())

        uids = {**dict.fromkeys(previous, ""), **listed}
        yield from self._pooled(task(uid, title) for uid, title in sorted(uids.items()))

    def _pooled(self, tasks: Iterable[Callable[[], list[Result]]]) -> Iterator[Result]:
        return pooled(tasks, limit=self.config.concurrency, name=self.source)

    def _failing(
        self,
        kind: str,
        org: int,
        uid: str,
        fn: Callable[[], list[Result]],
        riders: tuple[str, ...] = ("permissions",),
    ) -> list[Result]:
        # An object we could not read also leaves what rides on it unknown: all keep their last state.
        try:
            return fn()
        except SourceError as exc:
            key = f"{org}/{uid}"
            out: list[Result] = [ItemFailure(kind, key, exc.message)]
            return out + [ItemFailure(k, key, exc.message, follows=kind) for k in riders]

    def _folder_task(self, org: int, uid: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            data = self.client.folder(org, uid)
            if data is None:
                return []  # deleted since it was listed
            item = folder_item(self.source, org, data)
            return [item, *self._permissions(org, "folder", uid, item.title)]

        return lambda: self._failing("folder", org, uid, run)

    def _permissions(self, org: int, kind: str, uid: str, title: str) -> list[Result]:
        """The object's own ACL as an item: every object has one, an empty list too.

        An empty own list is a fact to restore, not an absence: Grafana gives a new object default
        entries (the creator Admin; Editor and Viewer at the root), which a restore must remove.
        """
        key = f"{org}/{uid}"
        if self._acl_denied:
            return [Unchanged("permissions", key)]
        try:
            raw = self.client.permissions(org, kind, uid)
        except AccessDeniedError:
            with self._acl_lock:
                first, self._acl_denied = not self._acl_denied, True
            if not first:
                return [Unchanged("permissions", key)]
            return [Unchanged("permissions", key), SourceWarning(_acl_denied_warning(self.source, kind))]
        except SourceError as exc:
            return [ItemFailure("permissions", key, exc.message)]
        if raw is None:
            # The object was read a moment ago: a 404 for its ACL says nothing about the ACL.
            why = f"{self.source}: permissions of {kind} {uid} answered 404 although the {kind} was just read"
            return [ItemFailure("permissions", key, why)]
        return [permissions_item(self.source, org, kind, uid, title=title, raw=raw)]

    def _dashboard_task(self, org: int, uid: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            key = f"{org}/{uid}"
            old = self._previous.get(("dashboard", key))
            known = old.meta.get("digest") if old is not None and old.meta.get("api") == "legacy" else None
            # Always given (empty: nothing to match), so the response's digest is computed once, here.
            res = self.client.dashboard_response(org, uid, known if isinstance(known, str) else "")
            if res is None:
                return []
            if res.status == 406:  # stored in the v2 schema: only /apis serves it
                return self._resource_task(org, None, uid, stored=stored_v2_version(res.body))()
            if res.same and old is not None:
                # Byte for byte the response the last snapshot was made from: nothing to parse or hash.
                return [Unchanged("dashboard", key), *self._permissions(org, "dashboard", uid, old.title)]
            data = answers.dashboard(res.body, uid)
            item = dashboard_item_legacy(self.source, org, data, digest=res.digest)
            return [item, *self._permissions(org, "dashboard", uid, item.title)]

        return lambda: self._failing("dashboard", org, uid, run)

    def _resource_task(
        self, org: int, res: dict[str, Any] | None, uid: str = "", stored: str = ""
    ) -> Callable[[], list[Result]]:
        name = uid if res is None else str(res["metadata"]["name"])

        def run() -> list[Result]:
            data = res if res is not None else self.client.resource(org, name, stored or None)
            if data is None:
                return []
            key = f"{org}/{name}"
            want = self._read_version(name, stored or stored_version(data))
            old = self._previous.get(("dashboard", key))
            if old is not None and old.meta.get("apiVersion") == want and same_version(old, data):
                # Same resourceVersion, same object, read the same way: no need to build and hash
                # it again. The ACL is not part of the resource, so it is still read.
                return [Unchanged("dashboard", key), *self._permissions(org, "dashboard", name, old.title)]
            if api_version(data) != want:
                data = self.client.resource(org, name, want)
                if data is None:
                    return []
            if reduced(data):
                data = self.client.resource_whole(org, name, want)
                if data is None:
                    return []
            item = dashboard_item_apis(self.source, org, whole(data, name, want))
            return [item, *self._permissions(org, "dashboard", name, item.title)]

        return lambda: self._failing("dashboard", org, name, run)

    def _read_version(self, name: str, stored: str) -> str:
        """The version to read a dashboard through: its own if it is stored in the v2 schema."""
        if not is_v2(stored):
            return self.client.read_version()
        version = self.client.v2_version(stored)
        if version is None:
            raise ResponseError(
                f"{self.source}: dashboard {name} is stored as {stored}, which the server does not serve"
            )
        return version


def whole(data: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    """The resource, if it is the whole dashboard as stored: never one converted with loss or reduced.

    A read whose ``status.conversion.failed`` is set has a partial or default spec (conversion.go
    ``normalizeConversion``); one still reduced has only a large dashboard's title and tags.
    """
    problem = None
    if api_version(data) != version or str((data.get("metadata") or {}).get("name")) != name:
        problem = f"answered {data.get('apiVersion')} {(data.get('metadata') or {}).get('name')!r}"
    elif conversion(data).get("failed"):
        problem = f"its conversion failed: {conversion(data).get('error') or 'no reason given'}"
    elif reduced(data):
        problem = "its spec came reduced (a large object) even through /dto"
    if problem is not None:
        raise ResponseError(f"dashboard {name} read through {version}: {problem}")
    return data


# What names one object and one version of it on /apis: with legacy SQL storage (Grafana's
# pkg/registry/apis/dashboard/legacy/sql_dashboards.go `scanRow`) resourceVersion and generation are
# the dashboard's version and metadata.uid is a hash of its name (pkg/services/apiserver/utils/uids.go
# `CalculateClusterWideUID`), so a dashboard deleted and created again shows 1/1 and the same uid;
# only its creationTimestamp and its new row id (the deprecatedInternalID label) tell. Unified
# storage gives a unique resourceVersion and a real uid, and may leave the other two out.
_REQUIRED = ("resourceVersion", "generation", "uid")
_IDENTITY = (*_REQUIRED, "created", "internalId")


def _acl_denied_warning(source: str, kind: str) -> str:
    return (
        f"{source}: the token may not read permissions (403 on a {kind}'s permissions); they are "
        "carried forward from the last snapshot. Grant dashboards.permissions:read and "
        "folders.permissions:read (the org Admin role has both) to back them up"
    )


def same_version(entry: Entry, res: dict[str, Any]) -> bool:
    """Whether a resource is the very object and version an entry read through /apis recorded.

    The identifying fields must be equal and the required ones present; a doubt is read as a change.
    """
    md = res.get("metadata") or {}
    live = {
        "resourceVersion": md.get("resourceVersion"),
        "generation": md.get("generation"),
        "uid": md.get("uid"),
        "created": md.get("creationTimestamp"),
        "internalId": (md.get("labels") or {}).get("grafana.app/deprecatedInternalID"),
    }
    return (
        entry.meta.get("api") == "apis"
        and all(live[k] not in (None, "") for k in _REQUIRED)
        and all(entry.meta.get(k) == live[k] for k in _IDENTITY)
    )


def _missing(known: set[tuple[str, str]], kind: str, prefix: str, listed: list[str]) -> list[str]:
    """Uids the previous snapshot had that this listing did not return: checked before calling them gone."""
    have = set(listed)
    return sorted(
        key[len(prefix) :]
        for k, key in known
        if k == kind and key.startswith(prefix) and key[len(prefix) :] not in have
    )
