"""A restore has at most its target's `concurrency` requests in flight (the plan's reads and the
writes), and uses them: counted by a proxy that answers every request late."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, grafana_source, write_config
from tests.faultproxy import FaultProxy


@pytest.mark.parametrize("api", ["legacy", "apis"])
@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_restore_has_its_targets_concurrency_in_flight_never_more(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy, api: str, concurrency: int
) -> None:
    populate(grafana, dashboards=10, depth=1, seed=8)
    source = grafana_source(hostile.url, api=api, concurrency=concurrency)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [source]))
    assert cli("backup").exit_code == 0
    grafana.wipe()
    hostile.add("slow", "^/api", method="*", times=None, delay=0.2)
    hostile.reset_peak()
    res = cli("restore", "--snapshot", "latest", "--json")
    assert res.exit_code == 0, res.stdout[-2000:] + res.stderr
    assert res.json()["plans"][0]["counts"]["created"] > 10
    writes = [h for h in hostile.faulted("slow") if h.method != "GET"]
    assert len(writes) > 10
    assert hostile.peak_in_flight == concurrency
