import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from storage.errors import CorruptDataError, StoreLockedError
from storage.git import GitStore
from storage.hashing import entry_for
from storage.store import resolve_snapshot
from tests.storage.test_store_contract import item, snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def git(path, *args):
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True).stdout


def test_snapshot_files_manifest_and_commit_message(tmp_path):
    store = GitStore(tmp_path / "repo")
    info = snapshot(store, [item("a", "Alpha"), item("b", "Beta")], time=T0)
    assert info is not None
    assert info.id == git(store.path, "rev-parse", "HEAD").strip()
    text = (store.path / "g/dashboards/1/a.json").read_text()
    assert text.endswith("}\n") and json.loads(text)["dashboard"]["title"] == "Alpha"
    assert "version" not in json.loads(text)["dashboard"]  # volatile fields are not stored
    manifest = json.loads((store.path / ".dashvault/manifest.json").read_text())
    assert [e["key"] for e in manifest["entries"]] == ["1/a", "1/b"]
    message = git(store.path, "log", "-1", "--format=%B")
    assert message.startswith("backup g: 2 added, 0 changed, 0 deleted")
    assert "Alpha (g dashboard 1/a)" in message
    assert git(store.path, "status", "--porcelain") == ""
    [listed] = store.snapshots()
    assert listed.id == info.id and listed.time == T0 and listed.sources["g"].added == 2


def objects(path):
    """`git count-objects -v` and every file under .git/objects with its size: exactly what is stored."""
    root = path / ".git" / "objects"
    files = {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    return git(path, "count-objects", "-v"), files


def test_no_change_makes_no_commit(tmp_path):
    store = GitStore(tmp_path / "repo")
    first = snapshot(store, [item("a")], time=T0)
    before = objects(store.path)
    assert snapshot(store, [item("a")], time=T0 + timedelta(hours=1)) is None
    assert [s.id for s in store.snapshots()] == [first.id]
    assert objects(store.path) == before  # not one object, loose, packed or left over


def test_change_and_delete_write_only_what_changed(tmp_path):
    store = GitStore(tmp_path / "repo")
    snapshot(store, [item("a"), item("b"), item("c")], time=T0)
    second = snapshot(
        store,
        [item("a", panels=3), item("b")],
        time=T0 + timedelta(hours=1),
        deleted=[("g", "dashboard", "1/c")],
    )
    changed = git(store.path, "show", "--name-status", "--format=", second.id).split("\n")
    assert sorted(line for line in changed if line) == [
        "D\tg/dashboards/1/c.json",
        "M\t.dashvault/manifest.json",
        "M\tg/dashboards/1/a.json",
    ]
    assert not (store.path / "g/dashboards/1/c.json").exists()
    assert store.snapshots()[0].sources["g"].deleted == 1


def test_load_verifies_hash_and_history(tmp_path):
    store = GitStore(tmp_path / "repo")
    s1 = snapshot(store, [item("a")], time=T0)
    s2 = snapshot(store, [item("a", panels=2), item("b")], time=T0 + timedelta(hours=1))
    s3 = snapshot(store, [item("b")], time=T0 + timedelta(hours=2), deleted=[("g", "dashboard", "1/a")])
    entry = store.manifest(s2.id).index()[("g", "dashboard", "1/a")]
    assert store.load(s2.id, entry)["dashboard"]["panels"] == [0, 1]
    history = list(store.history("g", "dashboard", "1/a"))
    assert [(s.id, e is None) for s, e in history] == [(s3.id, True), (s2.id, False), (s1.id, False)]
    assert resolve_snapshot(store, "latest").id == s3.id
    assert resolve_snapshot(store, s1.id[:10]).id == s1.id


def test_tampered_file_is_detected(tmp_path):
    store = GitStore(tmp_path / "repo")
    snapshot(store, [item("a")], time=T0)
    # Someone edits a backup file and commits it: the manifest's hash no longer matches.
    path = store.path / "g/dashboards/1/a.json"
    path.write_text(path.read_text().replace('"t"', '"tampered"'))
    git(store.path, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qam", "edit")
    head = git(store.path, "rev-parse", "HEAD").strip()
    entry = store.manifest(head).entries[0]
    with pytest.raises(CorruptDataError, match="does not match its recorded hash"):
        store.load(head, entry)
    # A commit made outside dashvault is not a snapshot.
    assert head not in [s.id for s in store.snapshots()]


def test_second_writer_is_refused(tmp_path):
    store = GitStore(tmp_path / "repo")
    with store.begin(), pytest.raises(StoreLockedError, match="another dashvault run"):
        GitStore(tmp_path / "repo").begin()
    GitStore(tmp_path / "repo").begin().abort()  # released after the first one ended


def test_aborted_run_leaves_previous_snapshot_whole(tmp_path):
    store = GitStore(tmp_path / "repo")
    first = snapshot(store, [item("a")], time=T0)
    writer = store.begin()
    entry, content = entry_for(item("a", panels=5))
    writer.put(entry, content)
    writer.abort()  # as if the process died before commit
    assert [s.id for s in store.snapshots()] == [first.id]
    again = snapshot(store, [item("a", panels=5)], time=T0 + timedelta(hours=1))
    assert again is not None and len(store.snapshots()) == 2


def test_hostile_keys_stay_inside_and_round_trip(tmp_path):
    store = GitStore(tmp_path / "repo")
    odd = "\x01é%/..\\\u202e" + "\U0001f600" * 33
    uids = ["../../etc/passwd", odd, ".git", "-rf"]
    info = snapshot(store, [item(u, title=u) for u in uids], time=T0)
    files = git(store.path, "ls-files").split("\n")
    assert all(f.startswith(("g/dashboards/1/", ".dashvault/")) for f in files if f)
    manifest = store.manifest(info.id)
    for uid in uids:
        [entry] = manifest.lookup(f"1/{uid}")
        assert store.load(info.id, entry)["dashboard"]["uid"] == uid
    assert not (tmp_path / "etc").exists()


def test_push_to_remote(tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    store = GitStore(tmp_path / "repo", remote=str(remote))
    info = snapshot(store, [item("a")], time=T0)
    assert git(remote, "rev-parse", "refs/heads/main").strip() == info.id
