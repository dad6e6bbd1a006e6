"""Checks of logged exchanges with the sandbox Arduino IoT Cloud against Arduino's OpenAPI document.

The document is Arduino's own (``../shared/specs/arduino/openapi.yaml``, the copy its generated Go
client is built from; read at test time, never copied in). Every exchange under ``/iot/v2/dashboards``
and ``/iot/v3/dashboards`` is checked. dashvault's requests (told by their User-Agent): the operation
exists, its path and query parameters are declared and of the declared type, and the JSON body
validates against the request model (``dashboardv3``, ``widget`` ..., with their ``maxLength``,
``pattern`` and ``format: uuid``). Every response: a declared status, a declared media type, and a
body that validates against the declared schema. The differences allowed are listed in ``ALLOWED``,
each with where it comes from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode

import yaml

from sandbox.server import RequestRecord
from tests.contract.check import (
    MAX_ERRORS,
    Deviation,
    _check_value,
    _expected,
    _from_dashvault,
    _json_path,
    _parse,
    check_path_parameters,
)
from tests.contract.spec import Document, Specs

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "arduino" / "openapi.yaml"
_CHECKED = ("/iot/v2/dashboards", "/iot/v3/dashboards")
#: Statuses any operation may answer though the document does not declare them: the rate limit
#: (docs.arduino.cc/arduino-cloud/api/arduino-iot-api: "authenticated clients limit is up to 10req/s",
#: answered 429 Too Many Requests).
UNDECLARED_STATUS = frozenset({429})


def available() -> bool:
    """Whether Arduino's document is present (a fresh clone has no ``../shared``)."""
    return SPEC.is_file()


@functools.cache
def load() -> Specs:
    """The document, parsed and indexed once per session."""
    return Specs([Document("arduino/openapi.yaml", yaml.safe_load(SPEC.read_bytes()))])


def check_arduino(specs: Specs, records: Iterable[RequestRecord]) -> list[Deviation]:
    """Every deviation in an Arduino sandbox's request log."""
    out: list[Deviation] = []
    for record in records:
        out.extend(_check(specs, record))
    return out


def _check(specs: Specs, record: RequestRecord) -> list[Deviation]:
    path = record.path
    if not path.startswith(_CHECKED):
        return []  # the token endpoint: the document names it only as the oauth2 scheme's tokenUrl
    query = urlencode(record.query, doseq=True)
    found, _ = specs.find(record.method, path)
    if found is None:
        if record.route is None and not _from_dashvault(record):
            return []  # a test's probe of an endpoint that does not exist
        return [
            Deviation(
                record.method, path, record.status, "path", "not described", "an operation", query=query
            )
        ]
    op = found.operation
    if record.route is None and record.status == 404:
        return []  # a server from before this endpoint (v3 switched off): it does not exist there
    out: list[Deviation] = []

    def add(where: str, problem: str, expected: str) -> None:
        out.append(
            Deviation(
                record.method, path, record.status, where, problem, expected, op.label, op.template, query
            )
        )

    if _from_dashvault(record):
        check_path_parameters(found, add)
        for name, values in record.query.items():
            param = op.parameters.get(("query", name))
            if param is None:
                add(f"query parameter {name!r}", "not declared", "the operation's query parameters")
            else:
                _check_value(param, values, f"query parameter {name!r}", add)
        if record.json is not None:
            if op.body is None:
                add("request body", "a JSON body was sent", "the operation takes no body")
            else:
                for error in op.body.errors(record.json)[:MAX_ERRORS]:
                    add(f"request body at {_json_path('$', error)}", error.message, _expected(error))
        elif op.body is not None and op.body_required and record.method != "GET":
            add("request body", "missing", "a JSON body is required")
    if record.fault is not None:
        return out  # injected faults stand for a proxy in front of the cloud, not for its answers
    reply = op.reply(record.status)
    if reply is None:
        if record.status not in UNDECLARED_STATUS:
            add("status", f"{record.status} is not declared", f"responses: {', '.join(sorted(op.replies))}")
        return out
    has_body = bool((record.response or b"").strip())
    if reply.schema is None or not has_body or record.response is None:
        return out
    media = (record.response_type or "").split(";", 1)[0].strip().lower()
    declared = {m.split(";", 1)[0].strip().lower() for m in reply.media_types}
    if declared and media not in declared:
        add("response Content-Type", repr(media), f"content: {', '.join(sorted(declared))}")
    body = _parse(record.response)
    for error in reply.schema.errors(body)[:MAX_ERRORS]:
        add(f"response body at {_json_path('$', error)}", error.message, _expected(error))
    return out
