"""GitStore: snapshots as commits of one readable JSON file per item (DESIGN.md section 4).

Commits are written with ``git fast-import``: the new tree is the previous one plus the changed
files, nothing is staged in the index, and the branch moves only when the whole commit is in the
object database, so a crash at any point leaves the last snapshot intact. The work tree is then
brought up to date for people who browse the repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import git
from pydantic import ValidationError

from storage import jsontext, redaction
from storage.errors import CorruptDataError, NotFoundError, StoreError, StoreLockedError
from storage.git.packs import remove_interrupted_packs
from storage.git.restores import RESTORES_REF, append_record, read_records
from storage.hashing import content_hash, pretty
from storage.model import Changes, Entry, Manifest, SnapshotInfo, SourceStatus
from storage.paths import key_path
from storage.restores import RestoredIds, RestoreRecord
from storage.retention import KeepPolicy
from storage.store import PruneReport

log = logging.getLogger("dashvault.storage")

MANIFEST_PATH = ".dashvault/manifest.json"
TRAILER_PREFIX = "Dashvault-"
_AUTHOR = "dashvault <dashvault@localhost>"
# Titles listed per category in a commit message before "... and N more".
_MAX_TITLES = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STATUS_FIELDS = ("items", "added", "changed", "deleted", "failed")


def _git_error(exc: Exception) -> str:
    if isinstance(exc, git.GitCommandError):
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        # git names the remote's URL in its errors, user info and all.
        return redaction.scrub(detail[-1].strip()) if detail else f"git exited {exc.status}"
    return redaction.scrub(str(exc))


class GitStore:
    """A git repository of snapshots: one commit per run, snapshot id = commit sha."""

    def __init__(self, path: Path, *, remote: str = "", branch: str = "main") -> None:
        self.path = path
        self.remote = remote
        self._branch = branch
        self._repo: git.Repo | None = None
        # gitpython's persistent `cat-file --batch` process serves one request at a time.
        self._read_lock = threading.Lock()

    def describe(self) -> str:
        return f"git store {self.path}"

    # -- opening ------------------------------------------------------------------------------

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            self._repo = self._open(create=False)
        return self._repo

    def _open(self, *, create: bool) -> git.Repo:
        try:
            if self.path.exists() and not self.path.is_dir():
                raise StoreError(f"{self.describe()}: is a file, not a directory")
            if (self.path / ".git").exists():
                repo = git.Repo(self.path)
            elif not create:
                raise NotFoundError(f"{self.describe()}: no repository yet (run `dashvault backup` first)")
            elif self.path.exists() and any(self.path.iterdir()):
                raise StoreError(
                    f"{self.describe()}: directory exists, is not empty and is not a git repository"
                )
            else:
                repo = self._init()
        except (git.GitError, OSError) as exc:
            raise StoreError(f"{self.describe()}: {_git_error(exc)}") from exc
        with contextlib.suppress(TypeError):  # detached HEAD: keep the configured branch
            self._branch = repo.active_branch.name
        return repo

    def _init(self) -> git.Repo:
        """A new repository, made beside the target and renamed into place, so that a reader never
        sees a half-initialised `.git`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.init-", dir=self.path.parent))
        try:
            git.Repo.init(staging, initial_branch=self._branch)
            if self.path.exists():  # an empty directory: move the new .git into it
                os.rename(staging / ".git", self.path / ".git")
            else:
                os.rename(staging, self.path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return git.Repo(self.path)

    @property
    def _ref(self) -> str:
        return f"refs/heads/{self._branch}"

    def _head(self) -> str | None:
        try:
            out = self.repo.git.rev_parse("--verify", "--quiet", f"{self._ref}^{{commit}}")
        except git.GitCommandError:
            return None
        return str(out).strip() or None

    # -- reading ------------------------------------------------------------------------------

    def snapshots(self) -> list[SnapshotInfo]:
        if not (self.path / ".git").exists() or self._head() is None:
            return []
        try:
            raw = self.repo.git.log("--format=%H%x1f%B%x1e", self._ref)
        except git.GitCommandError as exc:
            raise StoreError(f"{self.describe()}: {_git_error(exc)}") from exc
        snaps = []
        for record in str(raw).split("\x1e"):
            sha, sep, body = record.strip("\n").partition("\x1f")
            if sep and (info := _parse_trailers(sha, body)) is not None:
                snaps.append(info)
        return snaps

    def _read_blob(self, rev_path: str) -> bytes:
        """One object, through git's persistent reader; a damaged object fails only itself.

        ``git cat-file --batch`` dies on an object it cannot inflate (a damaged loose object, a
        flipped byte in a pack), mid-answer: that answer comes short and every later one would fail
        with a broken pipe. So a short or failed answer restarts the reader, and the object is read
        once more on its own, whose error then says whether it is missing or damaged.
        """
        with self._read_lock:
            try:
                _, _, size, data = self.repo.git.get_object_data(rev_path)
                if len(data) == int(size):
                    return bytes(data)
            except (git.GitCommandError, ValueError, OSError):
                pass
            self.repo.git.clear_cache()  # a fresh reader for the next object
        return self._read_alone(rev_path)

    def _read_alone(self, rev_path: str) -> bytes:
        proc = subprocess.run(
            ["git", "cat-file", "blob", rev_path], cwd=self.path, capture_output=True, check=False
        )
        if proc.returncode == 0:
            return proc.stdout
        said = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = said[0].removeprefix("error: ").removeprefix("fatal: ") if said else "unreadable"
        if any(word in line for line in said for word in ("corrupt", "inflate", "invalid")):
            raise CorruptDataError(f"{self.describe()}: {rev_path} is damaged ({reason})")
        raise NotFoundError(f"{self.describe()}: {rev_path} not found")

    def manifest(self, snapshot_id: str) -> Manifest:
        raw = self._read_blob(f"{snapshot_id}:{MANIFEST_PATH}")
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError as exc:
            raise CorruptDataError(
                f"{self.describe()}: manifest of snapshot {snapshot_id[:12]} is corrupt "
                f"({exc.error_count()} errors)"
            ) from exc

    def load(self, snapshot_id: str, entry: Entry) -> dict[str, Any]:
        path = key_path(entry.source, entry.kind, entry.key)
        raw = self._read_blob(f"{snapshot_id}:{path}")
        where = f"{self.describe()}: {path} in snapshot {snapshot_id[:12]}"
        try:
            content = jsontext.loads(raw)
        except ValueError as exc:
            raise CorruptDataError(f"{where} is not valid JSON") from exc
        if not isinstance(content, dict) or content_hash(content) != entry.hash:
            raise CorruptDataError(f"{where} does not match its recorded hash {entry.hash[:16]}")
        return content

    def stored_ids(self, snapshot_id: str, manifest: Manifest) -> dict[tuple[str, str, str], str]:
        """The git blob each entry's file is in this snapshot's tree (absent: no such file, or the
        tree cannot be read), so that verify reads every distinct stored copy of an item."""
        try:
            raw = str(self.repo.git.ls_tree("-r", "-z", "--full-tree", snapshot_id))
        except git.GitCommandError:
            return {}
        blobs = {}
        for record in raw.split("\0"):
            head, sep, path = record.partition("\t")
            if sep:
                blobs[path] = head.rsplit(" ", 1)[-1]  # "<mode> blob <sha>"
        found = {}
        for e in manifest.entries:
            if (sha := blobs.get(key_path(e.source, e.kind, e.key))) is not None:
                found[e.ident] = sha
        return found

    def history(self, source: str, kind: str, key: str) -> Iterator[tuple[SnapshotInfo, Entry | None]]:
        if self._head() is None:
            return
        path = key_path(source, kind, key)
        try:
            raw = self.repo.git.log("--format=%H%x1f%B%x1e", self._ref, "--", path)
        except git.GitCommandError as exc:
            raise StoreError(f"{self.describe()}: {_git_error(exc)}") from exc
        for record in str(raw).split("\x1e"):
            sha, sep, body = record.strip("\n").partition("\x1f")
            if not sep or (info := _parse_trailers(sha, body)) is None:
                continue
            yield info, self.manifest(sha).index().get((source, kind, key))

    # -- writing ------------------------------------------------------------------------------

    def check_writable(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.describe()}: is a file, not a directory")
        if (self.path / ".git").exists():
            target = Path(self.repo.git_dir)
        else:  # created by the first backup: where it would be made
            target = self.path if self.path.exists() else self.path.parent
            while not target.exists() and target != target.parent:
                target = target.parent
        try:
            fd, name = tempfile.mkstemp(prefix=".dashvault-check-", dir=target)
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise StoreError(f"{self.describe()}: {_not_writable(exc, target)}") from exc

    def begin(self) -> GitSnapshotWriter:
        if self._repo is None:
            self._repo = self._open(create=True)
        return GitSnapshotWriter(self)

    def restores(self) -> RestoredIds:
        if not (self.path / ".git").exists():
            return RestoredIds([])
        return read_records(self.repo, self.describe())

    def record_restore(self, record: RestoreRecord) -> None:
        append_record(self.repo, record, self.describe())
        if self.remote:
            try:
                self.repo.git.push("--quiet", self.remote, f"{RESTORES_REF}:{RESTORES_REF}")
            except git.GitCommandError as exc:
                log.warning(
                    "restore record kept locally, push failed",
                    extra={"remote": redaction.without_userinfo(self.remote), "error": _git_error(exc)},
                )

    def prune(self, policy: KeepPolicy, *, dry_run: bool = False) -> PruneReport:
        """Not available: rewriting a git history would change every later snapshot's id."""
        raise StoreError(
            f"{self.describe()}: the git backend keeps the full history; prune applies to the s3 backend"
        )


def _not_writable(exc: OSError, path: Path) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"cannot write {path} ({reason}): the store must be writable by the user running dashvault"


class GitSnapshotWriter:
    """A write session: holds an exclusive lock on the repository and streams blobs to fast-import."""

    def __init__(self, store: GitStore) -> None:
        self._store = store
        self._repo = store.repo
        lock_path = Path(self._repo.git_dir) / "dashvault.lock"
        try:
            self._lock_file: IO[str] | None = lock_path.open("a+")
        except OSError as exc:
            raise StoreError(f"{store.describe()}: {_not_writable(exc, lock_path)}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            self._lock_file = None
            raise StoreLockedError(f"{store.describe()}: another dashvault run holds {lock_path}") from exc
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()
        remove_interrupted_packs(Path(self._repo.git_dir))
        self._parent = store._head()
        self._previous = store.manifest(self._parent) if self._parent else None
        self._import: subprocess.Popen[bytes] | None = None
        self._marks: dict[str, int] = {}  # path -> blob mark
        self._next_mark = 0
        self._deleted: list[str] = []

    @property
    def previous(self) -> Manifest | None:
        return self._previous

    def __enter__(self) -> GitSnapshotWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def _stream(self) -> IO[bytes]:
        if self._import is None:
            self._import = subprocess.Popen(
                ["git", "fast-import", "--quiet", "--done"],
                cwd=self._repo.working_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        assert self._import.stdin is not None
        return self._import.stdin

    def _blob(self, data: bytes) -> int:
        self._next_mark += 1
        mark = self._next_mark
        stream = self._stream()
        stream.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
        stream.write(data)
        stream.write(b"\n")
        return mark

    def put(self, entry: Entry, content: dict[str, Any]) -> None:
        path = key_path(entry.source, entry.kind, entry.key)
        try:
            self._marks[path] = self._blob(pretty(content))
        except OSError as exc:
            raise StoreError(f"{self._store.describe()}: git fast-import failed: {self._stderr()}") from exc

    def stored(self, digest: str) -> bool:
        # The new commit's tree carries every unchanged file on from its parent; a damaged object
        # is verify's to find, not something a backup can see without reading every file.
        return True

    def delete(self, entry: Entry) -> None:
        self._deleted.append(key_path(entry.source, entry.kind, entry.key))

    def _stderr(self) -> str:
        if self._import is None or self._import.stderr is None:
            return "not running"
        self._import.kill()
        text = self._import.stderr.read().decode(errors="replace").strip()
        return text.splitlines()[-1] if text else f"exit {self._import.wait()}"

    def commit(self, manifest: Manifest, changes: Changes, *, force: bool = False) -> SnapshotInfo | None:
        if not changes and not force:
            self.abort()
            return None
        try:
            manifest_mark = self._blob(_manifest_bytes(manifest))
            message = commit_message(manifest, changes).encode()
            when = int(manifest.time.timestamp())
            stream = self._stream()
            lines = [
                f"commit {self._store._ref}",
                f"author {_AUTHOR} {when} +0000",
                f"committer {_AUTHOR} {when} +0000",
                f"data {len(message)}",
            ]
            stream.write("\n".join(lines).encode() + b"\n" + message + b"\n")
            if self._parent:
                stream.write(f"from {self._parent}\n".encode())
            for path in self._deleted:
                stream.write(f"D {path}\n".encode())
            for path, mark in self._marks.items():
                stream.write(f"M 100644 :{mark} {path}\n".encode())
            stream.write(f"M 100644 :{manifest_mark} {MANIFEST_PATH}\n\ndone\n".encode())
            stream.close()
        except OSError as exc:
            raise StoreError(f"{self._store.describe()}: git fast-import failed: {self._stderr()}") from exc
        assert self._import is not None
        assert self._import.stderr is not None
        err = self._import.stderr.read().decode(errors="replace").strip()
        if self._import.wait() != 0:
            self._import = None
            raise StoreError(f"{self._store.describe()}: git fast-import failed: {err.splitlines()[-1:]}")
        self._import = None
        sha = self._store._head()
        assert sha is not None
        self._sync_worktree()
        info = SnapshotInfo(id=sha, time=manifest.time, run=manifest.run, sources=manifest.sources)
        self._release()
        if self._store.remote:
            self._push()
        return info

    def _sync_worktree(self) -> None:
        # The work tree is a convenience for people browsing the repository; the commit is the
        # snapshot. Failing to refresh it must not fail the run.
        with contextlib.suppress(git.GitCommandError):
            self._repo.git.reset("--hard", "--quiet", self._store._ref)

    def _push(self) -> None:
        try:
            self._repo.git.push("--quiet", self._store.remote, f"{self._store._ref}:{self._store._ref}")
        except git.GitCommandError as exc:
            remote = redaction.without_userinfo(self._store.remote)
            raise StoreError(
                f"{self._store.describe()}: snapshot committed, but push to {remote!r} failed: "
                f"{_git_error(exc)}"
            ) from exc

    def abort(self) -> None:
        if self._import is not None:
            self._import.kill()
            self._import.wait()
            self._import = None
        self._release()

    def _release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


def _manifest_bytes(manifest: Manifest) -> bytes:
    data = manifest.model_dump(mode="json")
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip() or "(untitled)"


# Objects people count; permissions, public dashboards and shares ride along with them and are
# summed apart.
_OBJECT_KINDS = ("folder", "library-panel", "dashboard")


def _counts(changes: Changes, source: str, objects: bool) -> tuple[int, int, int]:
    def n(entries: list[Entry]) -> int:
        return sum(1 for e in entries if e.source == source and (e.kind in _OBJECT_KINDS) == objects)

    return n(changes.added), n(changes.changed), n(changes.deleted)


def _summary(changes: Changes, source: str, status: SourceStatus) -> str:
    added, changed, deleted = _counts(changes, source, objects=True)
    text = f"backup {source}: {added} added, {changed} changed, {deleted} deleted"
    extra = _counts(changes, source, objects=False)
    if any(extra):
        text += f" (+ permissions/shares: {extra[0]} added, {extra[1]} changed, {extra[2]} deleted)"
    if not status.complete:
        text += " INCOMPLETE"
    return text


def commit_message(manifest: Manifest, changes: Changes) -> str:
    """`backup <source>: 2 added, 5 changed, 1 deleted`, the titles, then the snapshot trailers."""
    subject = "; ".join(_summary(changes, name, st) for name, st in sorted(manifest.sources.items()))
    body: list[str] = []
    for label, entries in (
        ("added", changes.added),
        ("changed", changes.changed),
        ("deleted", changes.deleted),
    ):
        if not entries:
            continue
        body.append(f"{label}:")
        for e in sorted(entries, key=lambda e: e.ident)[:_MAX_TITLES]:
            body.append(f"  - {_clean(e.title)} ({e.source} {e.kind} {_clean(e.key)})")
        if len(entries) > _MAX_TITLES:
            body.append(f"  ... and {len(entries) - _MAX_TITLES} more")
    trailers = [f"{TRAILER_PREFIX}Run: {manifest.run}", f"{TRAILER_PREFIX}Time: {manifest.time.isoformat()}"]
    for name, st in sorted(manifest.sources.items()):
        counts = " ".join(f"{f}={getattr(st, f)}" for f in _STATUS_FIELDS)
        trailers.append(
            f"{TRAILER_PREFIX}Source: {name} {'complete' if st.complete else 'incomplete'} {counts}"
        )
        trailers.extend(f"{TRAILER_PREFIX}Warning: {name} {_clean(w)}" for w in st.warnings)
    return "\n\n".join(part for part in (subject, "\n".join(body), "\n".join(trailers)) if part) + "\n"


def _parse_trailers(sha: str, message: str) -> SnapshotInfo | None:
    """Read a snapshot's summary from its commit message; None for commits dashvault did not make."""
    run, time, sources = "", None, {}
    warnings: dict[str, list[str]] = {}
    for line in message.splitlines():
        if not line.startswith(TRAILER_PREFIX):
            continue
        name, _, value = line[len(TRAILER_PREFIX) :].partition(": ")
        if name == "Run":
            run = value.strip()
        elif name == "Time":
            try:
                time = datetime.fromisoformat(value.strip())
            except ValueError:
                return None
        elif name == "Warning":
            source, _, text = value.partition(" ")
            warnings.setdefault(source, []).append(text.strip())
        elif name == "Source":
            parts = value.split()
            if len(parts) < 2:
                continue
            counts = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            sources[parts[0]] = SourceStatus(
                complete=parts[1] == "complete",
                **{f: int(counts[f]) for f in _STATUS_FIELDS if counts.get(f, "").isdigit()},
            )
    if time is None:
        return None
    for source, said in warnings.items():
        if source in sources:
            sources[source].warnings = said
    return SnapshotInfo(id=sha, time=time.astimezone(UTC), run=run, sources=sources)
