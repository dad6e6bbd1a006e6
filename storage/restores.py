"""Restore records: where a restore put the items it could not give their old ids back.

Arduino IoT Cloud assigns a new id to every dashboard created, so a restored dashboard lives under an
id no snapshot knows. Each restore that created one writes a **restore record** to the store: when, from
which snapshot and source, into which source, and for each such item its snapshot key and its new id
(``copied`` for an ``--on-conflict copy`` beside the live one). Records are append-only, one per restore
run, never rewritten and never pruned (a few hundred bytes each). What they are for:

- a later restore finds what an earlier one created, so restoring twice creates nothing the second time;
- the next backup records a restored dashboard under its old key, so its history goes on, and the
  mass-deletion guard does not see the old ids vanish.

A record that cannot be read is skipped with a warning: the restore then falls back on a match of name
and content, and the backup on the new id, which loses continuity but never data.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from storage import jsontext

log = logging.getLogger("dashvault.storage")

RECORD_FORMAT = 1
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class RestoredId(BaseModel):
    """One item a restore wrote under a new id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    key: str
    """The item's key in the snapshot."""
    id: str
    """Where the restore put it."""
    copied: bool = False
    """An ``--on-conflict copy`` beside the live object, not the object itself."""


class RestoreRecord(BaseModel):
    """One restore run's new ids (only runs that created something under a new id write one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = RECORD_FORMAT
    time: datetime
    snapshot: str
    source: str
    """The snapshot's source the items came from."""
    target: str
    """The configured source they were written to (the same one unless ``--to``)."""
    ids: list[RestoredId]

    def name(self) -> str:
        """A file or object name for the record: its time, then random digits (unique, in time order)."""
        return f"{self.time.astimezone(UTC).strftime(_TIME_FORMAT)}-{secrets.token_hex(4)}.json"

    def encode(self) -> bytes:
        """The record as JSON text."""
        return jsontext.dumps(self.model_dump(mode="json"))


def decode(raw: bytes, where: str) -> RestoreRecord | None:
    """A stored record, or None (logged) when it is damaged or of a newer format."""
    try:
        record = RestoreRecord.model_validate(jsontext.loads(raw))
    except (ValueError, ValidationError) as exc:
        log.warning(
            "a restore record cannot be read, skipped", extra={"where": where, "error": str(exc)[:200]}
        )
        return None
    if record.format != RECORD_FORMAT:
        log.warning("a restore record of another format, skipped", extra={"where": where})
        return None
    return record


class RestoredIds:
    """The restore records of a store, asked by item: where did restores put it?"""

    def __init__(self, records: Iterable[RestoreRecord], damaged: Iterable[str] = ()) -> None:
        self.records = sorted(records, key=lambda r: r.time)
        self.damaged = list(damaged)
        """Where each record that could not be read lies (``verify`` names them)."""

    def placed(self, target: str, source: str, kind: str, key: str) -> list[str]:
        """Ids restores into `target` gave the item `key` of `source` (not copies), newest first."""
        found = [
            i.id
            for r in self.records
            if r.target == target and r.source == source
            for i in r.ids
            if i.kind == kind and i.key == key and not i.copied
        ]
        return list(dict.fromkeys(reversed(found)))

    def copies(self, target: str, source: str, snapshot: str, key: str) -> list[str]:
        """Ids of the copies restores of `snapshot` made of `key` in `target`, newest first."""
        found = [
            i.id
            for r in self.records
            if r.target == target and r.source == source and r.snapshot == snapshot
            for i in r.ids
            if i.key == key and i.copied
        ]
        return list(dict.fromkeys(reversed(found)))

    def renamed(self, source: str, kind: str) -> dict[str, str]:
        """New id -> old key for the items restores into `source` from its own snapshots put under new
        ids: the keys a backup records them under (the newest restore of a key wins)."""
        out: dict[str, str] = {}
        by_key: dict[str, str] = {}
        for r in self.records:
            if r.target != source or r.source != source:
                continue
            for i in r.ids:
                if i.kind == kind and not i.copied:
                    by_key[i.key] = i.id
        for key, new in by_key.items():
            out[new] = key
        return out
