"""Fixtures shared by every test module: sandbox servers on loopback, config files, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dashvault.cli import app
from sandbox.arduino import ArduinoSandbox
from sandbox.grafana import GrafanaSandbox
from tests.arduino_support import start_sandbox
from tests.contract import watch
from tests.faultproxy import FaultProxy, started

# Every test using the `grafana` fixture is also a contract test of its exchanges with the sandbox.
pytest_plugins = ["tests.contract.plugin"]

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "grafana"
TOKEN = "sandbox-token-5f1c0a"


def needs_corpus() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not CORPUS.is_dir(), reason=f"the shared dashboard corpus is not present at {CORPUS} (a fresh clone)"
    )


@pytest.fixture
def arduino(request: pytest.FixtureRequest) -> Iterator[ArduinoSandbox]:
    """An Arduino IoT Cloud stand-in on a free loopback port, with the test credentials.

    Its exchanges are checked against Arduino's OpenAPI document once the test passes (`tests.contract`).
    """
    sandbox = watch(request, start_sandbox())
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def grafana(request: pytest.FixtureRequest) -> Iterator[GrafanaSandbox]:
    """A Grafana stand-in on a free loopback port, empty, with a known token.

    Its exchanges are checked against Grafana's API documents once the test passes (`tests.contract`).
    """
    sandbox = watch(request, GrafanaSandbox(token=TOKEN, seed=1).start())
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def hostile(grafana: GrafanaSandbox) -> Iterator[FaultProxy]:
    """A fault-injecting reverse proxy in front of the `grafana` sandbox (tests/faultproxy.py)."""
    yield from started(grafana.url)


def grafana_source(url: str, name: str = "grafana", **extra: object) -> dict[str, object]:
    src: dict[str, object] = {"name": name, "type": "grafana", "url": url, "token": TOKEN, "retries": 4}
    src.update(extra)
    return src


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, sources: list[dict[str, object]], **storage: object) -> Path:
    """A dashvault.toml with a git store beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[storage]", f"path = {toml_value(str(path.parent / 'backups'))}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in storage.items()]
    for src in sources:
        lines.append("\n[[sources]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in src.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)

    def cells(self) -> str:
        """stdout without spacing and table borders: what a table says, however it wrapped its cells
        (a long path moves a wrap point)."""
        return "".join(ch for ch in self.stdout if not ch.isspace() and ch not in "│┃")

    def log_records(self, event: str) -> list[dict[str, Any]]:
        """The JSON log lines (`--log-format json`) of one event, in the order they were written."""
        records = [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]
        return [r for r in records if r["event"] == event]


class Cli:
    """Runs dashvault commands in-process against one config file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        res = self.runner.invoke(app, ["--config", str(self.config), *args], catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)


def run_dashvault(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Runs the installed `dashvault` console script in a child process."""
    proc = subprocess.run(
        [sys.executable, "-m", "dashvault", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# -- S3: moto's standalone server on loopback ------------------------------------------------------

#: Dummy credentials for moto; set in the environment by the `s3` fixture so no real ones are used.
S3_KEY_ID, S3_SECRET = "dashvault-test-key", "dashvault-test-secret"


@dataclass
class S3Target:
    """A fresh bucket on the session's moto server."""

    endpoint_url: str
    bucket: str
    region: str = "us-east-1"

    def client(self):  # a boto3 S3 client, made once per bucket (making one takes a while)
        import boto3

        if "_client" not in self.__dict__:
            self.__dict__["_client"] = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=S3_KEY_ID,
                aws_secret_access_key=S3_SECRET,
            )
        return self.__dict__["_client"]

    def storage(self, **extra: object) -> dict[str, object]:
        """`[storage]` keys for a config file using this bucket."""
        keys: dict[str, object] = {
            "backend": "s3",
            "bucket": self.bucket,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key_id": S3_KEY_ID,
            "secret_access_key": S3_SECRET,
        }
        keys.update(extra)
        return keys


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port, one per test session (per xdist worker)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Target:
    """An empty bucket of its own on the moto server, with dummy credentials in the environment."""
    import uuid

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    target = S3Target(moto_server, f"dashvault-{uuid.uuid4().hex[:12]}")
    target.client().create_bucket(Bucket=target.bucket)
    return target


@pytest.fixture
def s3_proxy(s3: S3Target) -> Iterator[FaultProxy]:
    """A fault-injecting reverse proxy in front of the `s3` bucket's server (tests/faultproxy.py)."""
    yield from started(s3.endpoint_url)
