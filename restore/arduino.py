"""ArduinoTarget: reads live Arduino IoT Cloud dashboards for the plan and replays snapshot items.

The cloud assigns a dashboard's id: a restored dashboard gets a new one, reported as `old id -> new id`
and written to the store as a restore record (storage/restores.py), as are the copies of
`--on-conflict copy`. A later restore finds a dashboard under the snapshot's id, else under the ids
restores recorded for it (newest first), else, when no record says (a restore cut short before it
wrote its record), a dashboard of the same name and the same content that no snapshot knows: an
earlier restore's work, never someone's own dashboard. So restoring twice creates nothing the second
time, and copying twice makes one copy.

Widget variable links are re-applied with the link endpoint after each write; properties that no
longer exist are left out and named in the item's detail, as are widget options that name them. Shares
are added back; live shares the snapshot does not have are removed only with `--on-conflict overwrite`.
The shares of a dashboard found under a new id are compared with the snapshot as if under its old id;
when they differ they are planned as missing (users added back).

Dashboards are written through v3 (pages) where the cloud serves it; a snapshot's dashboard with pages
is not written to a cloud that serves only v2, which would flatten it: the item fails and says why.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from restore.plan import Action, Live, Outcome, PlanItem, Policy, StaleWrite
from sources.arduino.client import ArduinoClient
from sources.arduino.items import dashboard_content, shares_content, widget_content
from sources.arduino.models import MAIN_PAGE, Dashboard, DashboardInput, PageInput, Widget, WidgetInput
from sources.config import ArduinoSourceConfig
from sources.errors import ResponseError
from storage.hashing import canonical, content_hash
from storage.model import Entry, SnapshotInfo
from storage.restores import RestoredId, RestoredIds

__all__ = ["ArduinoTarget", "copy_name"]

log = logging.getLogger("dashvault.restore.arduino")

# Statuses with which the link endpoint refuses a property that does not exist (any more).
MISSING_PROPERTY = (400, 404, 422)


#: `dashboardv2.name` maxLength.
NAME_MAX = 64


def copy_name(name: str, snapshot: SnapshotInfo, key: str = "") -> str:
    """The name of a restored copy, `<name> (restored <snapshot time>)`, within the cloud's 64 characters:
    a long name is cut, and then marked with the start of the old id so that cut names stay apart."""
    suffix = f" (restored {_utc(snapshot.time):%Y-%m-%d %H:%M} UTC)"
    if len(name) + len(suffix) <= NAME_MAX:
        return name + suffix
    mark = f"~{key[:6]}" if key else "~"
    return name[: NAME_MAX - len(suffix) - len(mark)].rstrip() + mark + suffix


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _signature(widget: dict[str, Any]) -> bytes:
    """What identifies a widget across writes: everything but its id and its links."""
    return canonical({k: v for k, v in widget.items() if k != "variables"})


def match_widgets(wanted: Sequence[dict[str, Any]], live: Sequence[Widget]) -> list[str | None]:
    """The live widget id for each wanted widget content: same signature first, then by position."""
    pool: dict[bytes, list[str]] = {}
    for w in live:
        pool.setdefault(_signature(widget_content(w)), []).append(w.id)
    out: list[str | None] = []
    for content in wanted:
        ids = pool.get(_signature(content))
        out.append(ids.pop(0) if ids else None)
    used = {i for i in out if i is not None}
    rest = [w.id for w in live if w.id not in used]
    for n, found in enumerate(out):
        if found is None and rest:
            out[n] = rest.pop(0)
    return out


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _describe(widget: dict[str, Any], variable: dict[str, Any]) -> str:
    label = widget.get("name") or widget.get("type")
    thing = variable.get("thing_name") or variable.get("thing_id")
    return f"widget {label!r}: {variable.get('name') or variable.get('id')} ({thing})"


class ArduinoTarget:
    """One Arduino IoT Cloud source (account or shared space) as a restore target."""

    def __init__(
        self,
        config: ArduinoSourceConfig,
        *,
        snapshot: SnapshotInfo,
        message: str,
        client: ArduinoClient | None = None,
        restored: RestoredIds | None = None,
        origin: str | None = None,
        known: Iterable[str] = (),
    ) -> None:
        self.config = config
        self.snapshot = snapshot
        #: The store's restore records, and the source the snapshot's items came from (another with --to).
        self.restored = restored or RestoredIds([])
        self.origin = origin or config.name
        #: Dashboard ids some snapshot knows as its own items: never taken for an earlier restore's work.
        self.known = set(known)
        #: What this restore put under new ids, for its restore record.
        self.new_ids: list[RestoredId] = []
        # Arduino keeps no version history to write it into; it goes to the log.
        self.message = message
        self.client = client or ArduinoClient(config)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._listing: list[Dashboard] | None = None
        self._resolved: dict[str, str | None] = {}
        self._moved_shares: dict[str, str] = {}

    @property
    def name(self) -> str:
        """The configured source name."""
        return self.config.name

    def target_key(self, entry: Entry) -> str:
        """Keys stay the snapshot's dashboard ids; where they live now is found by `live`."""
        return entry.key

    def close(self) -> None:
        """Close the client."""
        self.client.close()

    # -- reading live state ---------------------------------------------------------------------

    def live(self, entry: Entry, target_key: str) -> Live | None:
        """The live dashboard (or its shares) for a snapshot entry; `token["id"]` is its live id."""
        if entry.kind == "dashboard":
            found = self._find_dashboard(target_key, entry.title, entry.hash)
            if found is None:
                return None
            return Live(content_hash(dashboard_content(found)), {"id": found.id, "dashboard": found})
        if entry.kind == "shares":
            dashboard_id = self._find_dashboard_id(target_key, entry.title)
            shares = self.client.list_shares(dashboard_id) if dashboard_id is not None else None
            if dashboard_id is None or shares is None:
                return None
            # Compared as if under the snapshot's id: a dashboard restored under a new id keeps its hash.
            live_hash = content_hash(shares_content(target_key, shares))
            if dashboard_id != target_key and live_hash != entry.hash:
                # No backup knows these shares under this key yet: they are restored as missing ones
                # (users added, none removed), not held back as a conflict.
                with self._lock:
                    self._moved_shares[target_key] = dashboard_id
                return None
            return Live(live_hash, {"id": dashboard_id})
        return None

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _find_dashboard(self, key: str, name: str, want_hash: str) -> Dashboard | None:
        # Held through the search so the shares of the same key wait for this (better) answer.
        with self._key_lock(key):
            found = self._search(key, name, want_hash)
            self._resolved[key] = found.id if found is not None else None
            return found

    def _find_dashboard_id(self, key: str, name: str) -> str | None:
        with self._key_lock(key):
            if key in self._resolved:
                return self._resolved[key]
            found = self._search(key, name, None)
            return found.id if found is not None else None

    def _search(self, key: str, name: str, want_hash: str | None) -> Dashboard | None:
        direct = self.client.show_dashboard(key)
        if direct is not None:
            return direct
        for placed in self.restored.placed(self.name, self.origin, "dashboard", key):
            found = self.client.show_dashboard(placed)
            if found is not None:
                return found
        if want_hash is None:
            return None
        # No record names it: an earlier restore cut short before writing its record leaves a dashboard
        # of this name and content that no snapshot knows. Anything else is someone's own dashboard.
        for listed in sorted(self._list(), key=lambda d: d.id):
            if listed.name != name or listed.id == key or listed.id in self.known:
                continue
            shown = self.client.show_dashboard(listed.id)
            if shown is not None and content_hash(dashboard_content(shown)) == want_hash:
                return shown
        return None

    def _list(self) -> list[Dashboard]:
        with self._lock:
            if self._listing is None:
                self._listing = self.client.list_dashboards()
            return self._listing

    # -- writing --------------------------------------------------------------------------------

    def apply(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        """Write one planned item; sets `item.outcome`, `item.detail` and (new dashboards) `item.new_key`."""
        if item.entry.kind == "dashboard":
            self._apply_dashboard(item, content, policy)
        elif item.entry.kind == "shares":
            self._apply_shares(item, content, policy)
        else:
            item.outcome = Outcome.FAILED
            item.detail = f"{self.name}: items of kind {item.entry.kind!r} cannot be restored to Arduino"

    def _apply_dashboard(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        key = item.target_key
        pages = list(content.get("pages") or [])
        if (
            pages
            and self.client.api == "v2"
            and not (item.action is Action.CONFLICT and policy is Policy.SKIP)
        ):
            item.outcome = Outcome.FAILED
            item.detail = (
                f"{self.name}: the snapshot's dashboard has {len(pages)} pages and this cloud serves no "
                "/iot/v3 (pages): a v2 write would flatten it, not restored"
            )
            return
        if item.action is Action.CREATE:
            created, note = self._create(content, str(content["name"]))
            item.new_key = created.id
            self._record(RestoredId(kind="dashboard", key=key, id=created.id))
            item.outcome = Outcome.CREATED
            item.detail = f"old id {key} -> new id {created.id}{note}"
            log.info(
                "dashboard restored under a new id",
                extra={"source": self.name, "key": key, "new_id": created.id, "restore": self.message},
            )
            return
        if item.action is Action.CONFLICT and policy is Policy.COPY:
            self._copy(item, content)
            return
        if item.action is Action.CONFLICT and policy is not Policy.OVERWRITE:
            item.outcome = Outcome.CONFLICT
            item.detail = f"{item.reason}; kept the live version (--on-conflict {policy.value})"
            return
        assert item.live is not None
        live_id = str(item.live.token["id"])
        current = self.client.show_dashboard(live_id)
        if current is None:
            raise StaleWrite(f"dashboard {live_id} was deleted")
        if content_hash(dashboard_content(current)) != item.live.hash:
            raise StaleWrite(f"dashboard {live_id} was changed")
        body = self._input(content, str(content["name"]), current.widgets)
        updated = self.client.update_dashboard(live_id, body)
        note = self._link(updated, content)
        item.outcome = Outcome.UPDATED
        where = f"updated {live_id}" if live_id == key else f"updated {live_id} (restored earlier from {key})"
        item.detail = where + note

    def _record(self, restored: RestoredId) -> None:
        with self._lock:
            self.new_ids.append(restored)

    def _copy(self, item: PlanItem, content: dict[str, Any]) -> None:
        key = item.entry.key
        name = copy_name(str(content["name"]), self.snapshot, key)
        want = content_hash({**content, "name": name})
        earlier = self.restored.copies(self.name, self.origin, self.snapshot.id, key)
        found = next((d for i in earlier if (d := self.client.show_dashboard(i)) is not None), None)
        if found is None:
            # No record (a restore cut short): a dashboard of the copy's name and content no snapshot knows.
            for listed in sorted(self.client.list_dashboards(name=name), key=lambda d: d.id):
                if listed.name != name or listed.id in self.known:
                    continue
                shown = self.client.show_dashboard(listed.id)
                if shown is not None and content_hash(dashboard_content(shown)) == want:
                    found = shown
                    break
        if found is not None:
            item.new_key = found.id
            item.outcome = Outcome.SKIPPED
            item.detail = f"already copied from this snapshot as {found.id} ({found.name!r})"
            return
        created, note = self._create(content, name)
        item.new_key = created.id
        self._record(RestoredId(kind="dashboard", key=key, id=created.id, copied=True))
        item.outcome = Outcome.COPIED
        live_id = item.live.token["id"] if item.live is not None else item.target_key
        item.detail = f"copy {created.id} ({name!r}) beside {live_id}{note}"

    def _create(self, content: dict[str, Any], name: str) -> tuple[Dashboard, str]:
        created = self.client.create_dashboard(self._input(content, name, []))
        return created, self._link(created, content)

    @staticmethod
    def _input(content: dict[str, Any], name: str, live: Sequence[Widget]) -> DashboardInput:
        """A write body from stored content; widgets keep the live ids they match (new ones get fresh ids,
        as the client sets them)."""
        widgets: list[dict[str, Any]] = list(content.get("widgets") or [])
        ids = match_widgets(widgets, live)
        body = []
        for widget, found in zip(widgets, ids, strict=True):
            fields = {k: v for k, v in widget.items() if k != "variables"}
            fields.setdefault("page_id", MAIN_PAGE)
            # Links are set afterwards through the link endpoint, where a missing property can be told apart.
            body.append(WidgetInput.model_validate({**fields, "id": found or str(uuid.uuid4())}))
        pages = [PageInput.model_validate(p) for p in content.get("pages") or []]
        return DashboardInput(name=name, cover_image=content.get("cover_image"), widgets=body, pages=pages)

    def _link(self, dashboard: Dashboard, content: dict[str, Any]) -> str:
        """Give each widget of a written dashboard its snapshot links; returns a note on those left out."""
        widgets: list[dict[str, Any]] = list(content.get("widgets") or [])
        ids = match_widgets(widgets, dashboard.widgets)
        linked_now = {w.id: sorted(v.id for v in w.variables) for w in dashboard.widgets}
        missing: list[str] = []
        for widget, widget_id in zip(widgets, ids, strict=True):
            variables: list[dict[str, Any]] = list(widget.get("variables") or [])
            want = [str(v["id"]) for v in variables]
            if widget_id is None:
                missing.extend(
                    f"{_describe(widget, v)} (widget not found after the write)" for v in variables
                )
                continue
            if linked_now.get(widget_id, []) == sorted(want):
                continue
            try:
                self.client.link_widget_variables(dashboard.id, widget_id, want)
                continue
            except ResponseError as exc:
                if exc.status not in MISSING_PROPERTY:
                    raise
            # One by one, to tell the properties that still exist from those that are gone.
            kept: list[str] = []
            for v in variables:
                try:
                    self.client.link_widget_variables(dashboard.id, widget_id, [str(v["id"])])
                    kept.append(str(v["id"]))
                except ResponseError as exc:
                    if exc.status not in MISSING_PROPERTY:
                        raise
                    missing.append(_describe(widget, v))
            self.client.link_widget_variables(dashboard.id, widget_id, kept)
            gone = {str(v["id"]) for v in variables if str(v["id"]) not in kept}
            named = sorted(gone & set(_strings(widget.get("options"))))
            if named:
                # Options of charts over several variables and image maps name properties by id
                # (arduino-cloud-cli internal/template/filter.go rewrites them): left as they were.
                missing.append(
                    f"widget {widget.get('name') or widget.get('type')!r}: options name {', '.join(named)}"
                )
        if not missing:
            return ""
        log.warning(
            "widget variables not linked: the properties no longer exist",
            extra={"source": self.name, "dashboard": dashboard.id, "unlinked": missing},
        )
        return f"; not linked, the properties no longer exist: {', '.join(missing)}"

    def _apply_shares(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        if item.action is Action.CONFLICT and policy is not Policy.OVERWRITE:
            item.outcome = Outcome.CONFLICT
            item.detail = f"{item.reason}; kept the live shares (--on-conflict {policy.value})"
            return
        if item.live is not None:
            dashboard_id = str(item.live.token["id"])
        else:
            with self._lock:
                dashboard_id = self._moved_shares.get(item.target_key, item.target_key)
        live = self.client.list_shares(dashboard_id)
        if live is None:
            item.outcome = Outcome.FAILED
            item.detail = f"{self.name}: dashboard {dashboard_id} does not exist"
            return
        have = {s.user_id for s in live}
        users: list[dict[str, Any]] = list(content.get("users") or [])
        added: list[str] = []
        refused: list[str] = []
        for user in users:
            user_id, username = str(user["user_id"]), user.get("username")
            if user_id in have:
                continue
            try:
                self.client.share_dashboard(dashboard_id, user_id, username)
                added.append(username or user_id)
            except ResponseError as exc:
                if exc.status not in (400, 404):
                    raise
                refused.append(f"{username or user_id} ({exc.message})")
        removed: list[str] = []
        if policy is Policy.OVERWRITE:
            wanted = {str(u["user_id"]) for u in users}
            for share in live:
                if share.user_id not in wanted and self.client.delete_share(dashboard_id, share.user_id):
                    removed.append(share.username or share.user_id)
        parts = [f"shared with {', '.join(added)}"] if added else []
        parts += [f"removed {', '.join(removed)}"] if removed else []
        parts += [f"could not share with {', '.join(refused)}"] if refused else []
        where = f" on {dashboard_id}" if dashboard_id != item.entry.key else ""
        item.detail = ("; ".join(parts) or "all users already had access") + where
        if refused:
            item.outcome = Outcome.FAILED
        else:
            item.outcome = Outcome.CREATED if item.action is Action.CREATE else Outcome.UPDATED
