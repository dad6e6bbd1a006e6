"""Restoring Arduino IoT Cloud dashboards and shares from a git snapshot into the sandbox.

Driven through `restore.arduino.ArduinoTarget` with `restore.plan.build_plan` / `execute`, the way the
`restore` command drives every target; the last test goes through the command itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dashvault.config import load_config
from restore.arduino import ArduinoTarget, copy_name
from restore.plan import Action, Outcome, PlanItem, Policy, RestorePlan, build_plan, execute
from restore.select import newest_entries, select
from restore.targets import restore_record
from sandbox.arduino import ArduinoSandbox
from sandbox.generate import ArduinoPopulation, populate_arduino
from sources.arduino.models import CLOUD_FLAGS
from sources.config import ArduinoSourceConfig
from storage.git import GitStore
from storage.model import SnapshotInfo
from tests.arduino_support import arduino_source
from tests.conftest import Cli, write_config

SOURCE = "arduino"


@pytest.fixture
def population(arduino: ArduinoSandbox) -> ArduinoPopulation:
    return populate_arduino(arduino, dashboards=12, spaces=("",), seed=11)


@pytest.fixture
def cli(tmp_path: Path, arduino: ArduinoSandbox, population: ArduinoPopulation) -> Cli:
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url, concurrency=4)]))
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    return cli


def restore(
    cli: Cli, policy: Policy = Policy.SKIP, snapshot: SnapshotInfo | None = None, keys: tuple[str, ...] = ()
) -> RestorePlan:
    """What `dashvault restore --source arduino` does: plan against the live space, then execute."""
    config = load_config(cli.config)
    source = config.source(SOURCE)
    store = GitStore(config.storage.path)
    snap = snapshot or store.snapshots()[0]
    selection = select(store.manifest(snap.id), SOURCE, keys=keys)
    newest = newest_entries(store, SOURCE)
    assert isinstance(source, ArduinoSourceConfig)
    known = {e.key for e in store.manifest(snap.id).entries} | {k for _, k in newest}
    target = ArduinoTarget(
        source,
        snapshot=snap,
        message=f"restore of {snap.id[:12]}",
        restored=store.restores(),
        known=known,
    )
    try:
        plan = build_plan(
            snap,
            selection.selected,
            target,
            policy=policy,
            newest=newest,
            concurrency=4,
            include_provisioned=False,
        )
        execute(plan, target, lambda e: store.load(snap.id, e), newest=newest, concurrency=4)
    finally:
        target.close()
        if (record := restore_record(target, snap, SOURCE)) is not None:
            store.record_restore(record)
    return plan


def live_content(arduino: ArduinoSandbox, dashboard_id: str) -> dict[str, Any]:
    """A live dashboard as the sandbox returns it, less what the cloud assigns (dashboard and widget ids,
    times, owner, the flags it computes) and what moves by itself (readings); widgets in layout order,
    links by property id.

    Written out here rather than taken from `sources.arduino.items.dashboard_content`, the function the
    restore itself hashes with, so that a field that function lost would show up as a difference.
    """
    live = arduino.get_dashboard(dashboard_id)
    assert live is not None
    widgets = [
        {
            **{k: v for k, v in widget.items() if k != "id" and k not in CLOUD_FLAGS},
            "variables": sorted(
                (
                    {k: v for k, v in variable.items() if k not in ("last_value", "last_value_updated_at")}
                    for variable in widget["variables"]
                ),
                key=lambda v: v["id"],
            ),
        }
        for widget in live["widgets"]
    ]
    widgets.sort(key=lambda w: (w.get("y", -1), w.get("x", -1), json.dumps(w, sort_keys=True)))
    return {"name": live["name"], "widgets": widgets}


def items(plan: RestorePlan, key: str) -> dict[str, PlanItem]:
    return {i.entry.kind: i for i in plan.items if i.entry.key == key}


def test_deleted_dashboards_come_back_with_new_ids(
    cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation
) -> None:
    linked_and_shared = [
        d for d in population.dashboards[""] if d in population.links and d in population.shares
    ]
    deleted = linked_and_shared[:3]
    assert len(deleted) == 3
    before = {d: live_content(arduino, d) for d in deleted}
    shares_before = {d: set(arduino.shares(d)) for d in deleted}
    for d in deleted:
        arduino.delete_dashboard(d)

    plan = restore(cli)
    mapping: dict[str, str] = {}
    for item in plan.items:
        if item.entry.key not in deleted:
            assert (item.action, item.outcome) == (Action.SKIP, Outcome.SKIPPED), item.as_json()
            continue
        assert item.action is Action.CREATE and item.outcome is Outcome.CREATED, item.as_json()
        if item.entry.kind == "dashboard":
            assert item.new_key is not None and item.new_key != item.entry.key
            assert item.detail == f"old id {item.entry.key} -> new id {item.new_key}"
            mapping[item.entry.key] = item.new_key
    assert set(mapping) == set(deleted)
    for item in plan.items:
        if item.entry.kind == "shares" and item.entry.key in deleted:
            # The shares followed their dashboard to its new id.
            assert item.reason == "follows its restored object"
            assert item.target_key == mapping[item.entry.key]
    assert sorted(arduino.dashboards()) == sorted(
        set(population.dashboards[""]) - set(deleted) | set(mapping.values())
    )
    for old, new in mapping.items():
        # Same name, widgets and variable links (the new widget ids are not part of the content) ...
        assert live_content(arduino, new) == before[old]
        # ... and the same users.
        assert set(arduino.shares(new)) == shares_before[old]
    json_items = plan.as_json()["items"]
    assert {
        i["key"]: i["new_key"] for i in json_items if i["kind"] == "dashboard" and i["new_key"]
    } == mapping

    # Again: each restored dashboard is found by name and content, nothing is created twice.
    arduino.clear_requests()
    again = restore(cli)
    assert {i.outcome for i in again.items} == {Outcome.SKIPPED}
    assert {i.action for i in again.items} == {Action.SKIP}
    assert not arduino.write_requests()
    assert len(arduino.dashboards()) == len(population.dashboards[""])


def test_shares_of_an_earlier_restore_are_completed(
    cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation
) -> None:
    dashboard_id = next(d for d, users in population.shares.items() if len(users) >= 2)
    arduino.delete_dashboard(dashboard_id)
    new_id = items(restore(cli), dashboard_id)["dashboard"].new_key
    assert new_id is not None
    # As if sharing with one user had failed during that restore.
    arduino.remove_share(new_id, population.shares[dashboard_id][0])

    plan = restore(cli)
    found = items(plan, dashboard_id)
    assert found["dashboard"].outcome is Outcome.SKIPPED
    assert found["shares"].action is Action.CREATE and found["shares"].outcome is Outcome.CREATED
    assert found["shares"].detail.endswith(f"on {new_id}")
    assert set(arduino.shares(new_id)) == set(population.shares[dashboard_id])
    assert {i.outcome for i in restore(cli).items} == {Outcome.SKIPPED}


def test_share_removed_live_is_recreated(
    cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation
) -> None:
    config = load_config(cli.config)
    store = GitStore(config.storage.path)
    first = store.snapshots()[0]
    dashboard_id = next(d for d, users in population.shares.items() if len(users) >= 2)
    removed = population.shares[dashboard_id][0]
    arduino.remove_share(dashboard_id, removed)

    # Not backed up since: the live shares changed after the newest snapshot, a conflict.
    plan = restore(cli)
    shares = items(plan, dashboard_id)["shares"]
    assert shares.outcome is Outcome.CONFLICT
    assert removed not in arduino.shares(dashboard_id)

    # Once a backup recorded the removal, restoring the earlier snapshot rolls it back.
    assert cli("backup").exit_code == 0
    plan = restore(cli, snapshot=first)
    shares = items(plan, dashboard_id)["shares"]
    assert shares.action is Action.UPDATE and shares.outcome is Outcome.UPDATED
    assert "shared with" in shares.detail
    assert set(arduino.shares(dashboard_id)) == set(population.shares[dashboard_id])


def test_overwrite_recreates_shares_and_removes_extra_ones(
    cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation
) -> None:
    dashboard_id = next(d for d, users in population.shares.items() if len(users) < len(population.users))
    kept = population.shares[dashboard_id]
    arduino.remove_share(dashboard_id, kept[0])
    extra = next(u for u in population.users.values() if u not in kept)
    arduino.set_share(dashboard_id, extra)

    plan = restore(cli, Policy.OVERWRITE)
    shares = items(plan, dashboard_id)["shares"]
    assert shares.outcome is Outcome.UPDATED
    assert "removed" in shares.detail
    assert set(arduino.shares(dashboard_id)) == set(kept)


def test_link_to_a_deleted_property_is_left_out_and_reported(
    cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation
) -> None:
    dashboard_id = next(d for d, links in population.links.items() if len(set(links)) >= 2)
    gone, *still = list(dict.fromkeys(population.links[dashboard_id]))
    snapshot_content = live_content(arduino, dashboard_id)
    arduino.delete_dashboard(dashboard_id)
    arduino.delete_property(gone)

    plan = restore(cli)
    item = items(plan, dashboard_id)["dashboard"]
    assert item.outcome is Outcome.CREATED
    assert "not linked, the properties no longer exist" in item.detail
    gone_name = next(
        v["name"] for w in snapshot_content["widgets"] for v in w["variables"] if v["id"] == gone
    )
    assert f": {gone_name} (" in item.detail
    new_id = item.new_key
    restored = live_content(arduino, new_id)
    links = {v["id"] for w in restored["widgets"] for v in w["variables"]}
    assert gone not in links and set(still) <= links
    # Everything else is as it was.
    strip = [
        {**w, "variables": [v for v in w["variables"] if v["id"] != gone]}
        for w in snapshot_content["widgets"]
    ]
    assert restored == {**snapshot_content, "widgets": strip}

    # Again: the restored dashboard is found by name (its content differs by the lost link).
    again = restore(cli)
    assert Outcome.CREATED not in {i.outcome for i in again.items}
    assert arduino.dashboards_named(str(snapshot_content["name"])) == [new_id]


def test_update_rolls_back_in_place(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    thing = arduino.add_thing("Boiler")
    pressure = arduino.add_property(thing, "pressure", type="FLOAT", permission="READ_ONLY")
    burner = arduino.add_property(thing, "burner", type="BOOLEAN", variable_name="burner_on")
    dashboard_id = arduino.add_dashboard(
        "Boiler room",
        [
            {
                "type": "gauge",
                "name": "Pressure",
                "options": {"max": 4},
                "x": 0,
                "y": 0,
                "width": 2,
                "height": 2,
                "variables": [pressure],
            },
            {
                "type": "switch",
                "name": "Burner",
                "x": 2,
                "y": 0,
                "width": 2,
                "height": 1,
                "variables": [burner],
            },
        ],
    )
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    first = GitStore(load_config(cli.config).storage.path).snapshots()[0]
    gauge = arduino.get_dashboard(dashboard_id)["widgets"][0]
    arduino.update_dashboard(
        dashboard_id, {"name": "Edited", "widgets": [{**gauge, "variables": [], "options": {"edited": True}}]}
    )
    assert cli("backup").exit_code == 0

    plan = restore(cli, snapshot=first)
    item = items(plan, dashboard_id)["dashboard"]
    assert item.action is Action.UPDATE and item.outcome is Outcome.UPDATED
    assert item.new_key is None
    assert item.detail == f"updated {dashboard_id}"
    # The same dashboard, as it was when the first snapshot was taken; the gauge kept its widget id.
    assert live_content(arduino, dashboard_id) == {
        "name": "Boiler room",
        "widgets": [
            {
                "type": "gauge",
                "name": "Pressure",
                "options": {"max": 4},
                "x": 0,
                "y": 0,
                "width": 2,
                "height": 2,
                "variables": [
                    {
                        "id": pressure,
                        "name": "pressure",
                        "thing_id": thing,
                        "thing_name": "Boiler",
                        "type": "FLOAT",
                        "permission": "READ_ONLY",
                        "variable_name": "pressure",
                    }
                ],
            },
            {
                "type": "switch",
                "name": "Burner",
                "options": {},
                "x": 2,
                "y": 0,
                "width": 2,
                "height": 1,
                "variables": [
                    {
                        "id": burner,
                        "name": "burner",
                        "thing_id": thing,
                        "thing_name": "Boiler",
                        "type": "BOOLEAN",
                        "permission": "READ_WRITE",
                        "variable_name": "burner_on",
                    }
                ],
            },
        ],
    }
    assert arduino.get_dashboard(dashboard_id)["widgets"][0]["id"] == gauge["id"]


def test_conflict_copy_is_made_once(cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation) -> None:
    config = load_config(cli.config)
    snap = GitStore(config.storage.path).snapshots()[0]
    dashboard_id = next(d for d in population.shares if d in population.links)
    original = live_content(arduino, dashboard_id)
    arduino.update_dashboard(dashboard_id, {"name": str(original["name"]) + " (edited)"})

    plan = restore(cli, Policy.COPY)
    found = items(plan, dashboard_id)
    dash = found["dashboard"]
    assert dash.action is Action.CONFLICT and dash.outcome is Outcome.COPIED
    copy_id = dash.new_key
    name = copy_name(str(original["name"]), snap)
    assert name.endswith(f"(restored {snap.time:%Y-%m-%d %H:%M} UTC)")
    assert live_content(arduino, copy_id) == {**original, "name": name}
    # The shares follow the copy; the edited live dashboard is left alone.
    assert found["shares"].outcome is Outcome.CREATED
    assert set(arduino.shares(copy_id)) == set(population.shares[dashboard_id])
    assert live_content(arduino, dashboard_id)["name"] == str(original["name"]) + " (edited)"

    again = restore(cli, Policy.COPY)
    dash = items(again, dashboard_id)["dashboard"]
    assert dash.outcome is Outcome.SKIPPED and dash.new_key == copy_id
    assert arduino.dashboards_named(name) == [copy_id]


def test_a_same_named_dashboard_from_before_the_snapshot_is_not_taken_for_the_restore(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    twin_a = arduino.add_dashboard("Twins", [{"type": "value", "name": "Reading", "options": {}}])
    twin_b = arduino.add_dashboard("Twins", [{"type": "value", "name": "Reading", "options": {}}])
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.delete_dashboard(twin_a)

    plan = restore(cli)
    assert items(plan, twin_a)["dashboard"].outcome is Outcome.CREATED
    assert items(plan, twin_b)["dashboard"].outcome is Outcome.SKIPPED
    assert len(arduino.dashboards_named("Twins")) == 2
    assert Outcome.CREATED not in {i.outcome for i in restore(cli).items}


def _board(unit: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "name": "Temperature",
            "options": {"unit": unit},
            "x": 0,
            "y": 0,
            "width": 1,
            "height": 1,
        }
    ]


def test_among_same_named_dashboards_the_one_with_the_snapshot_content_is_the_earlier_restore(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    original = arduino.add_dashboard("Boiler", _board("C"))
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.delete_dashboard(original)
    # After the snapshot someone starts a board of their own, under another name for now ...
    other = arduino.add_dashboard("Boiler draft", _board("F"))
    created = items(restore(cli), original)["dashboard"]
    assert created.outcome is Outcome.CREATED
    restored = created.new_key
    assert restored is not None
    # ... and then gives it the same name: two dashboards named like the snapshot's, both unknown to it,
    # the other one listed first. The restore record says which one is the earlier restore.
    arduino.update_dashboard(other, {"name": "Boiler"})
    assert arduino.dashboards_named("Boiler") == [other, restored]
    arduino.clear_requests()

    again = restore(cli)

    found = items(again, original)
    assert (found["dashboard"].action, found["dashboard"].outcome) == (Action.SKIP, Outcome.SKIPPED)
    assert found["dashboard"].live is not None and found["dashboard"].live.token["id"] == restored
    assert (found["shares"].action, found["shares"].outcome) == (Action.SKIP, Outcome.SKIPPED)
    assert arduino.write_requests() == []
    assert arduino.dashboards_named("Boiler") == [other, restored]
    assert live_content(arduino, other)["widgets"][0]["options"] == {"unit": "F"}


def test_among_same_named_dashboards_none_of_which_is_the_restore_a_new_one_is_created(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    original = arduino.add_dashboard("Boiler", _board("C"))
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.delete_dashboard(original)
    # Two dashboards of that name made by hand after the snapshot, neither with its content.
    first, second = arduino.add_dashboard("Boiler", _board("F")), arduino.add_dashboard("Boiler", _board("K"))

    plan = restore(cli)

    dashboard = items(plan, original)["dashboard"]
    assert (dashboard.action, dashboard.outcome) == (Action.CREATE, Outcome.CREATED)
    new = dashboard.new_key
    assert new is not None and new not in (first, second)
    assert arduino.dashboards_named("Boiler") == [first, second, new]
    assert live_content(arduino, new)["widgets"] == [
        {
            "type": "value",
            "name": "Temperature",
            "options": {"unit": "C"},
            "x": 0,
            "y": 0,
            "width": 1,
            "height": 1,
            "variables": [],
        }
    ]
    assert [live_content(arduino, d)["widgets"][0]["options"] for d in (first, second)] == [
        {"unit": "F"},
        {"unit": "K"},
    ]
    # The restore is recognised from then on, among the three.
    assert {i.outcome for i in restore(cli).items} == {Outcome.SKIPPED}
    assert arduino.dashboards_named("Boiler") == [first, second, new]


def test_cli_restore_json_maps_old_ids_to_new(
    cli: Cli, arduino: ArduinoSandbox, population: ArduinoPopulation
) -> None:
    deleted = population.dashboards[""][:2]
    for d in deleted:
        arduino.delete_dashboard(d)
    res = cli("restore", "--source", SOURCE, "--json")
    assert res.exit_code == 0, res.stderr
    out = res.json()
    assert isinstance(out, dict)
    [plan] = out["plans"]
    created = {i["key"]: i for i in plan["items"] if i["kind"] == "dashboard" and i["outcome"] == "created"}
    assert set(created) == set(deleted)
    for key, item in created.items():
        assert item["detail"] == f"old id {key} -> new id {item['new_key']}"
        assert arduino.get_dashboard(item["new_key"]) is not None

    res = cli("restore", "--source", SOURCE, "--json")
    assert res.exit_code == 0, res.stderr
    again = res.json()
    assert isinstance(again, dict)
    assert set(again["plans"][0]["counts"]) == {"skipped"}
    arduino.delete_dashboard(created[deleted[0]]["new_key"])
    dry = cli("restore", "--source", SOURCE, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    planned = dry.json()
    assert isinstance(planned, dict)
    assert planned["plans"][0]["counts"]["create"] == 2  # the dashboard and its shares, nothing written
    assert arduino.dashboards_named(created[deleted[0]]["title"]) == []
