"""The deployment recipes under deploy/ are at least well-formed and point at real commands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHVAULT = Path(sys.executable).with_name("dashvault")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_units_verify(tmp_path):
    for unit in ("dashvault.service", "dashvault.timer"):
        text = (DEPLOY / "systemd" / unit).read_text()
        # Verify against this machine's dashvault instead of the documented install path.
        (tmp_path / unit).write_text(text.replace("/opt/dashvault/.venv/bin/dashvault", str(DASHVAULT)))
    res = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "dashvault.service"), str(tmp_path / "dashvault.timer")],
        capture_output=True,
        text=True,
        check=False,
    )
    # verify reports unknown keys and bad values on stderr without failing; both count here.
    problems = [line for line in res.stderr.splitlines() if str(tmp_path) in line]
    assert res.returncode == 0 and problems == [], res.stderr


def test_systemd_service_runs_the_documented_command():
    text = (DEPLOY / "systemd" / "dashvault.service").read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    args = exec_start.split()[1:]
    assert args[:2] == ["--config", "/etc/dashvault/dashvault.toml"] and args[-1] == "backup"


def test_kubernetes_manifest_parses_and_is_a_cronjob():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text()) if d]
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"CronJob", "ConfigMap"}
    cron = kinds["CronJob"]
    assert cron["apiVersion"] == "batch/v1"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-1] == "backup"
    # The bundled config is a valid dashvault config.
    config_text = kinds["ConfigMap"]["data"]["dashvault.toml"]
    assert "[storage]" in config_text


def test_kubernetes_config_loads(tmp_path):
    from dashvault.config import load_config

    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text()) if d]
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    path = tmp_path / "dashvault.toml"
    path.write_text(config_map["data"]["dashvault.toml"])
    config = load_config(path, {"GRAFANA_TOKEN": "x"})
    assert config.storage.backend == "s3" and config.source_names == ["grafana-prod"]


def test_crontab_line_is_well_formed():
    lines = [
        line for line in (DEPLOY / "crontab").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6 and fields[0].isdigit() and fields[1:5] == ["*", "*", "*", "*"]
    assert "dashvault --config" in fields[5] and fields[5].endswith("backup")
