"""What the CLI prints is shown as written: help texts, titles and server messages are never rich markup."""

from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest

from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, S3Target, grafana_source, run_dashvault, write_config
from tests.faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
# Each is valid rich markup or breaks rich's parser ("[/]" closes nothing): printed as markup, the
# first two would lose their brackets and the third would end the command in a MarkupError.
MARKUP_TITLES = ["[red]Ops[/red] overview", "Latency [bold]p99[/bold]", "closing [/] tag"]


def test_help_shows_the_schedule_table_as_written():
    top = run_dashvault("--help")
    assert top.exit_code == 0, top.stderr
    assert "on the [schedule] of the config" in top.stdout
    sub = run_dashvault("run", "--help")
    assert sub.exit_code == 0, sub.stderr
    assert "on the [schedule] of the config" in sub.stdout


def test_version_is_the_installed_distributions():
    res = run_dashvault("--version")
    assert res.exit_code == 0, res.stderr
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert res.stdout.strip() == f"dashvault {version('dashvault')}"
    assert version("dashvault") == declared


def test_titles_that_look_like_markup_are_printed_as_written(tmp_path, grafana: GrafanaSandbox):
    folder = grafana.add_folder("f-markup", "[green]Team[/green] folder")
    uids = [grafana.add_dashboard({"title": t}, folder_uid=folder["uid"]) for t in MARKUP_TITLES]
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    first = cli("backup")
    assert first.exit_code == 0, first.stderr
    for uid, title in zip(uids, MARKUP_TITLES, strict=True):
        grafana.update_dashboard(uid, {"title": f"{title} (edited)"})
    second = cli("backup")
    assert second.exit_code == 0, second.stderr

    for uid, title in zip(uids, MARKUP_TITLES, strict=True):
        res = cli("log", uid)
        assert res.exit_code == 0, res.stderr
        assert f"{title} (edited)" in res.stdout
    snaps = cli("snapshots", "--json").json()
    assert isinstance(snaps, list)
    older, newer = snaps[1]["id"], snaps[0]["id"]
    stat = cli("diff", older, newer, "--stat")
    assert stat.exit_code == 0, stat.stderr
    for title in MARKUP_TITLES:
        assert f"{title} (edited)" in stat.stdout


class _MarkupErrors(BaseHTTPRequestHandler):
    """A server whose every answer is a 403 with a message full of markup."""

    def do_GET(self) -> None:
        body = json.dumps({"message": "[bold]denied[/bold] by [/] policy"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def markup_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MarkupErrors)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_servers_message_is_printed_as_written(tmp_path, markup_server):
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(markup_server, retries=0)])
    checked = run_dashvault("--config", str(cfg), "check")
    assert checked.exit_code == 1, checked.stderr
    assert "Traceback" not in checked.stderr
    assert "[bold]denied[/bold]by[/]policy" in checked.cells()
    backed = run_dashvault("--config", str(cfg), "backup")
    assert backed.exit_code == 1
    assert "[bold]denied[/bold] by [/] policy" in backed.stderr


def test_a_usage_error_quotes_what_was_typed_as_written():
    res = run_dashvault("[red]nosuch[/red]")
    assert res.exit_code == 2
    assert "No such command '[red]nosuch[/red]'" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_stores_error_message_is_printed_as_written(
    tmp_path, grafana: GrafanaSandbox, s3: S3Target, s3_proxy: FaultProxy
) -> None:
    message = "[/bold]refused by [red]policy"
    s3_proxy.add("s3_error", "^/", method="*", times=None, status=400, body=("InvalidRequest", message))
    storage = s3.storage(endpoint_url=s3_proxy.url)
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)], **storage)
    checked = run_dashvault("--config", str(cfg), "check")
    assert checked.exit_code == 3, checked.stdout + checked.stderr
    assert "Traceback" not in checked.stderr
    # As written, though the table may wrap it: compared without the table's spacing and borders.
    assert "".join(message.split()) in checked.cells()
