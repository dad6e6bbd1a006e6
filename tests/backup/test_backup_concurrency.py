"""A source's `concurrency` is the most requests a backup has in flight to it, as the server sees them:
the reads of objects and the listing's pages together, through a proxy that answers every request late
(so the requests a run allows at once are all in flight together) and counts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.arduino import ArduinoSandbox
from sandbox.generate import populate, populate_arduino
from sandbox.grafana import GrafanaSandbox
from tests.arduino_support import arduino_source
from tests.conftest import Cli, grafana_source, write_config
from tests.faultproxy import FaultProxy, started


@pytest.fixture
def arduino_proxy(arduino: ArduinoSandbox) -> Iterator[FaultProxy]:
    yield from started(arduino.url)


@pytest.mark.parametrize("api", ["legacy", "apis"])
@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_grafana_backup_has_its_sources_concurrency_in_flight_never_more(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy, api: str, concurrency: int
) -> None:
    populate(grafana, dashboards=12, depth=1, seed=5, permissions=False)
    hostile.add("slow", "^/api", method="*", times=None, delay=0.2)
    # Pages of 4: the listing asks for its next page while the reads of the last one are in flight.
    source = grafana_source(hostile.url, api=api, concurrency=concurrency, page_size=4)
    res = Cli(write_config(tmp_path / "dashvault.toml", [source]))("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert len(hostile.hits) > 12 * 2
    assert hostile.peak_in_flight == concurrency


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_arduino_backup_has_its_sources_concurrency_in_flight_never_more(
    tmp_path: Path, arduino: ArduinoSandbox, arduino_proxy: FaultProxy, concurrency: int
) -> None:
    populate_arduino(arduino, dashboards=10, spaces=("",), seed=5)
    arduino_proxy.add("slow", "^/iot/v[23]/", method="*", times=None, delay=0.2)
    source = arduino_source(arduino_proxy.url, concurrency=concurrency)
    res = Cli(write_config(tmp_path / "dashvault.toml", [source]))("backup")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert len(arduino_proxy.faulted("slow")) > 10
    assert arduino_proxy.peak_in_flight == concurrency
