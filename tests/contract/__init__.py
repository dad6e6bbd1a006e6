"""Contract tests: the sandbox Grafana and dashvault's requests, against Grafana's API documents.

The documents are Grafana's own (``../shared/specs/grafana``, read at test time, never copied in):
the Swagger 2.0 ``api-merged.json`` for the legacy ``/api`` and the OpenAPI 3.0 snapshots of the
``/apis`` groups. Validation uses ``openapi-schema-validator`` (the OpenAPI 3.0 Schema Object
dialect, on ``jsonschema``, with formats such as ``date-time`` and ``int64`` checked) and resolves
each document's own ``$ref``s with ``referencing``. The 2.0 document is not converted to 3.0: its
Schema Object is a subset of 3.0's, so the same validator reads it as written, and the small part
that differs between the two versions (where parameters, bodies and response schemas sit) is read
by ``spec``. That leaves no converter to get wrong, and it keeps exact control of what is allowed:
a full request/response validator (such as openapi-core, 3.x only) would need the 2.0 document
converted and could not tell Grafana's known differences from other failures.

The Arduino sandbox is checked the same way against Arduino's OpenAPI document
(``../shared/specs/arduino/openapi.yaml``) by ``arduino``.

``spec`` loads and indexes the documents, ``allowances`` holds the known differences between them
and Grafana's behaviour (each naming the Grafana source it follows), ``check`` checks logged
exchanges, and ``plugin`` runs the check after every test whose sandbox was handed to
:func:`watch` (the ``grafana`` fixture does so).
"""

from __future__ import annotations

from typing import TypeVar

import pytest

from sandbox.arduino import ArduinoSandbox
from sandbox.grafana import GrafanaSandbox

S = TypeVar("S", GrafanaSandbox, ArduinoSandbox)
WATCHED = pytest.StashKey[list[GrafanaSandbox | ArduinoSandbox]]()


def watch(request: pytest.FixtureRequest, sandbox: S) -> S:
    """Check this sandbox's request log against the documents when the requesting test passes."""
    request.node.stash.setdefault(WATCHED, []).append(sandbox)
    return sandbox
