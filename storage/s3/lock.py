"""The lock object ``lock``: created with a conditional write, refreshed by a heartbeat thread while a
writer or prune runs, released if still ours, and taken over when its holder is gone or it expired.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from storage.errors import StoreError, StoreLockedError
from storage.s3.client import _not_implemented, _precondition_failed
from storage.s3.config import _json_bytes
from storage.s3.objects import _Object

if TYPE_CHECKING:
    from storage.s3.store import S3Store

log = logging.getLogger("dashvault.s3")


class S3Lock:
    """The store's lock object: created with ``If-None-Match: *``, refreshed while held, expiring.

    Expiry is judged on the server's clock (the object's Last-Modified against the response's Date),
    so clients with skewed clocks agree. A lock left by a dead process on this host is taken over at
    once; any other is taken over once it is `lock_ttl` seconds old without a refresh.
    """

    def __init__(self, store: S3Store, operation: str) -> None:
        self._store = store
        self.operation = operation
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._etag = ""
        self._created = ""
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return self._store._lock_key

    def _body(self) -> bytes:
        now = datetime.now(UTC)
        self._created = self._created or now.isoformat(timespec="seconds")
        return _json_bytes(
            {
                "owner": self.owner,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "boot": _boot_id(),
                "pidns": _pid_namespace(),
                "operation": self.operation,
                "created": self._created,
                "refreshed": now.isoformat(timespec="seconds"),
                "ttl": self._store.lock_ttl,
            },
            indent=True,
        )

    def acquire(self) -> None:
        """Take the lock or raise StoreLockedError naming its holder."""
        store = self._store
        probe_conditional_writes(store)
        for _ in range(4):
            try:
                self._etag = store._put(self.key, self._body(), if_none_match=True)
            except ClientError as exc:
                if not _precondition_failed(exc):
                    raise store._error(exc, "creating", self.key) from exc
            else:
                if self._confirm():
                    self._start_heartbeat()
                    return
                continue
            current = store._get(self.key)
            if current is None:
                continue  # released in between: try again
            holder = _lock_info(current.body)
            if not self._stale(current, holder):
                raise StoreLockedError(
                    f"{store.describe()}: another dashvault run holds the lock "
                    f"({holder.get('operation', '?')} by {holder.get('owner', '?')} "
                    f"since {holder.get('created', '?')}); "
                    f"it expires {holder.get('ttl', store.lock_ttl)}s after its last refresh"
                )
            log.warning(
                "taking over a stale lock",
                extra={"event": "s3.lock.takeover", "owner": holder.get("owner"), "key": self.key},
            )
            if self._take_over(current):
                self._start_heartbeat()
                return
        raise StoreLockedError(f"{store.describe()}: could not take the lock {self.key} (contended)")

    def _take_over(self, current: _Object) -> bool:
        store = self._store
        try:
            self._etag = store._put(self.key, self._body(), if_match=current.etag)
        except ClientError as exc:
            if _precondition_failed(exc):
                return False
            if not _not_implemented(exc):
                raise store._error(exc, "replacing", self.key) from exc
            # No conditional overwrite on this server: delete, then create as usual.
            store._delete(self.key)
            try:
                self._etag = store._put(self.key, self._body(), if_none_match=True)
            except ClientError as again:
                if _precondition_failed(again):
                    return False
                raise store._error(again, "creating", self.key) from again
        return self._confirm()

    def _confirm(self) -> bool:
        """Read the lock back: a server that ignored the condition lets the last writer win, not both."""
        current = self._store._get(self.key)
        return current is not None and _lock_info(current.body).get("owner") == self.owner

    def _stale(self, current: _Object, holder: dict[str, Any]) -> bool:
        if holder.get("host") == socket.gethostname() and holder.get("pid") != os.getpid():
            boot = holder.get("boot")
            if boot and boot != _boot_id():
                return True  # the machine restarted since
            # A pid means something only in the holder's pid namespace (containers share host names).
            if holder.get("pidns") == _pid_namespace() and not _pid_alive(holder.get("pid")):
                return True
        ttl = holder.get("ttl", self._store.lock_ttl)
        ttl = float(ttl) if isinstance(ttl, int | float) else self._store.lock_ttl
        now = current.server_time or datetime.now(UTC)
        return now - current.last_modified > timedelta(seconds=ttl)

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._heartbeat, name="s3-lock", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        interval = max(0.2, self._store.lock_ttl / 3)
        while not self._stop.wait(interval):
            try:
                self._refresh()
            except StoreError as exc:  # a transient failure: the next beat tries again
                log.warning("lock refresh failed", extra={"event": "s3.lock.refresh", "error": str(exc)})
            if self._lost:
                return

    def _refresh(self) -> None:
        store = self._store
        try:
            self._etag = store._put(self.key, self._body(), if_match=self._etag)
        except ClientError as exc:
            if _precondition_failed(exc):
                self._lost = True
                return
            if not _not_implemented(exc):
                raise store._error(exc, "refreshing", self.key) from exc
            if not self._confirm():
                self._lost = True
                return
            self._etag = store._put(self.key, self._body())

    def check(self) -> None:
        """Raise StoreLockedError unless the lock is still ours (read back from the store)."""
        if self._lost or not self._confirm():
            self._lost = True
            raise StoreLockedError(
                f"{self._store.describe()}: lost the lock {self.key} (it expired and another run took it)"
            )

    def release(self) -> None:
        """Stop refreshing and delete the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lost or not self._etag:
            return
        store = self._store
        with contextlib.suppress(StoreError):
            try:
                store._delete(self.key, if_match=self._etag)
            except ClientError as exc:
                if _not_implemented(exc) and self._confirm():
                    store._delete(self.key)
        self._etag = ""


def _lock_info(body: bytes) -> dict[str, Any]:
    try:
        info = json.loads(body)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: let the expiry decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def probe_conditional_writes(store: S3Store) -> None:
    """Refuse a server that ignores ``If-None-Match: *`` (once per store object).

    The lock and the manifests rely on a create failing (412) when the object exists. A server that
    ignores the header lets two writers both "create" the lock, and an overwritten manifest goes
    unnoticed, so the store is refused with the endpoint named. A server that answers 501 is refused
    by the lock's own create. The probe writes a new object twice under ``locks/`` and removes it.
    """
    if store._conditional_ok:
        return
    key = f"{store.prefix}locks/probe-{uuid.uuid4().hex}"
    try:
        try:
            store._put(key, b"probe", if_none_match=True)
        except ClientError as exc:
            raise store._error(exc, "probing conditional writes with", key) from exc
        try:
            store._put(key, b"probe again", if_none_match=True)
        except ClientError as exc:
            if not _precondition_failed(exc):
                raise store._error(exc, "probing conditional writes with", key) from exc
        else:
            raise StoreError(
                f"{store.describe()}: the server ignores conditional writes (a PUT with "
                "If-None-Match: * replaced an existing object); the lock and the "
                "snapshots would not be safe there. Use a server that honours If-None-Match (AWS S3, "
                "MinIO, Ceph RGW, Cloudflare R2)"
            )
    finally:
        with contextlib.suppress(StoreError):
            store._delete(key)
    store._conditional_ok = True
