"""RestorePlan: what a restore would do to each item, decided from the snapshot and the live state.

The plan compares every selected snapshot item with the live object of the target:
- missing live: **create**;
- identical content hash: **skip**;
- different, and the live content is what the newest snapshot of the target holds (nobody changed
  it since the last backup, so nothing unsaved is lost): **update**, i.e. roll back;
- different otherwise: **conflict**, resolved by the `--on-conflict` policy: skip (report), overwrite
  (update anyway), copy (restore beside it), fail (write nothing at all).

Source-specific work (reading live objects, writing them) is done by a `Target`; the plan only
decides and orders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from storage.gcpolicy import bulk_json
from storage.model import Entry, SnapshotInfo, kind_rank

log = logging.getLogger("dashvault.restore")


class Action(StrEnum):
    """What the plan decided for an item."""

    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"
    CONFLICT = "conflict"


class Policy(StrEnum):
    """What to do with a conflict (`--on-conflict`)."""

    SKIP = "skip"
    OVERWRITE = "overwrite"
    COPY = "copy"
    FAIL = "fail"


class Outcome(StrEnum):
    """What a real run did with an item."""

    PLANNED = "planned"
    CREATED = "created"
    UPDATED = "updated"
    COPIED = "copied"
    SKIPPED = "skipped"
    CONFLICT = "conflict"
    #: Written, but not whole: what it needs is missing (a dashboard's library panels).
    INCOMPLETE = "incomplete"
    FAILED = "failed"


@dataclass(frozen=True)
class Live:
    """The live object as the target sees it: its content hash (as a backup would compute it) and
    whatever the target needs to write over it safely (version, resourceVersion, ...)."""

    hash: str
    token: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanItem:
    """One snapshot item and what to do with it."""

    entry: Entry
    target_key: str
    action: Action
    reason: str
    live: Live | None = None
    #: Selected only to make room for another item (a parent folder): created if missing, never updated.
    dependency: bool = False
    outcome: Outcome = Outcome.PLANNED
    detail: str = ""
    #: Where the item ended up when it differs from `target_key` (a copy's new uid, Arduino's new id).
    new_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.entry.source,
            "kind": self.entry.kind,
            "key": self.entry.key,
            "target_key": self.target_key,
            "title": self.entry.title,
            "hash": self.entry.hash,
            "action": self.action.value,
            "reason": self.reason,
            "dependency": self.dependency,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "new_key": self.new_key,
        }


class Target(Protocol):
    """A live source to restore into: reads live state and writes items."""

    @property
    def name(self) -> str: ...

    def target_key(self, entry: Entry) -> str:
        """The item's key in this target (org remapping for migrations)."""

    def live(self, entry: Entry, target_key: str) -> Live | None:
        """The live object for a snapshot entry, or None if it does not exist."""

    def apply(self, item: PlanItem, content: dict[str, Any], policy: Policy) -> None:
        """Write one planned item; sets `item.outcome`, `item.detail` and `item.new_key`."""

    def close(self) -> None: ...


@runtime_checkable
class Prefetching(Protocol):
    """A target that can list what exists in bulk, so `live` need not ask for each missing object."""

    def prefetch(self, keys: list[tuple[str, str]]) -> None:
        """Learn which of these (kind, target key) objects exist before `live` is asked about them."""


@dataclass
class RestorePlan:
    """The ordered list of plan items of one restore, and its policy."""

    snapshot: SnapshotInfo
    target: str
    policy: Policy
    items: list[PlanItem]

    @property
    def conflicts(self) -> list[PlanItem]:
        return [i for i in self.items if i.action is Action.CONFLICT]

    def counts(self) -> dict[str, int]:
        """Items per outcome once the plan has run, per planned action before."""
        executed = any(i.outcome is not Outcome.PLANNED for i in self.items)
        out: dict[str, int] = {}
        for i in self.items:
            value = i.outcome.value if executed else i.action.value
            out[value] = out.get(value, 0) + 1
        return out

    @property
    def failed(self) -> bool:
        return any(i.outcome in (Outcome.FAILED, Outcome.INCOMPLETE) for i in self.items)

    def as_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.id,
            "snapshot_time": self.snapshot.time.isoformat(),
            "target": self.target,
            "policy": self.policy.value,
            "counts": self.counts(),
            "items": [i.as_json() for i in self.items],
        }


def order_key(entry: Entry, depth: Callable[[Entry], int]) -> tuple[int, int, str]:
    """Folders first (parents before children), then dashboards, then permissions and shares."""
    return (kind_rank(entry.kind), depth(entry) if entry.kind == "folder" else 0, entry.key)


def classify(
    entry: Entry, live: Live | None, newest: Entry | None, *, dependency: bool = False
) -> tuple[Action, str]:
    """The plan's rule for one item; `newest` is the target's entry in its newest snapshot."""
    if live is None:
        return Action.CREATE, "missing"
    if live.hash == entry.hash:
        return Action.SKIP, "identical"
    if dependency:
        return Action.SKIP, "exists (not selected)"
    if newest is not None and newest.hash == live.hash:
        return Action.UPDATE, "live matches the newest snapshot"
    return Action.CONFLICT, "changed since the newest snapshot"


def build_plan(
    snapshot: SnapshotInfo,
    selected: Iterable[Entry],
    target: Target,
    *,
    policy: Policy,
    newest: dict[tuple[str, str], Entry],
    dependencies: Iterable[Entry] = (),
    depth: Callable[[Entry], int] = lambda e: 0,
    concurrency: int,
    include_provisioned: bool,
) -> RestorePlan:
    """Read the live state of every item (concurrently) and classify it.

    `newest` maps (kind, target key) to the target's entries in its newest snapshot.
    """
    wanted = [(e, False) for e in selected] + [(e, True) for e in dependencies]
    wanted.sort(key=lambda pair: order_key(pair[0], depth))
    if isinstance(target, Prefetching):
        # After a wipe most objects are missing: a listing says so for all of them at once.
        target.prefetch([(e.kind, target.target_key(e)) for e, _ in wanted])

    def plan_one(pair: tuple[Entry, bool]) -> PlanItem:
        entry, dep = pair
        key = target.target_key(entry)
        live = target.live(entry, key)
        action, reason = classify(entry, live, newest.get((entry.kind, key)), dependency=dep)
        provisioned = entry.meta.get("provisioned")
        if provisioned is not None and not include_provisioned and action is not Action.SKIP:
            # Grafana refuses to save over a provisioned dashboard and recreates it from its file; a
            # copy in another instance would lose that link silently.
            action = Action.SKIP
            reason = (
                f"provisioned from {provisioned or 'a file'}: its provisioning restores it "
                "(--include-provisioned restores it as an ordinary dashboard)"
            )
        return PlanItem(entry=entry, target_key=key, action=action, reason=reason, live=live, dependency=dep)

    # The pools' size and names are left unmutated (README "Mutation testing"): a larger pool runs the
    # same reads, as the target's connections cap what is in flight (sources/grafana/client.py).
    with ThreadPoolExecutor(max(1, concurrency), "plan") as pool:  # pragma: no mutate
        items = list(pool.map(plan_one, wanted))
    return RestorePlan(snapshot=snapshot, target=target.name, policy=policy, items=items)


def replan(item: PlanItem, target: Target, newest: Entry | None) -> Action:
    """Re-read one item after the target refused a write as stale (412/409) and classify it again."""
    item.live = target.live(item.entry, item.target_key)
    item.action, item.reason = classify(item.entry, item.live, newest, dependency=item.dependency)
    log.info(
        "re-planned after a concurrent change",
        extra={"event": "restore.replan", "key": item.target_key, "action": item.action.value},
    )
    return item.action


class StaleWrite(Exception):
    """Raised by a target when the live object changed between plan and write (412 / 409)."""

    @property
    def detail(self) -> str:
        """The server's reason, as the target read it."""
        return str(self)


def _stages(items: list[PlanItem], depth: Callable[[Entry], int]) -> list[list[PlanItem]]:
    """Groups that may run concurrently: folders one depth level at a time, then each kind."""
    stages: dict[tuple[int, int], list[PlanItem]] = {}
    for item in items:
        rank, level, _ = order_key(item.entry, depth)
        stages.setdefault((rank, level), []).append(item)
    return [stages[k] for k in sorted(stages)]


OBJECT_KINDS = ("folder", "dashboard")
# Items that ride on the object of the same key: written after it, and only if it is there.
RIDER_KINDS = ("permissions", "public-dashboard", "shares")


def execute(
    plan: RestorePlan,
    target: Target,
    load: Callable[[Entry], dict[str, Any]],
    *,
    newest: dict[tuple[str, str], Entry],
    depth: Callable[[Entry], int] = lambda e: 0,
    concurrency: int,
) -> None:
    """Carry out a plan stage by stage (parents before children, objects before their ACLs)."""
    moved: dict[str, str] = {}  # target key of an object -> where it really went (copy, new id)
    failed_objects: set[str] = set()

    def run_one(item: PlanItem) -> None:
        if item.entry.kind in RIDER_KINDS:
            if item.target_key in failed_objects:
                item.outcome, item.detail = Outcome.SKIPPED, "its object was not restored"
                return
            if item.target_key in moved:
                item.target_key, item.action, item.live = moved[item.target_key], Action.CREATE, None
                item.reason = "follows its restored object"
        if item.action is Action.SKIP:
            item.outcome, item.detail = Outcome.SKIPPED, item.reason
            if item.entry.kind in OBJECT_KINDS and item.live is None:
                failed_objects.add(item.target_key)  # left missing: nothing to give permissions to
            return
        if item.action is Action.CONFLICT and plan.policy is Policy.SKIP:
            item.outcome, item.detail = Outcome.CONFLICT, f"{item.reason}; kept the live version"
            return
        # Whether the object was missing when planned (its permissions were planned on that): a re-plan
        # may find one that someone else created meanwhile, not ours to give the snapshot's permissions.
        planned_missing = item.live is None
        try:
            content = load(item.entry)
        except Exception as exc:  # a corrupt blob fails this item, never the whole restore
            item.outcome, item.detail = Outcome.FAILED, str(exc)
            if item.entry.kind in OBJECT_KINDS and planned_missing:
                failed_objects.add(item.target_key)  # nothing to give permissions to
            return
        # Not mutated: a third attempt would never run, as the second refusal breaks out.
        for attempt in range(2):  # pragma: no mutate
            try:
                target.apply(item, content, plan.policy)
                break
            except StaleWrite as exc:
                if (
                    replan(item, target, newest.get((item.entry.kind, item.target_key))) is Action.SKIP
                ):  # now identical, or a parent someone else created
                    item.outcome, item.detail = Outcome.SKIPPED, f"{item.reason} (changed while restoring)"
                    # Not mutated: `return` does the same, as what follows acts only on failed,
                    # conflicting or moved objects.
                    break  # pragma: no mutate
                if attempt == 1 or (item.action is Action.CONFLICT and plan.policy is Policy.SKIP):
                    item.outcome = Outcome.CONFLICT
                    item.detail = f"changed while restoring ({exc.detail}); kept the live version"
                    break
            except Exception as exc:
                item.outcome, item.detail = Outcome.FAILED, str(exc)
                break
        if item.entry.kind in OBJECT_KINDS:
            if item.outcome in (Outcome.FAILED, Outcome.CONFLICT) and planned_missing:
                failed_objects.add(item.target_key)
            if item.new_key and item.new_key != item.target_key:
                moved[item.target_key] = item.new_key

    with (
        bulk_json(),
        ThreadPoolExecutor(max(1, concurrency), "restore") as pool,  # pragma: no mutate
    ):
        for stage in _stages(plan.items, depth):
            list(pool.map(run_one, stage))
    for item in plan.items:
        if item.outcome in (Outcome.FAILED, Outcome.INCOMPLETE):
            log.warning(
                "restore failed",
                extra={
                    "event": "restore.failed",
                    "source": plan.target,
                    "key": item.target_key,
                    "error": item.detail,
                },
            )
