"""Safe, reversible file paths for item keys in the git store.

A key is split at its first ``/`` (Grafana's ``<org>/<uid>``); each part becomes one path segment.
Segments are percent-encoded so that nothing a server sends (``..``, ``/``, NUL, 400 bytes of
UTF-8) can name a file outside the repository or a name the filesystem refuses.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

# Plural directory names per kind, as in DESIGN.md section 4.
KIND_DIRS = {
    "folder": "folders",
    "library-panel": "library-panels",
    "dashboard": "dashboards",
    "permissions": "permissions",
    "public-dashboard": "public-dashboards",
    "shares": "shares",
}

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
# Well below the 255-byte name limit of common filesystems, leaving room for ".json".
_MAX_SEGMENT = 200
_HASHED_PREFIX = 120


def encode_segment(text: str, *, final: bool) -> str:
    """Percent-encode one path segment; long results are shortened with a hash suffix (``~``)."""
    out: list[str] = []
    for i, ch in enumerate(text):
        # A dot is kept only inside a final segment: never a leading dot (hidden files, "..") and
        # never in a directory segment, so a directory can not end in ".json" like a file.
        keep = ch in _SAFE and (ch != "." or (final and i > 0))
        out.append(ch if keep else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    encoded = "".join(out) or "~empty"
    if len(encoded) > _MAX_SEGMENT:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        encoded = f"{encoded[:_HASHED_PREFIX].rstrip('%')}~{digest}"
    return encoded


def key_path(source: str, kind: str, key: str) -> str:
    """The repository-relative path of an item, e.g. ``grafana/dashboards/1/abc.json``."""
    kind_dir = KIND_DIRS.get(kind) or encode_segment(kind, final=False)
    head, sep, tail = key.partition("/")
    parts = (
        [encode_segment(head, final=False), encode_segment(tail, final=True)]
        if sep
        else [encode_segment(key, final=True)]
    )
    path = PurePosixPath(encode_segment(source, final=False), kind_dir, *parts[:-1], parts[-1] + ".json")
    # Encoding guarantees this; the check keeps it true if the rules above ever change.
    if any(p in ("", ".", "..") for p in path.parts) or path.is_absolute():
        raise ValueError(f"unsafe path for key {key!r}")
    return str(path)
