"""An Arduino dashboard or share list that cannot be read is an item failure: its last entry is kept."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.arduino import ArduinoSandbox
from sandbox.generate import populate_arduino
from tests.arduino_support import arduino_source
from tests.conftest import Cli, write_config


def entries(repo: Path) -> dict[tuple[str, str], dict[str, object]]:
    data = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["kind"], e["key"]): e for e in data["entries"]}


def test_unreadable_dashboard_and_shares_keep_their_last_entries(tmp_path: Path, arduino: ArduinoSandbox):
    ids = populate_arduino(arduino, dashboards=5, spaces=("",), seed=11).dashboards[""]
    unreadable, no_shares, edited = ids[0], ids[1], ids[2]
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    before = entries(tmp_path / "backups")

    arduino.update_dashboard(no_shares, {"name": "Greenhouse, renamed"})
    arduino.update_dashboard(edited, {"name": "Cellar, renamed"})
    arduino.fail_requests[("GET", f"/iot/v3/dashboards/{unreadable}")] = 500
    arduino.fail_requests[("GET", f"/iot/v2/dashboards/{no_shares}/shares")] = 500
    res = cli("backup", "--json")

    assert res.exit_code == 1, res.stderr
    report = res.json()
    assert isinstance(report, dict)
    source = report["sources"]["arduino"]
    assert sorted((f["kind"], f["key"]) for f in source["failures"]) == sorted(
        [("dashboard", unreadable), ("shares", unreadable), ("shares", no_shares)]
    )
    assert all("500" in f["error"] for f in source["failures"])
    # Counted per object read: the unreadable dashboard (its shares follow it) and one shares list.
    assert (source["failed"], source["deleted"], source["changed"]) == (2, 0, 2)
    assert [f["kind"] for f in source["failures"] if f["follows"]] == ["shares"]
    after = entries(tmp_path / "backups")
    assert set(after) == set(before)
    # What could not be read is the last snapshot's entry, unchanged.
    for key in (("dashboard", unreadable), ("shares", unreadable), ("shares", no_shares)):
        assert after[key]["hash"] == before[key]["hash"]
    # What could be read is recorded, even beside a failed share list.
    assert after[("dashboard", no_shares)]["title"] == "Greenhouse, renamed"
    assert after[("dashboard", edited)]["title"] == "Cellar, renamed"
    assert after[("dashboard", no_shares)]["hash"] != before[("dashboard", no_shares)]["hash"]


def test_a_live_dashboard_missing_from_the_listing_is_asked_for_by_id_not_deleted(
    tmp_path: Path, arduino: ArduinoSandbox
):
    ids = populate_arduino(arduino, dashboards=5, spaces=("",), seed=12).dashboards[""]
    hidden, gone = ids[0], ids[1]
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    before = entries(tmp_path / "backups")

    arduino.hidden_from_listing.add(hidden)
    arduino.update_dashboard(hidden, {"name": "Renamed while unlisted"})
    arduino.delete_dashboard(gone)
    res = cli("backup", "--json")

    assert res.exit_code == 0, res.stderr
    source = res.json()["sources"]["arduino"]
    assert (source["deleted"], source["changed"], source["failed"]) == (2, 1, 0)  # gone: dashboard, shares
    after = entries(tmp_path / "backups")
    assert set(after) == set(before) - {("dashboard", gone), ("shares", gone)}
    assert after[("dashboard", hidden)]["title"] == "Renamed while unlisted"
    assert after[("shares", hidden)]["hash"] == before[("shares", hidden)]["hash"]
