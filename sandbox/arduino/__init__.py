"""A stand-in for the Arduino IoT Cloud API on loopback: OAuth2 client credentials and dashboards v2.

State lives in memory, guarded by one re-entrant lock, per space: the personal space (no
``X-Organization`` header, or an empty one) and each organization added with ``add_organization``.
Ids (dashboards, widgets, users, things, properties) are uuids the server generates, as in the cloud.
Tests set the state up through the Python API (``add_thing``, ``add_property``, ``add_dashboard`` ...)
and steer tokens and faults through plain attributes (``token_lifetime``, ``reject_tokens``, ``latency``,
``rate_429`` ...).

The code is split by concern: ``protocol`` (paths, errors), ``state`` (the model), ``core`` (lookups and
JSON), ``oauth`` (tokens), ``routes`` (dashboard endpoints), ``api`` (the Python API) and ``server``
(``ArduinoSandbox`` itself); this module re-exports what other code imports from ``sandbox.arduino``.
"""

from __future__ import annotations

from sandbox.arduino.protocol import AUDIENCE, DASHBOARDS, TOKEN_PATH
from sandbox.arduino.server import ArduinoSandbox

__all__ = ["AUDIENCE", "DASHBOARDS", "TOKEN_PATH", "ArduinoSandbox"]
