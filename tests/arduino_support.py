"""Helpers shared by the Arduino IoT Cloud tests: sandbox credentials and source configs."""

from __future__ import annotations

from pydantic import SecretStr

from sandbox.arduino import ArduinoSandbox
from sources.config import ArduinoSourceConfig

CLIENT_ID = "arduino-test-client-3b9e"
CLIENT_SECRET = "arduino-test-secret-7c1d0f"


def start_sandbox(**knobs: object) -> ArduinoSandbox:
    """An Arduino stand-in on a free loopback port with the test credentials."""
    return ArduinoSandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, seed=1, **knobs).start()


def arduino_source(url: str, name: str = "arduino", **extra: object) -> dict[str, object]:
    """A `[[sources]]` table for `write_config`; a high rate limit unless the test sets one."""
    src: dict[str, object] = {
        "name": name,
        "type": "arduino",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": url,
        "rate_limit": 500.0,
        "retries": 4,
    }
    src.update(extra)
    return src


def arduino_config(url: str, name: str = "arduino", **extra: object) -> ArduinoSourceConfig:
    """The same source as a config object, for client and target tests."""
    data = arduino_source(url, name, **extra)
    data["client_id"] = SecretStr(str(data["client_id"]))
    data["client_secret"] = SecretStr(str(data["client_secret"]))
    return ArduinoSourceConfig.model_validate(data)
