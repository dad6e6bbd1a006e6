"""User errors end in one line on stderr and the documented exit code, never a traceback or a secret."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox.generate import populate
from tests.conftest import TOKEN, grafana_source, run_dashvault, write_config


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_malformed_config_is_exit_2_naming_file_and_key(tmp_path):
    cfg = tmp_path / "dashvault.toml"
    cfg.write_text(
        '[[sources]]\nname = "g"\ntype = "grafana"\nurl = "http://x"\n'
        'token = "t0ps3cret"\nconcurrency = "eight"\n'
    )
    res = run_dashvault("--config", str(cfg), "backup")
    assert res.exit_code == 2
    line = one_line_error(res.stderr)
    assert str(cfg) in line and "sources[0].concurrency" in line
    assert "t0ps3cret" not in res.stdout + res.stderr


def test_unset_variable_and_missing_file(tmp_path):
    cfg = tmp_path / "dashvault.toml"
    cfg.write_text('[[sources]]\nname = "g"\ntype = "grafana"\nurl = "http://x"\ntoken = "${NOPE_TOKEN}"\n')
    res = run_dashvault("--config", str(cfg), "check")
    assert res.exit_code == 2
    assert "NOPE_TOKEN" in one_line_error(res.stderr)
    res = run_dashvault("--config", str(tmp_path / "absent.toml"), "backup")
    assert res.exit_code == 2
    assert "absent.toml" in one_line_error(res.stderr)


def test_unreachable_source_is_exit_1_naming_it(tmp_path):
    cfg = write_config(
        tmp_path / "dashvault.toml", [grafana_source(f"http://127.0.0.1:{free_port()}", retries=1)]
    )
    res = run_dashvault("--config", str(cfg), "backup")
    assert res.exit_code == 1
    assert "Traceback" not in res.stderr
    assert "grafana: cannot reach http://127.0.0.1:" in res.stderr
    assert TOKEN not in res.stdout + res.stderr


def test_wrong_token_is_exit_1_without_the_token(tmp_path, grafana):
    populate(grafana, dashboards=3, depth=1)
    secret = "glsa_wrong_" + TOKEN
    cfg = write_config(tmp_path / "dashvault.toml", [{**grafana_source(grafana.url), "token": secret}])
    for command in ("backup", "check"):
        res = run_dashvault("--config", str(cfg), command)
        assert res.exit_code == 1, res.stderr
        assert "Traceback" not in res.stderr
        assert "401" in res.stdout + res.stderr
        assert secret not in res.stdout + res.stderr


@pytest.mark.parametrize("args", [["show", "latest", "1/x"], ["snapshots"], ["diff", "a", "b"]])
def test_store_questions_before_any_backup(tmp_path, args):
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source("http://127.0.0.1:9")])
    res = run_dashvault("--config", str(cfg), *args)
    if args == ["snapshots"]:
        assert res.exit_code == 0
        assert "0 snapshots" in res.stdout
    else:
        assert res.exit_code == 2
        assert "no snapshots yet" in one_line_error(res.stderr)


def test_unknown_snapshot_and_key(tmp_path, grafana):
    populate(grafana, dashboards=2, depth=1)
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url)])
    assert run_dashvault("--config", str(cfg), "backup").exit_code == 0
    res = run_dashvault("--config", str(cfg), "show", "deadbeef", "1/x")
    assert res.exit_code == 2
    assert "no snapshot matches 'deadbeef'" in one_line_error(res.stderr)
    res = run_dashvault("--config", str(cfg), "show", "latest", "1/does-not-exist")
    assert res.exit_code == 2
    assert "1/does-not-exist" in one_line_error(res.stderr)


def test_check_fails_a_git_store_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "backups").write_text("not a repository\n")
    cfg = write_config(
        tmp_path / "dashvault.toml", [grafana_source(f"http://127.0.0.1:{free_port()}", retries=0)]
    )
    res = run_dashvault("--config", str(cfg), "check")
    assert res.exit_code == 3
    assert "FAILED" in res.stdout and "isafile,notadirectory" in res.cells()
    backed = run_dashvault("--config", str(cfg), "backup")
    assert backed.exit_code == 3 and "is a file, not a directory" in one_line_error(backed.stderr)
