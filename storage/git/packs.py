"""The packs ``git fast-import`` leaves behind when it is killed, and the lock that makes removing them safe.

A fast-import writes its pack as ``objects/pack/tmp_pack_*`` (and ``tmp_idx_*``) and renames it into
place when it finishes; killed, it leaves them, and nothing of git's removes them (``git gc`` only
after two weeks). A backup removes them when it starts, under its lock. Restore records are appended
with a fast-import of their own and without the backup's lock (storage/git/restores.py), so each
append holds this pack lock shared and the removal holds it exclusively: a record being written is
never taken for a leftover.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from storage.errors import StoreError

log = logging.getLogger("dashvault.storage")

_LOCK = "dashvault-packs.lock"


@contextlib.contextmanager
def pack_lock(git_dir: Path, *, shared: bool) -> Iterator[None]:
    """Hold the pack lock: shared while a fast-import writes, exclusive while leftovers are removed."""
    path = git_dir / _LOCK
    try:
        handle = path.open("a")
    except OSError as exc:
        raise StoreError(f"cannot write {path} ({exc.strerror or type(exc).__name__})") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_interrupted_packs(git_dir: Path) -> int:
    """Remove the temporary packs of fast-imports that did not finish; how many were removed."""
    removed = 0
    with pack_lock(git_dir, shared=False):
        for tmp in sorted((git_dir / "objects" / "pack").glob("tmp_*")):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed += 1
    if removed:
        log.info("removed the packs of interrupted runs", extra={"event": "store.cleaned", "files": removed})
    return removed
