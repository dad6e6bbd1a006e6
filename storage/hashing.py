"""Content hashing: RFC 8785 canonical JSON and sha256, with volatile fields removed first.

The hash identifies what an item *is*, not when it was saved: a save in Grafana that changes
nothing bumps `version` but keeps the hash, so unchanged dashboards cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Any

import orjson
import rfc8785

from storage.jsontext import digits_as_zeros
from storage.model import Entry, Item

#: Top-level keys of a Grafana dashboard model that change on every save.
GRAFANA_MODEL_VOLATILE = frozenset({"id", "version", "iteration"})
#: Kubernetes object metadata that the server rewrites on every write.
K8S_METADATA_VOLATILE = frozenset(
    {
        "resourceVersion",
        "generation",
        "managedFields",
        "creationTimestamp",
        "deletionTimestamp",
        "uid",
        "selfLink",
    }
)
#: Annotations Grafana's /apis layer maintains itself.
K8S_ANNOTATIONS_VOLATILE = frozenset(
    {
        "grafana.app/createdBy",
        "grafana.app/updatedBy",
        "grafana.app/updatedTimestamp",
        "grafana.app/message",
    }
)
#: Arduino IoT Cloud bookkeeping fields.
ARDUINO_VOLATILE = frozenset({"created_at", "updated_at"})

# RFC 8785 numbers are IEEE doubles; JSON from a server can carry larger integers.
_SAFE_INT = 2**53 - 1


def strip_volatile(content: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `content` without the fields that change on every save (DESIGN.md section 3)."""
    out = {k: v for k, v in content.items() if k not in ARDUINO_VOLATILE}
    model = out.get("dashboard")
    if isinstance(model, dict):
        out["dashboard"] = {k: v for k, v in model.items() if k not in GRAFANA_MODEL_VOLATILE}
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        meta = {k: v for k, v in metadata.items() if k not in K8S_METADATA_VOLATILE}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            meta["annotations"] = {k: v for k, v in annotations.items() if k not in K8S_ANNOTATIONS_VOLATILE}
        out["metadata"] = meta
    return out


def _doubles(value: Any) -> Any:
    """Map integers outside the I-JSON range to floats, the value every RFC 8785 peer would see."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else float(value)
    if isinstance(value, dict):
        return {k: _doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_doubles(v) for v in value]
    return value


# Compact, sorted JSON from orjson is already RFC 8785 except where it and ECMAScript disagree: number
# forms ("1.0", "1e+16", integers beyond 2**53), which are rewritten token by token, and object keys
# that sort differently by UTF-16 code units than by code points (only when characters from U+E000 up
# and from U+10000 up both occur). That, lone surrogates, integers beyond 64 bits and non-JSON values
# go to the reference implementation (10-20 times slower), which gives the exact answer or the error.
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
# Number tokens follow ":", "," or "["; the same text inside a string only costs a needless rewrite pass.
_ODD_NUMBER = re.compile(rb"[:,\[]-?[0-9](?:[0-9]*\.0[,\]}]|[0-9.]*e|[0-9]{15})")
_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")')
_ODD_TOKEN = re.compile(
    r"(?<![\w.+-])-?(?:[0-9]+\.0(?![0-9eE])|[0-9][0-9.]*e[-+]?[0-9]+|[0-9]{16,}(?![0-9.e]))"
)


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON bytes of `value` (JSON data: string keys, finite numbers)."""
    try:
        data = orjson.dumps(value, option=_SORTED)
    except TypeError:
        data = None
    if data is not None and not _sorts_apart(data):
        if _maybe_odd_number(data) and (_ODD_NUMBER.search(data) is not None or data[:1] not in b"{["):
            return _es_numbers(data.decode()).encode()
        return data
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.IntegerDomainError:
        return bytes(rfc8785.dumps(_doubles(value)))


def _sorts_apart(data: bytes) -> bool:
    """Whether UTF-8 `data` holds characters from both U+E000..U+FFFF and U+10000.. (by lead bytes)."""
    # Substring tests are memchr scans: much faster than a regular expression character class.
    return (
        not data.isascii()
        and any(b in data for b in (b"\xee", b"\xef"))
        and any(b in data for b in (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4"))
    )


def _maybe_odd_number(data: bytes) -> bool:
    """A quick superset of `_ODD_NUMBER` for orjson output: ".0" endings, exponents, 16-digit runs."""
    if data[:1] not in b"{[" or b".0," in data or b".0]" in data or b".0}" in data:
        return True
    zeros = digits_as_zeros(data)
    return b"0e+0" in zeros or b"0e-0" in zeros or b"0" * 15 in zeros


def _es_numbers(text: str) -> str:
    """Compact JSON with every number written the ECMAScript way (strings left alone)."""
    parts = _STRING.split(text)  # odd indices are string tokens
    # What lies between strings holds no NUL (control characters only occur escaped, in strings).
    outside = "\x00".join(parts[0::2])
    fixed = _ODD_TOKEN.sub(_es_number, outside)
    if fixed != outside:
        parts[0::2] = fixed.split("\x00")
    return "".join(parts)


def _es_number(match: re.Match[str]) -> str:
    token = match.group()
    if "." in token or "e" in token:
        return rfc8785.dumps(float(token)).decode()
    if abs(int(token)) > _SAFE_INT:
        return rfc8785.dumps(float(int(token))).decode()
    return token


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(content: dict[str, Any]) -> str:
    """The content hash of an item: sha256 of the canonical JSON of its non-volatile content."""
    return sha256_hex(canonical(strip_volatile(content)))


def pretty(content: Any) -> bytes:
    """Readable JSON for files people diff: sorted keys, two-space indent, trailing newline.

    The same text as ``json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False)``, made faster.
    """
    try:
        data = orjson.dumps(content, option=_SORTED | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        data = None
    # orjson writes numbers below 1e-4 differently from Python ("0.00001", "1e-7" for "1e-05", "1e-07").
    if data is not None and b"0.0000" not in data and b"0e-" not in digits_as_zeros(data):
        return data
    out: list[str] = []
    try:
        _pretty(content, 0, out)
    except _Unusual:
        return (json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    out.append("\n")
    return "".join(out).encode()


class _Unusual(Exception):
    """A value the fast path does not handle exactly like `json.dumps` (a key that is not a string)."""


@cache
def _flat(depth: int) -> json.JSONEncoder:
    """Encodes a container of scalars at `depth` in one C call: the indented separator does the layout."""
    return json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",\n" + "  " * depth, ": "))


_NESTED = (dict, list)


def _pretty(value: Any, depth: int, out: list[str]) -> None:
    # json.dumps(indent=2) is pure Python; only containers that hold containers are walked here.
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = "\n" + "  " * (depth + 1)
        if not any(isinstance(v, _NESTED) for v in value.values()):
            if any(type(k) is not str for k in value):
                raise _Unusual
            out.extend(("{", inner, _flat(depth + 1).encode(value)[1:-1], "\n", "  " * depth, "}"))
            return
        sep = "{" + inner
        for key in sorted(value):
            if type(key) is not str:
                raise _Unusual
            out.extend((sep, _flat(0).encode(key), ": "))
            _pretty(value[key], depth + 1, out)
            sep = "," + inner
        out.extend(("\n", "  " * depth, "}"))
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner = "\n" + "  " * (depth + 1)
        if not any(isinstance(v, _NESTED) for v in value):
            out.extend(("[", inner, _flat(depth + 1).encode(value)[1:-1], "\n", "  " * depth, "]"))
            return
        sep = "[" + inner
        for item in value:
            out.append(sep)
            _pretty(item, depth + 1, out)
            sep = "," + inner
        out.extend(("\n", "  " * depth, "]"))
    else:
        out.append(_flat(0).encode(value))


def entry_for(item: Item) -> tuple[Entry, dict[str, object]]:
    """The manifest entry of an item and the normalized content the store keeps."""
    content = strip_volatile(item.content)
    data = canonical(content)
    entry = Entry(
        source=item.source,
        kind=item.kind,
        key=item.key,
        title=item.title,
        folder=item.folder,
        hash=sha256_hex(data),
        size=len(data),
        meta=item.meta,
    )
    return entry, content
