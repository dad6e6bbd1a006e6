"""The store interface, run against every backend: what backup, log, show, diff and restore rely on."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from storage.errors import NotFoundError, StoreError, StoreLockedError
from storage.git import GitStore
from storage.hashing import entry_for
from storage.model import Changes, Item, Manifest, SourceStatus
from storage.restores import RestoredId, RestoreRecord
from storage.retention import KeepPolicy
from storage.s3 import S3Store
from storage.store import Store, resolve_snapshot
from storage.verify import verify_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["git", "s3"])
def backend(request, tmp_path):
    """A factory of store objects, all looking at the same (initially empty) store."""
    if request.param == "git":
        return lambda: GitStore(tmp_path / "repo")
    target = request.getfixturevalue("s3")
    return lambda: S3Store(target.bucket, endpoint_url=target.endpoint_url, region=target.region)


def item(uid: str, title: str = "t", panels: int = 1, source: str = "g") -> Item:
    return Item(
        source=source,
        kind="dashboard",
        key=f"1/{uid}",
        title=title,
        content={"dashboard": {"uid": uid, "title": title, "panels": list(range(panels)), "version": 7}},
        meta={"version": 7},
    )


def snapshot(store: Store, items, *, time, deleted=(), run="abcd1234", force=False):
    """Write one snapshot the way a backup run does: only new or changed content."""
    with store.begin() as writer:
        prev = writer.previous.index() if writer.previous else {}
        changes = Changes()
        entries = []
        for it in items:
            entry, content = entry_for(it)
            old = prev.get(entry.ident)
            if old is None or old.hash != entry.hash:
                writer.put(entry, content)
                (changes.added if old is None else changes.changed).append(entry)
            entries.append(entry)
        for e in deleted:
            writer.delete(prev[e])
            changes.deleted.append(prev[e])
        status = SourceStatus(
            items=len(entries),
            added=len(changes.added),
            changed=len(changes.changed),
            deleted=len(changes.deleted),
        )
        manifest = Manifest(time=time, run=run, sources={"g": status}, entries=entries)
        return writer.commit(manifest, changes, force=force)


def test_empty_store_lists_nothing(backend):
    store = backend()
    assert store.snapshots() == []
    with pytest.raises(NotFoundError, match="no snapshots yet"):
        resolve_snapshot(store, "latest")


def test_snapshot_round_trip(backend):
    store = backend()
    info = snapshot(store, [item("a", "Alpha"), item("b", "Beta")], time=T0)
    assert info is not None and info.time == T0 and info.sources["g"].added == 2
    [listed] = backend().snapshots()  # a fresh object sees it too
    assert listed.id == info.id and listed.time == T0 and listed.run == "abcd1234"
    manifest = backend().manifest(info.id)
    assert [e.key for e in manifest.entries] == ["1/a", "1/b"]
    content = backend().load(info.id, manifest.entries[0])
    assert content["dashboard"]["title"] == "Alpha"
    assert "version" not in content["dashboard"]  # stored normalized


def test_no_change_makes_no_snapshot(backend):
    store = backend()
    first = snapshot(store, [item("a")], time=T0)
    assert snapshot(store, [item("a")], time=T0 + timedelta(hours=1)) is None
    assert [s.id for s in backend().snapshots()] == [first.id]
    # force (a source recovered) makes one even without changes
    forced = snapshot(store, [item("a")], time=T0 + timedelta(hours=2), force=True)
    assert forced is not None and [s.id for s in backend().snapshots()] == [forced.id, first.id]


def test_change_delete_history_and_prefixes(backend):
    store = backend()
    s1 = snapshot(store, [item("a"), item("b"), item("c")], time=T0)
    s2 = snapshot(store, [item("a", panels=2), item("b"), item("c")], time=T0 + timedelta(hours=1))
    s3 = snapshot(
        store,
        [item("b"), item("c", panels=3)],
        time=T0 + timedelta(hours=2),
        deleted=[("g", "dashboard", "1/a")],
    )
    fresh = backend()
    assert [s.id for s in fresh.snapshots()] == [s3.id, s2.id, s1.id]
    assert fresh.snapshots()[0].sources["g"].deleted == 1
    entry = fresh.manifest(s2.id).index()[("g", "dashboard", "1/a")]
    assert fresh.load(s2.id, entry)["dashboard"]["panels"] == [0, 1]
    history = list(fresh.history("g", "dashboard", "1/a"))
    assert [(s.id, e is None) for s, e in history] == [(s3.id, True), (s2.id, False), (s1.id, False)]
    assert [s.id for s, _ in fresh.history("g", "dashboard", "1/b")] == [s1.id]
    assert [s.id for s, _ in fresh.history("g", "dashboard", "1/c")] == [s3.id, s1.id]
    assert list(fresh.history("g", "dashboard", "1/nope")) == []
    assert resolve_snapshot(fresh, "latest").id == s3.id
    assert resolve_snapshot(fresh, s1.id[:20]).id == s1.id
    assert resolve_snapshot(fresh, s2.id).id == s2.id
    with pytest.raises(NotFoundError, match="no snapshot matches"):
        resolve_snapshot(fresh, "zzzz")


def test_runs_within_one_second_stay_in_order(backend):
    store = backend()
    ids = [snapshot(store, [item("a", panels=n)], time=T0, run=f"{n:08x}").id for n in range(1, 4)]
    assert [s.id for s in backend().snapshots()] == ids[::-1]
    with backend().begin() as writer:
        assert (
            writer.previous is not None
            and writer.previous.entries[0].hash == entry_for(item("a", panels=3))[0].hash
        )


def test_second_writer_is_refused(backend):
    store = backend()
    with store.begin(), pytest.raises(StoreLockedError, match="another dashvault run"):
        backend().begin()
    backend().begin().abort()  # released after the first one ended


def test_aborted_run_leaves_previous_snapshot_whole(backend):
    store = backend()
    first = snapshot(store, [item("a")], time=T0)
    writer = store.begin()
    entry, content = entry_for(item("a", panels=5))
    writer.put(entry, content)
    writer.abort()  # as if the process died before commit
    assert [s.id for s in backend().snapshots()] == [first.id]
    assert verify_store(backend(), read_data=True).ok
    again = snapshot(store, [item("a", panels=5)], time=T0 + timedelta(hours=1))
    assert again is not None and len(backend().snapshots()) == 2


def test_hostile_keys_round_trip(backend):
    store = backend()
    odd = "\x01é%/..\\\u202e" + "\U0001f600" * 33
    uids = ["../../etc/passwd", odd, ".git", "-rf"]
    info = snapshot(store, [item(u, title=u) for u in uids], time=T0)
    manifest = backend().manifest(info.id)
    for uid in uids:
        [entry] = manifest.lookup(f"1/{uid}")
        assert backend().load(info.id, entry)["dashboard"]["uid"] == uid


def test_verify_passes_on_a_healthy_store(backend):
    store = backend()
    snapshot(store, [item("a"), item("b")], time=T0)
    snapshot(store, [item("a", panels=2), item("b")], time=T0 + timedelta(hours=1))
    for read_data in (False, True):
        report = verify_store(backend(), read_data=read_data)
        assert report.ok, report
        assert report.snapshots == 2 and report.references == 4 and report.contents == 3


def test_prune(backend):
    store = backend()
    for n in range(3):
        snapshot(store, [item("a", panels=n)], time=T0 + timedelta(days=n))
    if isinstance(store, GitStore):
        with pytest.raises(StoreError, match="git backend keeps the full history"):
            store.prune(KeepPolicy(last=1))
        return
    report = store.prune(KeepPolicy(last=1))
    assert [s.time for s, _ in report.kept] == [T0 + timedelta(days=2)]
    assert len(report.removed) == 2 and report.blobs_removed == 2 and report.blobs_kept == 1
    assert len(backend().snapshots()) == 1
    assert verify_store(backend(), read_data=True).ok


def _damage_restore_record(request, tmp_path, store) -> None:
    """Add a record that is not valid JSON beside the real ones, as a bad disk or a hand edit would."""
    if request.node.callspec.params["backend"] == "s3":
        target = request.getfixturevalue("s3")
        key = f"{store.prefix}restores/bad.json"
        target.client().put_object(Bucket=target.bucket, Key=key, Body=b"{not json")
        return
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "scratch-index")}

    def git(*args: str, data: bytes | None = None) -> str:
        run = subprocess.run(
            ["git", "-C", str(tmp_path / "repo"), *args], input=data, env=env, capture_output=True, check=True
        )
        return run.stdout.decode().strip()

    blob = git("hash-object", "-w", "--stdin", data=b"{not json")
    tip = git("rev-parse", "refs/dashvault/restores")
    git("read-tree", tip)
    git("update-index", "--add", "--cacheinfo", f"100644,{blob},restores/bad.json")
    commit = git("commit-tree", git("write-tree"), "-p", tip, "-m", "damage")
    git("update-ref", "refs/dashvault/restores", commit)


def test_restore_records_round_trip_and_a_damaged_one_is_named(backend, request, tmp_path):
    store = backend()
    snapshot(store, [item("a")], time=T0)
    assert store.restores().records == []
    first = RestoreRecord(
        time=T0 + timedelta(hours=1),
        snapshot="s1",
        source="g",
        target="g",
        ids=[RestoredId(kind="dashboard", key="1/a", id="new-a")],
    )
    later = first.model_copy(
        update={
            "time": T0 + timedelta(hours=2),
            "ids": [RestoredId(kind="dashboard", key="1/a", id="newer-a")],
        }
    )
    store.record_restore(later)
    store.record_restore(first)
    read = backend().restores()
    assert [r.time for r in read.records] == [first.time, later.time]  # time order, not write order
    assert read.placed("g", "g", "dashboard", "1/a") == ["newer-a", "new-a"]
    assert read.damaged == []
    report = verify_store(backend())
    assert report.ok and report.restore_records == 2

    _damage_restore_record(request, tmp_path, store)
    read = backend().restores()
    assert len(read.records) == 2  # the readable records still count
    assert len(read.damaged) == 1 and read.damaged[0].endswith("restores/bad.json")
    report = verify_store(backend())
    assert not report.ok
    assert report.restore_records == 2 and report.damaged_records == read.damaged
    assert not report.problems and not report.manifests  # the snapshots themselves are whole
