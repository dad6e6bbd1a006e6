"""The restore target for a configured source."""

from __future__ import annotations

from restore.arduino import ArduinoTarget
from restore.grafana import GrafanaTarget
from restore.plan import Target
from sources.config import ArduinoSourceConfig, GrafanaSourceConfig
from storage.model import SnapshotInfo, short_id


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
) -> Target:
    """A `Target` for one configured source."""
    message = restore_message(snapshot)
    if isinstance(config, GrafanaSourceConfig):
        return GrafanaTarget(config, snapshot=snapshot, message=message, org_map=org_map)
    return ArduinoTarget(config, snapshot=snapshot, message=message)
