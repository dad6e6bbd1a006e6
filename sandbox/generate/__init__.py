"""Realistic Grafana dashboards and whole populations (nested folders, users, teams, ACLs) for the sandbox.

Also Arduino IoT Cloud populations (things, properties, shared dashboards). The code is split by concern:
``grafana_panels`` (panel models and layout), ``grafana_models`` (whole dashboard models),
``grafana_population`` (``populate``) and ``arduino`` (``populate_arduino``); this module re-exports
what the rest of the code imports from ``sandbox.generate``.
"""

from __future__ import annotations

from sandbox.generate.arduino import ARDUINO_SHARED_SPACE, ArduinoPopulation, populate_arduino
from sandbox.generate.grafana_models import make_dashboard
from sandbox.generate.grafana_population import Population, populate

__all__ = [
    "ARDUINO_SHARED_SPACE",
    "ArduinoPopulation",
    "Population",
    "make_dashboard",
    "populate",
    "populate_arduino",
]
