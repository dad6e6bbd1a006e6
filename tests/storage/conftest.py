"""Fixtures of the store tests: a populated sandbox Grafana for the integrity checks."""

from __future__ import annotations

from tests.storage.integrity_support import populated

__all__ = ["populated"]
