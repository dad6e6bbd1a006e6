"""Fixtures of the sandbox tests: a started Grafana sandbox (contract-checked) and a client for it."""

from __future__ import annotations

from tests.sandbox.grafana_support import client, sb

__all__ = ["client", "sb"]
