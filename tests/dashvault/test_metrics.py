"""Prometheus textfile metrics after each run."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from dashvault.metrics import SERIES
from sandbox.generate import populate
from tests.conftest import Cli, grafana_source, write_config


def samples(path) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, s.labels["source"])] = s.value
    return out


def test_metrics_textfile_after_runs(tmp_path, grafana):
    populate(grafana, dashboards=8, depth=1, seed=3)
    prom = tmp_path / "textfile" / "dashvault.prom"
    cfg = write_config(
        tmp_path / "dashvault.toml",
        [
            grafana_source(grafana.url, name="good", api="legacy"),
            grafana_source("http://127.0.0.1:9", name="down", retries=0),
        ],
    )
    cfg.write_text(cfg.read_text() + f'\n[metrics]\ntextfile = "{prom}"\n')
    cli = Cli(cfg)
    assert cli("backup").exit_code == 1
    first = samples(prom)
    assert {name for name, _ in first} == set(SERIES)
    assert first[("dashvault_last_run_success", "good")] == 1
    assert first[("dashvault_last_run_success", "down")] == 0
    assert first[("dashvault_source_failures", "down")] == 1
    assert first[("dashvault_source_failures", "good")] == 0
    assert first[("dashvault_items_added", "good")] == first[("dashvault_items", "good")] > 8
    assert ("dashvault_last_success_timestamp_seconds", "down") not in first
    assert not list(prom.parent.glob("*.tmp"))

    # A later run where "good" fails too keeps its last success time.
    grafana.fail_listing_after = 0
    assert cli("backup").exit_code == 1
    second = samples(prom)
    assert second[("dashvault_last_run_success", "good")] == 0
    assert (
        second[("dashvault_last_success_timestamp_seconds", "good")]
        == first[("dashvault_last_success_timestamp_seconds", "good")]
    )
    assert (
        second[("dashvault_last_run_timestamp_seconds", "good")]
        >= first[("dashvault_last_run_timestamp_seconds", "good")]
    )
