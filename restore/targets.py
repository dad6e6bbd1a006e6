"""The restore target for a configured source."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from restore.arduino import ArduinoTarget
from restore.grafana import GrafanaTarget
from restore.plan import Target
from sources.config import ArduinoSourceConfig, GrafanaSourceConfig
from storage.model import SnapshotInfo, short_id
from storage.restores import RestoredIds, RestoreRecord


def restore_message(snapshot: SnapshotInfo) -> str:
    """The version-history message every restore write carries."""
    when = snapshot.time.strftime("%Y-%m-%d %H:%M UTC")
    return f"restored by dashvault from snapshot {short_id(snapshot.id)} ({when})"


def org_map_for(source: GrafanaSourceConfig, target: GrafanaSourceConfig, orgs: set[int]) -> dict[int, int]:
    """Org remapping for `--to`: into a target with one org, everything goes to that org."""
    if source.name == target.name or target.orgs == "all" or len(target.orgs) != 1:
        return {}
    return dict.fromkeys(orgs, target.orgs[0])


def make_target(
    config: GrafanaSourceConfig | ArduinoSourceConfig,
    *,
    snapshot: SnapshotInfo,
    org_map: dict[int, int] | None = None,
    restored: RestoredIds | None = None,
    origin: str | None = None,
    known: Iterable[str] = (),
) -> Target:
    """A `Target` for one configured source; `restored`, `origin` and `known` are for targets that give
    restored objects new ids (Arduino: storage/restores.py)."""
    message = restore_message(snapshot)
    if isinstance(config, GrafanaSourceConfig):
        return GrafanaTarget(config, snapshot=snapshot, message=message, org_map=org_map)
    return ArduinoTarget(
        config, snapshot=snapshot, message=message, restored=restored, origin=origin, known=known
    )


def restore_record(target: Target, snapshot: SnapshotInfo, origin: str) -> RestoreRecord | None:
    """The record of what a restore into `target` put under new ids (None if nothing)."""
    new_ids = list(getattr(target, "new_ids", []))
    if not new_ids:
        return None
    return RestoreRecord(
        time=datetime.now(UTC), snapshot=snapshot.id, source=origin, target=target.name, ids=new_ids
    )
