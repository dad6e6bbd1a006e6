"""Secrets never reach what dashvault prints or logs, in any encoding a server or git echoes them in."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import grafana_source, run_dashvault, write_config
from tests.faultproxy import FaultProxy

PASSWORD = "Pa55/word:with@odd chars"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_secret(text: str, secret: str, username: str) -> None:
    for form in (
        secret,
        quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"{username}:{secret}".encode()).decode(),
    ):
        assert form not in text, f"{form!r} was printed"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_password_in_the_git_remote_is_not_printed_when_the_push_fails(
    tmp_path: Path, grafana: GrafanaSandbox, log_format: str
) -> None:
    populate(grafana, dashboards=2, depth=0, seed=1)
    remote = f"http://backup-bot:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/backups.git"
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)], remote=remote)
    res = run_dashvault("--config", str(cfg), "--log-format", log_format, "backup")
    assert res.exit_code != 0
    printed = res.stdout + res.stderr
    assert "push to 'http://***@127.0.0.1:" in printed  # the failure is still said, and where
    assert_no_secret(printed, PASSWORD, "backup-bot")


def test_an_authorization_header_echoed_by_a_server_is_not_printed(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    hostile.add("echo", "^/", method="*", times=None, status=401)
    source = grafana_source(hostile.url, retries=0)
    del source["token"]
    source.update(username="admin", password=PASSWORD)
    cfg = write_config(tmp_path / "dashvault.toml", [source])
    for command in ("check", "backup"):
        res = run_dashvault("--config", str(cfg), command)
        assert res.exit_code != 0
        printed = res.stdout + res.stderr
        assert "401" in printed and "invalid credentials: Basic ***" in printed
        assert_no_secret(printed, PASSWORD, "admin")
    assert hostile.faulted("echo")


def test_a_short_token_masks_no_other_word(tmp_path: Path) -> None:
    # A token of 4 characters that also occurs inside "connection": only the token is masked.
    source = grafana_source(f"http://127.0.0.1:{free_port()}", retries=0, token="ecti")
    cfg = write_config(tmp_path / "dashvault.toml", [source])
    res = run_dashvault("--config", str(cfg), "check")
    assert res.exit_code != 0
    assert "connection refused" in (res.stdout + res.stderr).lower()
