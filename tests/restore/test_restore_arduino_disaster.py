"""Arduino disaster recovery through the CLI, against a sandbox shaped like Arduino's OpenAPI document
(no created_at, client-set widget ids, v3 pages): restores are idempotent by their restore records, a
restored dashboard keeps its history, and pages, links, shares and cover images come back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from restore.arduino import NAME_MAX
from sandbox.arduino import ArduinoSandbox
from sandbox.generate import ARDUINO_SHARED_SPACE, populate_arduino
from storage.git import GitStore
from storage.git.restores import RESTORES_REF
from tests.arduino_support import arduino_source
from tests.conftest import Cli, S3Target, write_config


def spaces_cli(tmp_path: Path, arduino: ArduinoSandbox, **storage: object) -> Cli:
    """Two sources: the personal space and an organization, each backed up and restored on its own."""
    sources = [
        arduino_source(arduino.url, "home", concurrency=4),
        arduino_source(arduino.url, "team", organization=ARDUINO_SHARED_SPACE, concurrency=4),
    ]
    return Cli(write_config(tmp_path / "dashvault.toml", sources, **storage))


def live(arduino: ArduinoSandbox, org: str) -> list[tuple[Any, ...]]:
    """Every dashboard of a space, less the ids the cloud gives: name, cover, pages, widgets, shares."""
    out = []
    for d in arduino.dashboards(org):
        got = arduino.get_dashboard(d, org, version=3)
        assert got is not None
        pages = sorted((p["name"], p["position"]) for p in got["pages"])
        page_names = {p["id"]: p["name"] for p in got["pages"]} | {"0": "main"}
        widgets = sorted(
            (
                w["type"],
                w.get("name"),
                str(sorted(w["options"].items())),
                w["x"],
                w["y"],
                w["width"],
                w["height"],
                page_names[w["page_id"]],
                tuple(sorted(v["id"] for v in w["variables"])),
            )
            for w in got["widgets"]
        )
        out.append(
            (
                got["name"],
                got.get("cover_image"),
                tuple(pages),
                tuple(widgets),
                tuple(sorted(arduino.shares(d, org))),
            )
        )
    return sorted(out)


@pytest.mark.parametrize("store", ["git", "s3"])
def test_a_disaster_in_two_spaces_is_undone_once_and_the_history_goes_on(
    tmp_path: Path, arduino: ArduinoSandbox, store: str, request: pytest.FixtureRequest
) -> None:
    storage: dict[str, object] = {}
    if store == "s3":
        s3: S3Target = request.getfixturevalue("s3")
        storage = s3.storage()
    population = populate_arduino(arduino, dashboards=16, spaces=("", ARDUINO_SHARED_SPACE), seed=5)
    first = population.dashboards[""][0]
    arduino.update_dashboard(first, {"cover_image": "https://example.org/cover.png"})
    with_pages = [
        d
        for s in population.dashboards
        for d in population.dashboards[s]
        if arduino.get_dashboard(d, s, version=3) and arduino.get_dashboard(d, s, version=3)["pages"]
    ]  # type: ignore[index]
    assert with_pages, "the population has dashboards with pages"
    cli = spaces_cli(tmp_path, arduino, **storage)
    assert cli("backup").exit_code == 0
    before = {s: live(arduino, s) for s in ("", ARDUINO_SHARED_SPACE)}

    for s in ("", ARDUINO_SHARED_SPACE):
        arduino.wipe(s)
    for n in range(3):
        res = cli("restore", "--json")
        assert res.exit_code == 0, res.stderr
        plans = res.json()["plans"]  # type: ignore[index]
        created = sum(p["counts"].get("created", 0) for p in plans)
        assert created == (sum(len(v) for v in population.dashboards.values()) * 2 if n == 0 else 0)
    # Each dashboard back once, with its widgets, links, pages, cover and shares.
    assert {s: live(arduino, s) for s in ("", ARDUINO_SHARED_SPACE)} == before

    # The next backup sees no deletion and no change: every restored dashboard keeps its old key.
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    report = res.json()["sources"]  # type: ignore[index]
    for name in ("home", "team"):
        assert (report[name]["added"], report[name]["changed"], report[name]["deleted"]) == (0, 0, 0), report[
            name
        ]
    logged = cli("log", "--source", "home", first, "--json")
    assert logged.exit_code == 0, logged.stderr
    history = logged.json()
    assert isinstance(history, list) and len(history) == 1  # one entry: never deleted, never re-added


def test_copies_are_made_once_and_their_names_fit(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    long_name = "Greenhouse north wing, irrigation and climate overview"  # 54 characters
    assert len(long_name) + len(" (restored 2026-12-02 10:00 UTC)") > NAME_MAX
    widgets = [{"type": "value", "name": "Temp", "options": {"unit": "C"}}]
    long_id = arduino.add_dashboard(long_name, widgets)
    short_id = arduino.add_dashboard("Cellar", widgets)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    for d in (long_id, short_id):
        arduino.update_dashboard(
            d, {"widgets": [{"type": "value", "name": "Temp", "options": {"unit": "F"}}]}
        )

    for _ in range(2):
        res = cli("restore", "--on-conflict", "copy")
        assert res.exit_code == 0, res.stderr
    names = sorted(arduino.get_dashboard(d)["name"] for d in arduino.dashboards())  # type: ignore[index]
    copies = [n for n in names if "(restored " in n]
    assert len(copies) == 2 and len(names) == 4
    assert all(len(n) <= NAME_MAX for n in names)
    assert any(n.startswith("Greenhouse north wing") and f"~{long_id[:6]}" in n for n in copies)
    assert any(n.startswith("Cellar (restored ") for n in copies)


def test_a_restore_whose_record_was_lost_is_found_by_name_and_content(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    populate_arduino(arduino, dashboards=4, spaces=("",), seed=3)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.wipe()
    assert cli("restore").exit_code == 0
    store = GitStore(tmp_path / "backups")
    assert store.restores().records  # the record, on a ref of its own
    store.repo.git.update_ref("-d", RESTORES_REF)  # as if the restore had been killed before writing it
    assert not store.restores().records
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stderr
    assert set(res.json()["plans"][0]["counts"]) == {"skipped"}  # type: ignore[index]
    assert len(arduino.dashboards()) == 4


def test_a_hand_made_twin_a_backup_knows_is_not_taken_for_the_restore(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    widgets = [{"type": "value", "name": "Temp", "options": {}}]
    original = arduino.add_dashboard("Twin", widgets)
    twin = arduino.add_dashboard("Twin", widgets)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.delete_dashboard(original)
    res = cli("restore", "--key", original, "--json")
    assert res.exit_code == 0, res.stderr
    [item] = [i for i in res.json()["plans"][0]["items"] if i["kind"] == "dashboard"]  # type: ignore[index]
    assert item["outcome"] == "created" and item["new_key"] not in (original, twin)
    assert len(arduino.dashboards_named("Twin")) == 2


def test_a_cloud_flag_that_flips_is_not_a_change(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    thing = arduino.add_thing("Boiler")
    burner = arduino.add_property(thing, "burner", type="BOOLEAN")
    arduino.add_dashboard("Boiler", [{"type": "switch", "name": "Burner", "variables": [burner]}])
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.set_property_permission(burner, "READ_ONLY")  # the cloud now flags the switch
    res = cli("backup", "--json")
    assert res.exit_code == 0
    assert res.json()["sources"]["arduino"]["changed"] == 0  # type: ignore[index]


def test_pages_are_never_flattened(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    board = arduino.add_dashboard("House", [{"type": "value", "name": "Hall"}])
    page = arduino.add_page(board, "Cellar")
    arduino.update_dashboard(
        board,
        {"widgets": [{"type": "value", "name": "Hall"}, {"type": "value", "name": "Wine", "page_id": page}]},
    )
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    before = arduino.get_dashboard(board, version=3)
    entry = json.loads((tmp_path / "backups/.dashvault/manifest.json").read_text())["entries"]
    assert [e["meta"]["api"] for e in entry if e["kind"] == "dashboard"] == ["v3"]

    # The cloud loses v3 (a rollback, a proxy): a v2 read cannot show the pages, the entry is kept.
    arduino.serves_v3 = False
    res = cli("backup", "--json")
    assert res.exit_code == 1
    [failure] = res.json()["sources"]["arduino"]["failures"]  # type: ignore[index]
    assert (failure["kind"], failure["key"], failure["follows"]) == ("dashboard", board, "")
    assert failure["error"] == (
        f"arduino: dashboard {board} had 1 pages, and /iot/v3 (pages) is not served now: a v2 read "
        "cannot show them, the previous entry is kept"
    )
    arduino.delete_dashboard(board)
    res = cli("restore", "--json")
    assert res.exit_code == 1
    [item] = [i for i in res.json()["plans"][0]["items"] if i["kind"] == "dashboard"]  # type: ignore[index]
    assert item["outcome"] == "failed" and "serves no /iot/v3" in item["detail"]
    assert arduino.dashboards() == []

    arduino.serves_v3 = True
    assert cli("restore").exit_code == 0
    [again] = arduino.dashboards()
    got = arduino.get_dashboard(again, version=3)
    assert got is not None and before is not None
    assert got["pages"] == before["pages"]
    assert [(w["name"], w["page_id"]) for w in got["widgets"]] == [
        (w["name"], w["page_id"]) for w in before["widgets"]
    ]


def test_restore_keys_of_two_sources_in_one_command(tmp_path: Path, arduino: ArduinoSandbox) -> None:
    home = arduino.add_dashboard("Home board")
    org = arduino.add_organization()
    team = arduino.add_dashboard("Team board", org=org)
    sources = [arduino_source(arduino.url, "home"), arduino_source(arduino.url, "team", organization=org)]
    cli = Cli(write_config(tmp_path / "dashvault.toml", sources))
    assert cli("backup").exit_code == 0
    arduino.delete_dashboard(home)
    arduino.delete_dashboard(team, org)
    res = cli("restore", "--key", home, "--key", team)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert arduino.dashboards_named("Home board") and arduino.dashboards_named("Team board", org)
    missing = cli("restore", "--key", home, "--key", "00000000-0000-4000-8000-00000000beef")
    assert missing.exit_code == 2 and "00000000-0000-4000-8000-00000000beef" in missing.stderr


def test_widget_options_that_name_a_gone_property_are_reported(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    thing = arduino.add_thing("Field")
    moisture = arduino.add_property(thing, "moisture")
    chart = {
        "type": "chart",
        "name": "Moisture",
        "options": {"properties": [{"id": moisture}]},
        "variables": [moisture],
    }
    board = arduino.add_dashboard("Field", [chart])
    cli = Cli(write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url)]))
    assert cli("backup").exit_code == 0
    arduino.delete_dashboard(board)
    arduino.delete_property(moisture)
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stderr
    [item] = [i for i in res.json()["plans"][0]["items"] if i["kind"] == "dashboard"]  # type: ignore[index]
    assert f"widget 'Moisture': options name {moisture}" in item["detail"]


def test_an_organization_backup_asks_its_tokens_for_the_organization(
    tmp_path: Path, arduino: ArduinoSandbox
) -> None:
    org = arduino.add_organization()
    arduino.add_dashboard("Team board", org=org)
    arduino.strict_org_tokens = True  # a personal token on the space would be rate limited: 429
    cli = Cli(
        write_config(tmp_path / "dashvault.toml", [arduino_source(arduino.url, "team", organization=org)])
    )
    assert cli("backup").exit_code == 0
    assert arduino.token_spaces and set(arduino.token_spaces) == {org}
    assert arduino.org_mismatches == 0
    calls = [r for r in arduino.logged_requests() if r.path.startswith(("/iot/v2/", "/iot/v3/"))]
    assert calls and {r.headers.get("X-Organization") for r in calls} == {org}
