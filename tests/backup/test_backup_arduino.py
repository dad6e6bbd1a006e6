"""Backing up Arduino IoT Cloud spaces (the sandbox, over real sockets) into git with the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sandbox.arduino import ArduinoSandbox
from sandbox.generate import ARDUINO_SHARED_SPACE, populate, populate_arduino
from sandbox.grafana import GrafanaSandbox
from tests.arduino_support import CLIENT_ID, CLIENT_SECRET, arduino_source
from tests.conftest import Cli, grafana_source, write_config


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def manifest(repo: Path) -> dict[tuple[str, str, str], dict[str, object]]:
    data = json.loads((repo / ".dashvault/manifest.json").read_text())
    return {(e["source"], e["kind"], e["key"]): e for e in data["entries"]}


def two_spaces(url: str, **extra: object) -> list[dict[str, object]]:
    return [
        arduino_source(url, name="arduino-home", organization="", **extra),
        arduino_source(url, name="arduino-team", organization=ARDUINO_SHARED_SPACE, **extra),
    ]


def test_two_spaces_backed_up_then_nothing_to_add(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    population = populate_arduino(arduino, dashboards=40, seed=3)
    cli = Cli(write_config(tmp_path / "dashvault.toml", two_spaces(arduino.url)))
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    repo = tmp_path / "backups"

    entries = manifest(repo)
    for space, source in (("", "arduino-home"), (ARDUINO_SHARED_SPACE, "arduino-team")):
        ids = population.dashboards[space]
        assert len(ids) == 20
        assert {k for (s, kind, k) in entries if s == source and kind == "dashboard"} == set(ids)
        assert {k for (s, kind, k) in entries if s == source and kind == "shares"} == set(ids)
        for dashboard_id in ids:
            assert (repo / source / "dashboards" / f"{dashboard_id}.json").is_file()
            shares = json.loads((repo / source / "shares" / f"{dashboard_id}.json").read_text())
            assert {u["user_id"] for u in shares["users"]} == set(population.shares.get(dashboard_id, []))
    # What is stored is the dashboard without ids and live readings, links as stable references.
    linked = next(d for d in population.dashboards[""] if d in population.links)
    stored = json.loads((repo / "arduino-home" / "dashboards" / f"{linked}.json").read_text())
    live = arduino.get_dashboard(linked)
    assert live is not None
    # (The exact stored form is checked against a hand-written literal in the next test.)
    assert stored["name"] == live["name"]
    assert len(stored["widgets"]) == len(live["widgets"])
    refs = [v for w in stored["widgets"] for v in w["variables"]]
    assert {v["id"] for v in refs} == set(population.links[linked])
    assert all(set(v) == {"id", "name", "thing_id", "thing_name"} for v in refs)
    assert not any("id" in w for w in stored["widgets"])
    entry = entries[("arduino-home", "dashboard", linked)]
    assert entry["title"] == live["name"]
    assert entry["meta"]["id"] == linked and entry["meta"]["updated_at"] == live["updated_at"]
    head = git(repo, "rev-parse", "HEAD")

    # Live readings changed meanwhile (every read does in the sandbox): still nothing to add.
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    assert "no changes" in res.stdout
    assert git(repo, "rev-parse", "HEAD") == head

    edited = population.dashboards[ARDUINO_SHARED_SPACE][0]
    arduino.update_dashboard(edited, {"name": "Renamed board"}, org=ARDUINO_SHARED_SPACE)
    unshared = next(iter(population.shares))
    arduino.remove_share(unshared, population.shares[unshared][0], org=population.space_of(unshared))
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    report = res.json()
    assert isinstance(report, dict)
    changed = report["sources"]["arduino-team"]["changed"] + report["sources"]["arduino-home"]["changed"]
    assert changed == 2
    assert manifest(repo)[("arduino-team", "dashboard", edited)]["title"] == "Renamed board"


def test_a_dashboard_is_stored_as_name_and_widgets_in_layout_order(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    thing = arduino.add_thing("Greenhouse")
    temperature = arduino.add_property(thing, "temperature", type="FLOAT", variable_name="temp")
    fan = arduino.add_property(thing, "fan", type="BOOLEAN")
    layout = {"width": 2, "height": 2}
    mobile = {"x_mobile": 0, "y_mobile": 0, "width_mobile": 2, "height_mobile": 1}
    # Sent bottom row first: the stored widgets are in layout order, top to bottom, left to right.
    dashboard_id = arduino.add_dashboard(
        "Greenhouse",
        [
            {"type": "chart", "name": "History", "options": {"range": "7d"}, "x": 0, "y": 2, **layout},
            {"type": "switch", "name": "Fan", "x": 2, "y": 0, **layout, "variables": [fan]},
            {
                "type": "gauge",
                "name": "Temperature",
                "options": {"min": 0, "max": 50},
                "x": 0,
                "y": 0,
                **layout,
                **mobile,
                "variables": [temperature],
            },
        ],
    )
    res = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))("backup")
    assert res.exit_code == 0, res.stderr
    stored = json.loads(
        (tmp_path / "backups" / "arduino" / "dashboards" / f"{dashboard_id}.json").read_text()
    )
    # No dashboard or widget ids, no live readings, no property details beyond the reference.
    assert stored == {
        "name": "Greenhouse",
        "widgets": [
            {
                "type": "gauge",
                "name": "Temperature",
                "options": {"min": 0, "max": 50},
                "x": 0,
                "y": 0,
                "width": 2,
                "height": 2,
                "x_mobile": 0,
                "y_mobile": 0,
                "width_mobile": 2,
                "height_mobile": 1,
                "variables": [
                    {"id": temperature, "name": "temperature", "thing_id": thing, "thing_name": "Greenhouse"}
                ],
            },
            {
                "type": "switch",
                "name": "Fan",
                "options": {},
                "x": 2,
                "y": 0,
                "width": 2,
                "height": 2,
                "variables": [{"id": fan, "name": "fan", "thing_id": thing, "thing_name": "Greenhouse"}],
            },
            {
                "type": "chart",
                "name": "History",
                "options": {"range": "7d"},
                "x": 0,
                "y": 2,
                "width": 2,
                "height": 2,
                "variables": [],
            },
        ],
    }


def test_token_expiring_during_a_run(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    populate_arduino(arduino, dashboards=20, spaces=("",), seed=4)
    arduino.token_lifetime = 2.0
    # 41 requests at 15 per second: the run outlives two tokens.
    cfg = write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url, rate_limit=15.0)])
    res = Cli(cfg)("backup", "--json")
    assert res.exit_code == 0, res.stderr
    report = res.json()
    assert isinstance(report, dict)
    assert report["sources"]["arduino"]["added"] == 40 and report["sources"]["arduino"]["failed"] == 0
    requests = arduino.logged_requests()
    assert requests[-1].time - requests[0].time > 2.0
    assert len(arduino.token_requests()) >= 2
    assert not [r for r in requests if r.status == 401]


def test_grafana_and_arduino_in_one_run(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    populate_arduino(arduino, dashboards=6, spaces=("",), seed=5)
    grafana = GrafanaSandbox(token="grafana-token", seed=1).start()
    try:
        populate(grafana, dashboards=8, depth=1, seed=5)
        cfg = write_config(
            tmp_path / "dashvault.toml",
            [
                {**grafana_source(grafana.url, api="legacy"), "token": "grafana-token"},
                arduino_source(arduino.url),
            ],
        )
        res = Cli(cfg)("backup")
    finally:
        grafana.stop()
    assert res.exit_code == 0, res.stderr
    repo = tmp_path / "backups"
    kinds = {(s, kind) for (s, kind, _) in manifest(repo)}
    assert {("grafana", "dashboard"), ("arduino", "dashboard"), ("arduino", "shares")} <= kinds
    assert len(git(repo, "rev-list", "HEAD").split()) == 1
    snaps = Cli(cfg)("snapshots", "--json").json()
    assert isinstance(snaps, list)
    assert {n: s["complete"] for n, s in snaps[0]["sources"].items()} == {"grafana": True, "arduino": True}


def test_wrong_secret_is_reported_without_the_secret(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    arduino.add_dashboard("Board")
    cfg = write_config(
        tmp_path / "dashvault.toml",
        [arduino_source(arduino.url, name="arduino-home", client_secret="wrong-" + CLIENT_SECRET)],
    )
    cli = Cli(cfg)
    res = cli("backup")
    assert res.exit_code == 1
    # One line for the user (the log line beside it is for log collectors).
    lines = [line for line in res.stderr.splitlines() if line.startswith(("warning:", "error:"))]
    assert len(lines) == 1 and lines[0].startswith("warning: arduino-home: "), res.stderr
    assert "401" in lines[0] and "client_id and client_secret" in lines[0]
    assert CLIENT_SECRET not in res.stdout + res.stderr and CLIENT_ID not in res.stdout + res.stderr
    res = cli("check")
    assert res.exit_code == 1
    assert "client_idandclient_secret" in res.cells() and CLIENT_SECRET not in res.stdout + res.stderr


def test_check_reports_the_space(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    populate_arduino(arduino, dashboards=4, seed=6)
    res = Cli(write_config(tmp_path / "dashvault.toml", two_spaces(arduino.url)))("check")
    assert res.exit_code == 0, res.stdout
    assert "personalspace:2dashboards" in res.cells()
    assert f"organization{ARDUINO_SHARED_SPACE}:2dashboards" in res.cells()
