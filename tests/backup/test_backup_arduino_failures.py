"""An Arduino dashboard or share list that cannot be read is an item failure: its last entry is kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.arduino import ArduinoSandbox
from sandbox.generate import populate_arduino
from tests.arduino_support import arduino_source
from tests.conftest import Cli, write_config
from tests.faultproxy import FaultProxy, started


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
    assert [(f["kind"], f["key"], f["follows"]) for f in source["failures"] if f["follows"]] == [
        ("shares", unreadable, "dashboard")
    ]
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


@pytest.fixture
def proxy(arduino: ArduinoSandbox) -> Iterator[FaultProxy]:
    """A hostile proxy in front of the Arduino sandbox."""
    yield from started(arduino.url)


@pytest.mark.parametrize(
    ("fault", "options"),
    [("html", {"status": 404}), ("json", {"status": 404, "body": {}}), ("body_of", {})],
    ids=["HTML 404", "JSON 404 without the cloud's error", "another dashboard's body"],
)
def test_a_dashboard_read_that_is_not_the_clouds_answer_deletes_nothing(
    tmp_path: Path, arduino: ArduinoSandbox, proxy: FaultProxy, fault: str, options: dict[str, object]
) -> None:
    ids = populate_arduino(arduino, dashboards=4, spaces=("",), seed=12).dashboards[""]
    target, other = ids[0], ids[1]
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(proxy.url)]))
    assert cli("backup").exit_code == 0
    before = entries(tmp_path / "backups")
    if fault == "body_of":
        options = {"other_path": f"/iot/v3/dashboards/{other}"}

    def without_target(page: list[dict[str, object]]) -> list[dict[str, object]]:
        return [d for d in page if d["id"] != target]

    # Left out of the listing, so that the re-check by id decides; and that re-check is answered by
    # something that is not the cloud.
    proxy.add("rewrite", r"^/iot/v3/dashboards(\?|$)", times=None, rewrite=without_target)
    proxy.add(fault, f"^/iot/v3/dashboards/{target}$", times=None, **options)
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout
    report = res.json()
    assert isinstance(report, dict)
    source = report["sources"]["arduino"]
    assert source["deleted"] == 0
    assert ("dashboard", target) in {(f["kind"], f["key"]) for f in source["failures"]}
    assert set(entries(tmp_path / "backups")) == set(before)
    assert proxy.faulted(fault)
