"""Checks of logged exchanges with the sandbox Grafana against Grafana's API documents.

Every exchange under ``/api`` and ``/apis`` is checked. dashvault's requests (told by their
User-Agent): the path (an operation must describe it), method, path and query parameters (declared,
of the declared type) and JSON body. Every response: a status the operation declares, and a body
that validates against the declared schema. Paths no document describes are deviations too, unless
allow-listed (``allowances.UNDOCUMENTED``) or a test's own probe of an endpoint that does not exist
(answered by no route of the sandbox).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from jsonschema.exceptions import ValidationError

from sandbox.server import RequestRecord
from sources.http import USER_AGENT
from tests.contract import allowances
from tests.contract.spec import Match, Operation, Parameter, Schema, Specs

#: Response bodies validated per (method, path template, status) and test: schema validation of
#: large listings is the slow part, and the thousandth identical page rarely says anything new.
#: Requests (paths, query parameters, bodies) and statuses are checked for every exchange.
MAX_BODIES = 10
#: Schema violations reported per body; one wrong field often brings a few others with it.
MAX_ERRORS = 5
_DASHVAULT = USER_AGENT.split("/", 1)[0] + "/"
_INDEX = re.compile(r"\[\d+\]")
#: How a check reports: (where, problem, what the document says).
_Add = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Deviation:
    """One way an exchange departs from the documents."""

    method: str
    path: str
    status: int
    where: str
    """What deviates: ``path``, ``query parameter 'x'``, ``request body at $.a``, ``status`` ..."""
    problem: str
    expected: str
    """What the document says."""
    operation: str = ""
    """``METHOD /template (document)`` of the operation found, empty when there is none."""
    template: str = ""
    query: str = ""

    @property
    def kind(self) -> tuple[str, str, str]:
        """What makes deviations alike: the operation, the field (list indices dropped), the rule."""
        where = _INDEX.sub("[*]", self.where)
        return (self.operation or f"{self.method} {self.path}", where, self.expected)

    def __str__(self) -> str:
        target = self.path + (f"?{self.query}" if self.query else "")
        head = f"{self.method} {target} -> {self.status}"
        if self.operation:
            head += f"  [{self.operation}]"
        return f"{head}\n    {self.where}: {self.problem}\n    spec: {self.expected}"


def _summary(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expected(error: ValidationError) -> str:
    """The rule a violation broke, in the document's words."""
    rule = f"{error.validator}: {_summary(error.validator_value)}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "description" in schema:
        rule += f" ({_summary(schema['description'], 100)})"
    return rule


def _json_path(prefix: str, error: ValidationError) -> str:
    return prefix + error.json_path.removeprefix("$")


class Checker:
    """Checks exchanges one by one, remembering how many bodies of each kind it validated."""

    def __init__(self, specs: Specs, *, max_bodies: int = MAX_BODIES) -> None:
        self.specs = specs
        self.max_bodies = max_bodies
        self.validated: Counter[tuple[str, str, int]] = Counter()
        """Response bodies validated, by (method, template, status)."""
        self.checked: set[tuple[str, str, int]] = set()
        """(method, template, status) of every exchange checked against an operation."""

    def check(self, record: RequestRecord) -> list[Deviation]:
        """Every deviation of one logged exchange (none for paths outside ``/api`` and ``/apis``)."""
        path = record.path
        if not (path in ("/api", "/apis") or path.startswith(("/api/", "/apis/"))):
            return []
        # HEAD is GET without a body (RFC 9110 section 9.3.2); documents describe the GET.
        method = "GET" if record.method == "HEAD" else record.method
        if allowances.undocumented(method, path):  # before templates, which may match it by accident
            return []
        found, matches = self.specs.find(method, allowances.documented_path(path))
        query = urlencode(record.query, doseq=True)
        if found is None:
            if record.route is None and not _from_dashvault(record):
                return []
            declared = sorted({m.operation.method for m in matches})
            if declared:
                where, expected = "method", f"{matches[0].operation.template} declares {', '.join(declared)}"
            else:
                where, expected = "path", "no document describes this path"
            problem = f"{record.method} is not described"
            return [Deviation(record.method, path, record.status, where, problem, expected, query=query)]
        out: list[Deviation] = []
        self.checked.add((found.operation.method, found.operation.template, record.status))

        def add(where: str, problem: str, expected: str) -> None:
            op = found.operation
            out.append(
                Deviation(
                    record.method, path, record.status, where, problem, expected, op.label, op.template, query
                )
            )

        if _from_dashvault(record):
            # The requests under contract are dashvault's; tests send malformed ones on purpose, to
            # see the sandbox's error answers (which are checked below like any other).
            self._check_parameters(found, record, add)
            self._check_request_body(found.operation, record, add)
        if record.fault is None:
            # Injected faults (429, 503, fail_requests) stand for a proxy or an overloaded server in
            # front of Grafana, not for answers of its API.
            self._check_response(found.operation, record, add)
        return out

    # -- request -----------------------------------------------------------------------------------

    def _check_parameters(self, found: Match, record: RequestRecord, add: _Add) -> None:
        op = found.operation
        check_path_parameters(found, add)
        for name, values in record.query.items():
            param = op.parameters.get(("query", name))
            if param is None and allowances.undeclared_parameter(op.method, op.template, name, values):
                continue
            if param is None:
                names = sorted(n for loc, n in op.parameters if loc == "query")
                add(
                    f"query parameter {name!r}",
                    "not declared",
                    f"query parameters: {', '.join(names) or 'none'}",
                )
                continue
            _check_value(param, values, f"query parameter {name!r}", add)
        for (location, name), param in op.parameters.items():
            if location == "query" and param.required and name not in record.query:
                add(f"query parameter {name!r}", "missing", "required: true")

    def _check_request_body(self, op: Operation, record: RequestRecord, add: _Add) -> None:
        if record.response is None:
            return  # the sandbox logs no bodies (log_bodies=False): nothing to check
        body = record.json
        if body is None:
            if op.body is not None and op.body_required:
                add("request body", "missing", "a JSON body is required")
            return
        if op.body is None:
            add("request body", "a JSON body was sent", "the operation takes no body")
            return
        media = (record.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if op.consumes and media not in op.consumes:
            add("request Content-Type", repr(media), f"consumes: {', '.join(op.consumes)}")
        for error in op.body.errors(body)[:MAX_ERRORS]:
            add(f"request body at {_json_path('$', error)}", error.message, _expected(error))

    # -- response ----------------------------------------------------------------------------------

    def _check_response(self, op: Operation, record: RequestRecord, add: _Add) -> None:
        status = record.status
        has_body = record.response is not None and record.method != "HEAD" and status != 204
        reply = op.reply(status)
        schema: Schema | None
        if reply is not None:
            schema = reply.schema
        else:
            expected = allowances.undeclared_status(self.specs, op, status)
            if expected is None:
                body = _parse(record.response) if has_body else None
                said = (
                    f" (message: {body['message']!r})" if isinstance(body, dict) and "message" in body else ""
                )
                add(
                    "status", f"{status} is not declared{said}", f"responses: {', '.join(sorted(op.replies))}"
                )
                return
            schema = expected.schema
        if schema is None or not has_body:
            return
        media = (record.response_type or "").split(";", 1)[0].strip().lower()
        if reply is not None and reply.media_types and not {media, "*/*"} & set(reply.media_types):
            add("response Content-Type", repr(media), f"produces: {', '.join(reply.media_types)}")
        key = (op.method, op.template, status)
        if self.validated[key] >= self.max_bodies:
            return
        self.validated[key] += 1
        body = _parse(record.response)
        if body is _NOT_JSON and not (record.response or b"").strip() and allowances.empty_body(op, status):
            return
        if body is _NOT_JSON:
            # The sandbox's `truncate_listing_after` cuts listing pages in half (a connection cut
            # mid-body) without marking them as a fault: an unparsable listing page is that fault.
            if not (status == 200 and op.method == "GET" and _is_listing(op)):
                add("response body", "is not JSON", f"a JSON body ({record.response_type})")
            return
        instance, prefix = allowances.response_view(op, status, body)
        errors = [
            e for e in schema.errors(instance) if not allowances.allowed(op, status, body, e, record.query)
        ]
        for error in errors[:MAX_ERRORS]:
            add(f"response body at {_json_path(prefix, error)}", error.message, _expected(error))


_NOT_JSON = object()


def _parse(raw: bytes | None) -> Any:
    """A logged body as JSON, ``_NOT_JSON`` when it is not JSON (parsed only when it is checked)."""
    try:
        return json.loads(raw or b"")
    except ValueError:
        return _NOT_JSON


def _is_listing(op: Operation) -> bool:
    return op.template == "/api/search" or (
        op.template.startswith("/apis/") and op.template.endswith(("/dashboards", "/folders"))
    )


def _from_dashvault(record: RequestRecord) -> bool:
    return (record.headers.get("User-Agent") or "").startswith(_DASHVAULT)


def _convert(raw: str, kind: str) -> Any:
    """A query-string value as the declared type; ValueError when it is not one."""
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        # Grafana reads booleans with Go's strconv.ParseBool.
        lowered = raw.lower()
        if lowered in ("1", "t", "true"):
            return True
        if lowered in ("0", "f", "false"):
            return False
        raise ValueError(raw)
    return raw


def check_path_parameters(found: Match, add: _Add) -> None:
    """Check each path parameter of a matched request against its declared schema."""
    for name, value in found.params.items():
        param = found.operation.parameters.get(("path", name))
        if param is not None:
            _check_value(param, [value], f"path parameter {name!r}", add)


def _check_value(param: Parameter, values: list[str], where: str, add: _Add) -> None:
    instance: Any
    try:
        if param.kind == "array":
            raw = values if param.multi else [part for v in values for part in v.split(",")]
            instance = [_convert(v, param.item_kind) for v in raw]
        else:
            if len(values) > 1:
                add(where, f"given {len(values)} times", f"one {param.kind}")
                return
            instance = _convert(values[0], param.kind)
    except ValueError:
        add(where, f"{values!r} is not of type {param.kind!r}", f"type: {param.kind}")
        return
    for error in param.schema.errors(instance)[:MAX_ERRORS]:
        add(where, error.message, _expected(error))


def check_records(
    specs: Specs, records: Iterable[RequestRecord], *, max_bodies: int = MAX_BODIES
) -> list[Deviation]:
    """Every deviation in a request log."""
    checker = Checker(specs, max_bodies=max_bodies)
    return [d for record in records for d in checker.check(record)]


def report(deviations: list[Deviation], *, examples: int = 20) -> str:
    """A readable account: deviations alike are shown once, with how often they occurred."""
    groups: dict[tuple[str, str, str], list[Deviation]] = {}
    for d in deviations:
        groups.setdefault(d.kind, []).append(d)
    lines = [f"{len(deviations)} deviation(s) from Grafana's API documents ({len(groups)} distinct):"]
    for alike in list(groups.values())[:examples]:
        more = f"\n    (and {len(alike) - 1} more like it)" if len(alike) > 1 else ""
        lines.append(f"- {alike[0]}{more}")
    if len(groups) > examples:
        lines.append(f"... and {len(groups) - examples} more distinct deviation(s)")
    return "\n".join(lines)
