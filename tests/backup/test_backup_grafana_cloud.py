"""Grafana Cloud: the /apis namespace is the stack's, learnt as Grafana's frontend learns it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import TOKEN, Cli, grafana_source, write_config

STACK = 4711


@pytest.fixture
def cloud() -> Iterator[GrafanaSandbox]:
    sandbox = GrafanaSandbox(token=TOKEN, seed=2, stack_id=STACK).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def apis_paths(grafana: GrafanaSandbox) -> set[str]:
    return {
        r.path.split("/dashboards")[0]
        for r in grafana.logged_requests()
        if r.path.startswith("/apis/dashboard")
    }


def test_auto_finds_the_stack_namespace_and_backs_up_and_restores_through_it(
    tmp_path: Path, cloud: GrafanaSandbox
) -> None:
    population = populate(cloud, dashboards=25, depth=2, seed=3)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(cloud.url, api="auto")]))
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["sources"]["grafana"]["failed"] == 0
    assert apis_paths(cloud) == {f"/apis/dashboard.grafana.app/v0alpha1/namespaces/stacks-{STACK}"}
    manifest = cli("show", "latest", f"1/{population.dashboards[0]}")
    assert manifest.exit_code == 0

    gone = population.dashboards[1]
    cloud.delete_dashboard(gone)
    restored = cli("restore", "--key", gone, "--json")
    assert restored.exit_code == 0, restored.stderr
    assert cloud.get_dashboard(gone) is not None


def test_a_configured_namespace_wins_over_discovery(tmp_path: Path, cloud: GrafanaSandbox) -> None:
    populate(cloud, dashboards=5, depth=1, seed=4)
    cloud.fail_requests[("GET", "/api/frontend/settings")] = 404  # as if the server did not say
    source = grafana_source(cloud.url, api="apis", namespace=f"stacks-{STACK}")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [source]))
    assert cli("backup").exit_code == 0
    assert all(r.path != "/api/frontend/settings" for r in cloud.logged_requests())


def test_without_a_namespace_the_on_prem_one_is_used(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    populate(grafana, dashboards=5, depth=1, seed=5)
    grafana.fail_requests[("GET", "/api/frontend/settings")] = 404  # Grafana 10.x has no namespace
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="apis")]))
    assert cli("backup").exit_code == 0
    assert apis_paths(grafana) == {"/apis/dashboard.grafana.app/v0alpha1/namespaces/default"}
