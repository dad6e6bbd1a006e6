"""Content hashing: RFC 8785 canonical JSON and sha256, with volatile fields removed first.

The hash identifies what an item *is*, not when it was saved: a save in Grafana that changes
nothing bumps `version` but keeps the hash, so unchanged dashboards cost nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

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


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON bytes of `value`."""
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.IntegerDomainError:
        return bytes(rfc8785.dumps(_doubles(value)))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(content: dict[str, Any]) -> str:
    """The content hash of an item: sha256 of the canonical JSON of its non-volatile content."""
    return sha256_hex(canonical(strip_volatile(content)))


def pretty(content: Any) -> bytes:
    """Readable JSON for files people diff: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
