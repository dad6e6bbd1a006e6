"""Restore records in a git store: one file per record on a ref of their own, apart from the snapshots.

``refs/dashvault/restores`` holds commits of ``restores/<time>-<random>.json`` files (storage/restores.py),
so the branch of snapshots, its history and its work tree are untouched: a record is not a snapshot.
Records are written with ``git fast-import``, which moves the ref only to a commit that descends from
it, so two restores appending at once cannot lose each other's record (the loser writes again).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import git

from storage.errors import StoreError
from storage.git.packs import pack_lock
from storage.restores import RestoredIds, RestoreRecord, decode

RESTORES_REF = "refs/dashvault/restores"
_AUTHOR = "dashvault <dashvault@localhost>"
_ATTEMPTS = 5


def _tip(repo: git.Repo) -> str | None:
    try:
        out = repo.git.rev_parse("--verify", "--quiet", f"{RESTORES_REF}^{{commit}}")
    except git.GitCommandError:
        return None
    return str(out).strip() or None


def read_records(repo: git.Repo, where: str) -> RestoredIds:
    """Every readable record on the ref (none if the ref does not exist yet)."""
    tip = _tip(repo)
    if tip is None:
        return RestoredIds([])
    try:
        listing = str(repo.git.ls_tree("-r", "-z", "--name-only", tip, "restores/"))
    except git.GitCommandError as exc:
        raise StoreError(f"{where}: {RESTORES_REF} cannot be read") from exc
    records, damaged = [], []
    for name in filter(None, listing.split("\0")):
        try:
            _, _, _, data = repo.git.get_object_data(f"{tip}:{name}")
        except (git.GitCommandError, ValueError):
            data = b""
        place = f"{where}: {RESTORES_REF}:{name}"
        record = decode(bytes(data), place)
        if record is None:
            damaged.append(place)
        else:
            records.append(record)
    return RestoredIds(records, damaged)


def append_record(repo: git.Repo, record: RestoreRecord, where: str) -> None:
    """Add one record to the ref, retrying when another writer moved it meanwhile."""
    data = record.encode()
    when = int(datetime.now(UTC).timestamp())
    message = f"restore into {record.target} from snapshot {record.snapshot}: {len(record.ids)} new ids\n"
    error = ""
    for _ in range(_ATTEMPTS):
        tip = _tip(repo)
        lines = [
            f"commit {RESTORES_REF}",
            f"author {_AUTHOR} {when} +0000",
            f"committer {_AUTHOR} {when} +0000",
            f"data {len(message.encode())}",
            message.rstrip("\n"),
        ]
        if tip:
            lines.append(f"from {tip}")
        lines.append(f"M 100644 inline restores/{record.name()}")
        stream = "\n".join(lines).encode() + b"\n" + b"data %d\n" % len(data) + data + b"\n\ndone\n"
        with pack_lock(Path(repo.git_dir), shared=True):  # not taken for an interrupted run's pack
            proc = subprocess.run(
                ["git", "fast-import", "--quiet", "--done"],
                cwd=repo.working_dir,
                input=stream,
                capture_output=True,
                check=False,
            )
        if proc.returncode == 0:
            return
        error = proc.stderr.decode(errors="replace").strip().splitlines()[-1:][0] if proc.stderr else ""
    raise StoreError(f"{where}: the restore record could not be written: {error or 'git fast-import failed'}")
