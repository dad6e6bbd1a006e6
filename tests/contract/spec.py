"""Grafana's published API documents, loaded once per session and indexed by operation.

``api-merged.json`` is Swagger 2.0 (the legacy ``/api``, under its ``basePath``); the ``/apis``
snapshots are OpenAPI 3.0. Both describe payloads with the same Schema Object (2.0's is a subset of
3.0's), so one validator serves both and no document is converted: each document is registered
whole with ``referencing`` under a URI of its own, and a schema is validated as ``{"$ref":
"<uri>#<JSON pointer>"}``, so the document's own ``$ref``s (``#/definitions/...``,
``#/components/schemas/...``) resolve in place, exactly as written.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

#: Where the shared, read-only API documents live: beside the repository, never inside it.
SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "grafana"
DOCUMENTS = (
    "api-merged.json",
    "dashboard.grafana.app-v1beta1.json",
    "dashboard.grafana.app-v2beta1.json",
    "folder.grafana.app-v1beta1.json",
)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_PARAM = re.compile(r"\{([^}]+)\}")
# Parameter keys of Swagger 2.0 that are not Schema Object keywords.
_NOT_SCHEMA = frozenset({"name", "in", "description", "required", "collectionFormat", "allowEmptyValue"})


def available() -> bool:
    """Whether every API document is present (a fresh clone has no ``../shared``)."""
    return all((SPECS / name).is_file() for name in DOCUMENTS)


def escape(segment: str) -> str:
    """One JSON-pointer segment (RFC 6901)."""
    return segment.replace("~", "~0").replace("/", "~1")


class Schema:
    """A schema of one document, validated with the OpenAPI 3.0 dialect (formats checked)."""

    def __init__(self, document: Document, pointer: str, inline: dict[str, Any] | None = None) -> None:
        self.document = document
        self.pointer = pointer
        self.raw: Any = inline if inline is not None else document.resolve(pointer)
        root = inline if inline is not None else {"$ref": f"{document.uri}#{pointer}"}
        self._validator = OAS30Validator(
            root, registry=document.registry, format_checker=oas30_format_checker
        )

    def errors(self, instance: Any) -> list[ValidationError]:
        """The violations, shallowest first; a null that is not ``nullable`` is reported once, not twice."""
        found: dict[tuple[str, str], ValidationError] = {}
        for error in self._validator.iter_errors(instance):
            rule = "type" if error.validator == "type" else error.message
            found.setdefault((error.json_path, rule), error)
        return sorted(found.values(), key=lambda e: (len(e.path), e.json_path))

    def __repr__(self) -> str:
        return f"Schema({self.document.name}#{self.pointer})"


@dataclass
class Parameter:
    """A path or query parameter: its schema, and how a query string spells arrays."""

    name: str
    location: str
    required: bool
    schema: Schema
    kind: str
    """The declared type (``string``, ``integer``, ``boolean``, ``number``, ``array``)."""
    item_kind: str = "string"
    multi: bool = True
    """Repeated ``?name=a&name=b`` (2.0 ``multi``, 3.0 ``form``/``explode``) rather than ``a,b``."""


@dataclass
class Reply:
    """One declared response: its body schema (None: no body described) and media types."""

    status: str
    schema: Schema | None
    media_types: tuple[str, ...] = ()


@dataclass
class Operation:
    """One operation of one document, with its full path template (the base path included)."""

    document: Document
    method: str
    template: str
    segments: tuple[str | None, ...]
    """Literal segments, None where the template has a parameter."""
    names: tuple[str, ...]
    """Parameter names, in the order of the None segments."""
    parameters: dict[tuple[str, str], Parameter] = field(default_factory=dict)
    body: Schema | None = None
    body_required: bool = False
    consumes: tuple[str, ...] = ()
    replies: dict[str, Reply] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``METHOD /template (document)``."""
        return f"{self.method} {self.template} ({self.document.name})"

    def reply(self, status: int) -> Reply | None:
        """The declared response for a status: exact, then ``4XX``-style range, then ``default``."""
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in self.replies:
                return self.replies[key]
        return None


class Document:
    """One API document: its operations and the schema registry its ``$ref``s resolve in."""

    def __init__(self, name: str, contents: dict[str, Any]) -> None:
        self.name = name
        self.contents = contents
        self.uri = f"urn:api-document:{name}"
        self.registry: Registry[Any] = Registry().with_resource(self.uri, DRAFT4.create_resource(contents))
        self.swagger2 = str(contents.get("swagger", "")).startswith("2.")
        self.base_path = str(contents.get("basePath", "")).rstrip("/") if self.swagger2 else ""
        self._schemas: dict[str, Schema] = {}
        self.operations = list(self._operations())

    def resolve(self, pointer: str) -> Any:
        """The value at a JSON pointer of this document."""
        node: Any = self.contents
        for raw in pointer.lstrip("/").split("/") if pointer else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def schema(self, pointer: str) -> Schema:
        """The schema at a JSON pointer (validators are built once and shared)."""
        if pointer not in self._schemas:
            self._schemas[pointer] = Schema(self, pointer)
        return self._schemas[pointer]

    def _deref(self, pointer: str) -> tuple[str, Any]:
        """Follow a ``$ref`` to another part of the document (parameters, responses)."""
        node = self.resolve(pointer)
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 10:
            pointer = node["$ref"].removeprefix("#")
            node = self.resolve(pointer)
            seen += 1
        return pointer, node

    def _operations(self) -> Iterator[Operation]:
        for path, item in self.contents.get("paths", {}).items():
            base = f"/paths/{escape(path)}"
            template = (self.base_path + path).rstrip("/") or "/"
            parts = template.strip("/").split("/")
            segments = tuple(None if _PARAM.fullmatch(p) else p for p in parts)
            names = tuple(m.group(1) for p in parts if (m := _PARAM.fullmatch(p)))
            shared = [f"{base}/parameters/{i}" for i in range(len(item.get("parameters", [])))]
            for method in METHODS:
                if method not in item:
                    continue
                where = f"{base}/{method}"
                op = Operation(self, method.upper(), template, segments, names)
                own = [f"{where}/parameters/{i}" for i in range(len(item[method].get("parameters", [])))]
                for pointer in shared + own:  # an operation's own parameters override the path's
                    self._add_parameter(op, pointer)
                if self.swagger2:
                    consumes = item[method].get("consumes") or self.contents.get("consumes") or []
                    op.consumes = tuple(consumes)
                else:
                    self._add_request_body(op, f"{where}/requestBody")
                produces = tuple(item[method].get("produces") or self.contents.get("produces") or ())
                for status in item[method].get("responses", {}):
                    self._add_reply(op, f"{where}/responses/{escape(status)}", status, produces)
                yield op

    def _add_parameter(self, op: Operation, pointer: str) -> None:
        pointer, param = self._deref(pointer)
        location = param.get("in")
        if location == "body":
            op.body = self.schema(f"{pointer}/schema")
            op.body_required = bool(param.get("required"))
            return
        if location not in ("path", "query"):
            return  # headers and form fields: not part of what is checked
        if self.swagger2:
            inline = {k: v for k, v in param.items() if k not in _NOT_SCHEMA}
            schema = Schema(self, pointer, inline)
            kind = str(param.get("type", "string"))
            multi = param.get("collectionFormat") == "multi"
        else:
            schema = self.schema(f"{pointer}/schema")
            kind = str(schema.raw.get("type", "string"))
            multi = param.get("explode", param.get("style", "form") == "form") is True
        items = schema.raw.get("items") if isinstance(schema.raw, dict) else None
        item_kind = str(items.get("type", "string")) if isinstance(items, dict) else "string"
        op.parameters[(location, param["name"])] = Parameter(
            param["name"], location, bool(param.get("required")), schema, kind, item_kind, multi
        )

    def _add_request_body(self, op: Operation, pointer: str) -> None:
        if "requestBody" not in self.resolve(pointer.rsplit("/", 1)[0]):
            return
        pointer, body = self._deref(pointer)
        content = body.get("content", {})
        op.consumes = tuple(content)
        op.body_required = bool(body.get("required"))
        media = _json_media(content)
        if media is not None and "schema" in content[media]:
            op.body = self.schema(f"{pointer}/content/{escape(media)}/schema")

    def _add_reply(self, op: Operation, pointer: str, status: str, produces: tuple[str, ...]) -> None:
        """A declared response; ``produces`` gives a 2.0 document's media types (3.0 has them inline)."""
        pointer, reply = self._deref(pointer)
        schema: Schema | None = None
        media_types: tuple[str, ...] = ()
        if self.swagger2:
            media_types = produces
            if "schema" in reply:
                schema = self.schema(f"{pointer}/schema")
        else:
            content = reply.get("content", {})
            media_types = tuple(content)
            media = _json_media(content)
            if media is not None and "schema" in content[media]:
                schema = self.schema(f"{pointer}/content/{escape(media)}/schema")
        op.replies[status] = Reply(status, schema, media_types)


def _json_media(content: dict[str, Any]) -> str | None:
    """The media type a JSON body is described under: ``application/json``, else ``*/*``, else the first
    structured-syntax ``+json`` type (Arduino's ``application/vnd.arduino.dashboardv2+json`` ...)."""
    for media in ("application/json", "*/*"):
        if media in content:
            return media
    return next((m for m in content if m.split(";", 1)[0].strip().endswith("+json")), None)


@dataclass
class Match:
    """An operation found for a request, with the path parameters taken from the raw path."""

    operation: Operation
    params: dict[str, str]


class Specs:
    """Every Grafana API document, with operation lookup by method and raw path."""

    def __init__(self, documents: list[Document]) -> None:
        self.documents = {d.name: d for d in documents}
        self._by_length: dict[int, list[Operation]] = {}
        for d in documents:
            for op in d.operations:
                self._by_length.setdefault(len(op.segments), []).append(op)

    def document(self, name: str) -> Document:
        """A document by file name."""
        return self.documents[name]

    def operations(self, path: str) -> list[Match]:
        """Operations whose template matches a raw path, most literal segments first."""
        parts = path.strip("/").split("/")
        found: list[tuple[int, Match]] = []
        for op in self._by_length.get(len(parts), []):
            params: dict[str, str] = {}
            literal = 0
            for want, have in zip(op.segments, parts, strict=True):
                if want is None:
                    if not have:
                        break
                    params[op.names[len(params)]] = unquote(have)
                elif want != have:
                    break
                else:
                    literal += 1
            else:
                found.append((literal, Match(op, params)))
        found.sort(key=lambda pair: -pair[0])
        # A literal segment wins over a parameter (OpenAPI's path matching): keep the best only.
        best = found[0][0] if found else 0
        return [m for literal, m in found if literal == best]

    def find(self, method: str, path: str) -> tuple[Match | None, list[Match]]:
        """(the operation for this method, every operation of the path) for a raw path."""
        matches = self.operations(path)
        for m in matches:
            if m.operation.method == method:
                return m, matches
        return None, matches


@functools.cache
def load() -> Specs:
    """The documents, parsed and indexed once per session."""
    return Specs([Document(name, json.loads((SPECS / name).read_bytes())) for name in DOCUMENTS])
