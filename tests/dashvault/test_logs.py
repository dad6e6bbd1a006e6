"""Log output: JSON lines that parse, and no secret in any line of any output."""

from __future__ import annotations

import json

from sandbox.generate import populate, populate_arduino
from tests.arduino_support import CLIENT_SECRET, arduino_source, start_sandbox
from tests.conftest import TOKEN, grafana_source, run_dashvault, write_config


def test_json_logs_parse_and_never_carry_secrets(tmp_path, grafana):
    populate(grafana, dashboards=12, depth=2, seed=5)
    arduino = start_sandbox()
    try:
        populate_arduino(arduino, dashboards=4, spaces=("",), seed=5)
        grafana.rate_429 = 0.1  # retries log too
        grafana.retry_after = 0
        wrong = "glsa_wrong_" + TOKEN
        cfg = write_config(
            tmp_path / "dashvault.toml",
            [
                grafana_source(grafana.url, api="legacy", retries=8),
                {**grafana_source(grafana.url, name="bad"), "token": wrong},
                arduino_source(arduino.url),
                {**arduino_source(arduino.url, name="bad-arduino"), "client_secret": CLIENT_SECRET + "x"},
            ],
        )
        outputs = []
        for args in (["backup"], ["check"], ["snapshots"], ["restore", "--dry-run"]):
            res = run_dashvault("--config", str(cfg), "--log-format", "json", "-vv", *args)
            outputs.append(res)
    finally:
        arduino.stop()
    lines = [line for res in outputs for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) > 10  # -vv logs requests, retries, failures
    events = set()
    for line in lines:
        if line.startswith("error: "):
            continue  # the CLI's one-line error, not a log record
        doc = json.loads(line)
        assert {"time", "level", "source", "event", "message"} <= set(doc)
        events.add(doc["event"])
    assert "source.failed" in events
    everything = "".join(res.stdout + res.stderr for res in outputs)
    for secret in (TOKEN, wrong, CLIENT_SECRET, CLIENT_SECRET + "x"):
        assert secret not in everything
