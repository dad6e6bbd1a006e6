"""One backup run: collect every source, hash, hand new content to the store, apply the safety rules.

Sources run concurrently and in isolation: one that fails does not stop the others. A source that
did not list completely records no deletions (DESIGN.md section 5), and a run that would delete more
than `max_delete_fraction` of a source's items of any one kind records none unless told to.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import monotonic

from backup.collector import (
    AdoptsRestores,
    Collector,
    ItemFailure,
    ListingIncomplete,
    SourceWarning,
    Unchanged,
)
from storage.errors import DashvaultError, StoreError
from storage.gcpolicy import bulk_json
from storage.hashing import entry_for
from storage.model import Changes, Entry, Manifest, SnapshotInfo, SourceStatus, new_run_id
from storage.store import SnapshotWriter, Store

log = logging.getLogger("dashvault.run")


@dataclass
class SourceReport:
    """The outcome of one source in one run."""

    name: str
    status: SourceStatus
    changes: Changes = field(default_factory=Changes)
    failures: list[ItemFailure] = field(default_factory=list)
    guarded_deletions: int = 0

    @property
    def failed(self) -> int:
        """Objects that could not be read (what rides on one is not counted again)."""
        return sum(1 for f in self.failures if not f.follows)


@dataclass
class RunReport:
    """The outcome of a run: the snapshot made (if any) and what happened per source."""

    run: str
    time: datetime
    snapshot: SnapshotInfo | None
    sources: dict[str, SourceReport]
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status.complete and not r.failures for r in self.sources.values())

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


class RunInterrupted(DashvaultError):
    """The run was asked to stop (SIGTERM): nothing was written, which is a clean exit."""

    exit_code = 0


class BackupRun:
    """Runs collectors against a store and makes at most one snapshot."""

    def __init__(
        self,
        store: Store,
        collectors: Iterable[Collector],
        *,
        max_delete_fraction: float = 0.5,
        allow_mass_delete: bool = False,
        stop: threading.Event | None = None,
        on_item: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.collectors = list(collectors)
        self.max_delete_fraction = max_delete_fraction
        self.allow_mass_delete = allow_mass_delete
        self._lock = threading.Lock()
        self.stop = stop or threading.Event()
        self.on_item = on_item

    def execute(self) -> RunReport:
        run_id = new_run_id()
        time = datetime.now(UTC)
        started = monotonic()
        with bulk_json(), self.store.begin() as writer:
            previous = writer.previous
            prev_entries = previous.entries if previous else []
            by_source: dict[str, dict[tuple[str, str], Entry]] = {}
            for e in prev_entries:
                by_source.setdefault(e.source, {})[(e.kind, e.key)] = e
            if any(isinstance(c, AdoptsRestores) for c in self.collectors):
                restored = self.store.restores()
                for c in self.collectors:
                    if isinstance(c, AdoptsRestores):
                        c.adopt_restores(restored)
            # One thread per source; more, or other names, run the same (README "Mutation testing").
            workers = max(1, len(self.collectors))  # pragma: no mutate
            with ThreadPoolExecutor(workers, "source") as pool:  # pragma: no mutate
                futures = [
                    pool.submit(self._run_source, c, by_source.get(c.source, {}), writer)
                    for c in self.collectors
                ]
                results = [f.result() for f in futures]
            if self.stop.is_set():
                writer.abort()
                raise RunInterrupted("backup run interrupted: no snapshot written, the last one is intact")
            entries: list[Entry] = []
            sources: dict[str, SourceStatus] = {}
            changes = Changes()
            reports = [report for report, _ in results]
            ran = {r.name for r in reports}
            for report, new_entries in results:
                entries.extend(new_entries)
                sources[report.name] = report.status
                changes.added += report.changes.added
                changes.changed += report.changes.changed
                changes.deleted += report.changes.deleted
            # Sources not run this time (filtered out or removed from the config) keep what they had.
            entries.extend(e for e in prev_entries if e.source not in ran)
            entries.sort(key=lambda e: (e.source, e.kind, e.key))
            manifest = Manifest(time=time, run=run_id, sources=sources, entries=entries)
            # A source that is whole again after an incomplete snapshot is worth a snapshot that says so.
            recovered = previous is not None and any(
                st.complete and not previous.sources.get(name, st).complete for name, st in sources.items()
            )
            snapshot = writer.commit(manifest, changes, force=recovered)
        result = RunReport(
            run=run_id,
            time=time,
            snapshot=snapshot,
            sources={r.name: r for r in reports},
            duration=monotonic() - started,
        )
        log.info(
            "run finished",
            extra={"event": "run.finished", "snapshot": snapshot.id if snapshot else None, "ok": result.ok},
        )
        return result

    def _run_source(
        self, collector: Collector, previous: dict[tuple[str, str], Entry], writer: SnapshotWriter
    ) -> tuple[SourceReport, list[Entry]]:
        name = collector.source
        status = SourceStatus()
        report = SourceReport(name=name, status=status)
        seen: dict[tuple[str, str], Entry] = {}
        # Entries whose content the store lacks (a blob removed from the bucket): offered without
        # their meta, so no collector can call them unchanged; each is read and stored again.
        lacking = {k for k, e in previous.items() if not writer.stored(e.hash)}
        offered = {k: e.model_copy(update={"meta": {}}) if k in lacking else e for k, e in previous.items()}
        if lacking:
            log.warning(
                "stored contents are missing, reading them again",
                extra={"event": "store.heal", "source": name, "items": len(lacking)},
            )
        stream = collector.collect(offered)
        try:
            for got in stream:
                if self.stop.is_set():
                    break  # the item in flight is done; the rest of the run is abandoned
                if self.on_item is not None:
                    self.on_item(name)
                if isinstance(got, SourceWarning):
                    if got.message not in status.warnings:
                        status.warnings.append(got.message)
                        log.warning(
                            "source warning",
                            extra={"event": "source.warning", "source": name, "error": got.message},
                        )
                    continue
                if isinstance(got, ListingIncomplete):
                    status.complete = False
                    status.error = got.message if status.error is None else f"{status.error}; {got.message}"
                    log.error(
                        "listing unreliable",
                        extra={"event": "source.incomplete", "source": name, "error": got.message},
                    )
                    continue
                if isinstance(got, Unchanged):
                    kept = previous.get((got.kind, got.key))
                    if kept is not None and (got.kind, got.key) in lacking:
                        # Kept, but not whole: its content is gone from the store and was not given.
                        report.failures.append(
                            ItemFailure(
                                got.kind, got.key, "its stored content is missing and was not read again"
                            )
                        )
                    elif kept is not None:
                        seen[(got.kind, got.key)] = kept
                    continue
                if isinstance(got, ItemFailure):
                    report.failures.append(got)
                    if not got.follows:  # one line per object, not one more for each of its riders
                        log.warning(
                            "item failed",
                            extra={
                                "event": "item.failed",
                                "source": name,
                                "kind": got.kind,
                                "key": got.key,
                                "error": got.error,
                            },
                        )
                    continue
                entry, content = entry_for(got)
                old = previous.get((entry.kind, entry.key))
                if old is None or old.hash != entry.hash:
                    with self._lock:
                        writer.put(entry, content)
                    (report.changes.added if old is None else report.changes.changed).append(entry)
                elif (entry.kind, entry.key) in lacking:
                    with self._lock:
                        writer.put(entry, content)  # healed: the same content, stored again
                seen[(entry.kind, entry.key)] = entry
        except StoreError:
            raise  # the store, not the source, failed: the run stops, nothing is committed
        except DashvaultError as exc:
            status.complete = False
            status.error = exc.message
            log.error(
                "listing failed", extra={"event": "source.failed", "source": name, "error": exc.message}
            )
        except Exception as exc:  # a bug in one collector must not lose the other sources' backups
            status.complete = False
            status.error = f"{name}: unexpected error: {exc!r}"
            log.exception("source crashed", extra={"event": "source.crashed", "source": name})
        finally:
            # Stops the collector's fetch pool now rather than whenever the generator is collected.
            close = getattr(stream, "close", None)
            if close is not None:
                close()

        failed = {(f.kind, f.key) for f in report.failures}
        entries = list(seen.values())
        # Failed items keep their previous entry: an unreadable dashboard is not a deleted one.
        entries.extend(e for k, e in previous.items() if k in failed and k not in seen)
        vanished = [e for k, e in previous.items() if k not in seen and k not in failed]
        if not status.complete:
            entries.extend(vanished)
        elif vanished:
            guarded = self._mass_deletion(vanished, previous.values())
            if guarded is not None and not self.allow_mass_delete:
                kind, gone, had = guarded
                status.complete = False
                status.error = (
                    f"{name}: {gone} of {had} {kind} items vanished (more than max_delete_fraction "
                    f"{self.max_delete_fraction}); deletions not recorded, rerun with --allow-mass-delete "
                    "if this is intended"
                )
                report.guarded_deletions = len(vanished)
                entries.extend(vanished)
            else:
                for e in vanished:
                    with self._lock:
                        writer.delete(e)
                report.changes.deleted.extend(vanished)
        if report.failures and status.complete:
            status.error = f"{name}: {report.failed} items could not be read"
        status.items = len(entries)
        status.added = len(report.changes.added)
        status.changed = len(report.changes.changed)
        status.deleted = len(report.changes.deleted)
        status.failed = report.failed
        return report, entries

    def _mass_deletion(self, vanished: list[Entry], previous: Iterable[Entry]) -> tuple[str, int, int] | None:
        """The first kind of which more than `max_delete_fraction` vanished: (kind, gone, had).

        Every kind counts: a vanished folder tree or every ACL gone is as suspect as the dashboards.
        """
        had = Counter(e.kind for e in previous)
        gone = Counter(e.kind for e in vanished)
        for kind in sorted(gone):
            if gone[kind] / had[kind] > self.max_delete_fraction:
                return kind, gone[kind], had[kind]
        return None
