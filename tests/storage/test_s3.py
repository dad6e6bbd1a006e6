"""The S3 store against moto's S3 server over real HTTP: layout, dedup, integrity, locking, retention."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import zstandard

from sandbox.generate import make_dashboard
from storage.config import StorageConfig, open_store
from storage.errors import CorruptDataError, NotFoundError, StoreError, StoreLockedError
from storage.hashing import entry_for
from storage.model import Changes, Item, Manifest, SourceStatus
from storage.retention import KeepPolicy, apply_policy
from storage.s3 import S3Store
from storage.verify import verify_store
from tests.storage.test_store_contract import item, snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_store(target, **options) -> S3Store:
    return S3Store(target.bucket, endpoint_url=target.endpoint_url, region=target.region, **options)


def keys(target, prefix: str = "") -> list[str]:
    client = target.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def get(target, key: str) -> bytes:
    return target.client().get_object(Bucket=target.bucket, Key=key)["Body"].read()


def put(target, key: str, body: bytes) -> None:
    target.client().put_object(Bucket=target.bucket, Key=key, Body=body)


def board(uid: str, seed: int = 0, title: str = "Board") -> Item:
    model = make_dashboard(random.Random(f"{uid}-{seed}"), f"{title} {uid}", uid=uid)
    return Item(source="g", kind="dashboard", key=f"1/{uid}", title=title, content={"dashboard": model})


# -- format --------------------------------------------------------------------------------------


def test_layout_is_readable_without_dashvault(s3):
    """What README documents: plain S3 objects, zstd and JSON, named by hashes."""
    store = make_store(s3, prefix="backups/team-a")
    info = snapshot(store, [item("a", "Alpha"), item("b", "Beta")], time=T0)
    assert info.id == "20260101T000000Z-abcd1234"
    names = keys(s3)
    assert "backups/team-a/config.json" in names
    assert f"backups/team-a/snapshots/{info.id}.json.zst" in names
    assert "backups/team-a/lock" not in names  # released
    config = json.loads(get(s3, "backups/team-a/config.json"))
    assert config["format"] == 1 and config["compression"]["algorithm"] == "zstd"

    dctx = zstandard.ZstdDecompressor()
    manifest = json.loads(dctx.decompress(get(s3, f"backups/team-a/snapshots/{info.id}.json.zst")))
    assert manifest["run"] == "abcd1234" and manifest["time"].startswith("2026-01-01T00:00:00")
    assert [e["key"] for e in manifest["entries"]] == ["1/a", "1/b"]
    blobs = [k for k in names if "/blobs/" in k]
    assert len(blobs) == 2
    for e in manifest["entries"]:
        key = f"backups/team-a/blobs/{e['hash'][:2]}/{e['hash']}"
        raw = dctx.decompress(get(s3, key))
        assert hashlib.sha256(raw).hexdigest() == e["hash"] and len(raw) == e["size"]
        assert json.loads(raw)["dashboard"]["title"] == e["title"]


def test_prefix_forms(s3):
    for prefix, expected in (("", "config.json"), ("/x/y/", "x/y/config.json")):
        store = make_store(s3, prefix=prefix)
        snapshot(store, [item("a")], time=T0)
        assert expected in keys(s3)
        assert len(store.snapshots()) == 1


def test_newer_format_is_refused(s3):
    put(s3, "dashvault/config.json", json.dumps({"format": 99}).encode())
    with pytest.raises(StoreError, match="format 99 is not supported"):
        make_store(s3).snapshots()


# -- dedup and concurrency -----------------------------------------------------------------------


def test_only_new_blobs_are_uploaded(s3):
    store = make_store(s3)
    same = {"dashboard": {"uid": "x", "panels": []}}
    twins = [
        Item(source="g", kind="dashboard", key=f"1/{uid}", title=uid, content=same) for uid in ("t1", "t2")
    ]
    with store.begin() as writer:
        for it in [item("a"), item("b"), *twins]:
            writer.put(*entry_for(it))
        entries = sorted((entry_for(it)[0] for it in [item("a"), item("b"), *twins]), key=lambda e: e.ident)
        writer.commit(Manifest(time=T0, run="00000001", entries=entries), Changes(added=entries))
        assert writer.uploaded == 3  # identical content is one blob
    before = {k: get(s3, k) for k in keys(s3, "dashvault/blobs/")}

    with make_store(s3).begin() as writer:
        changed = [entry_for(it)[0] for it in (item("a"), item("b", panels=4))]
        for it in [item("a"), item("b", panels=4)]:
            writer.put(*entry_for(it))
        writer.commit(Manifest(time=T0, run="00000002", entries=changed), Changes(changed=changed[1:]))
        assert writer.uploaded == 1
    with make_store(s3).begin() as writer:
        writer.put(*entry_for(item("a")))
        writer.abort()
        assert writer.uploaded == 0  # already in the store: not even sent
    after = keys(s3, "dashvault/blobs/")
    assert set(before) <= set(after) and all(get(s3, k) == v for k, v in before.items())


def test_puts_from_several_threads(s3):
    store = make_store(s3, workers=4)
    items = [item(f"u{n}", panels=n % 7) for n in range(40)]
    pairs = [entry_for(it) for it in items]
    with store.begin() as writer:

        def put_all(chunk):
            for entry, content in chunk:
                writer.put(entry, content)

        threads = [threading.Thread(target=put_all, args=(pairs[n::4],)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        entries = sorted((e for e, _ in pairs), key=lambda e: e.ident)
        info = writer.commit(
            Manifest(time=T0, run="0000abcd", sources={"g": SourceStatus(items=40)}, entries=entries),
            Changes(added=entries),
        )
        assert writer.uploaded == len({e.hash for e in entries})
    fresh = make_store(s3)
    assert all(
        fresh.load(info.id, e)["dashboard"]["uid"] == e.key[2:] for e in fresh.manifest(info.id).entries
    )


def test_content_not_matching_its_entry_fails_the_commit(s3):
    store = make_store(s3)
    with store.begin() as writer:
        entry, _ = entry_for(item("a"))
        writer.put(entry, {"something": "else"})
        with pytest.raises(StoreError, match="does not match its entry's hash"):
            writer.commit(Manifest(time=T0, run="00000001", entries=[entry]), Changes(added=[entry]))
    assert store.snapshots() == [] and keys(s3, "dashvault/lock") == []


# -- compression ---------------------------------------------------------------------------------


def test_dictionary_is_trained_when_it_pays_and_blobs_stay_readable(s3, caplog):
    caplog.set_level(logging.INFO, logger="dashvault.s3")  # info records are built, not just dropped
    store = make_store(s3, dictionary_min_blobs=24)
    first = snapshot(store, [board(f"b{n}") for n in range(40)], time=T0)
    assert json.loads(get(s3, "dashvault/config.json"))["dictionaries"] == []
    second = snapshot(store, [board(f"b{n}", seed=n % 2) for n in range(40)], time=T0 + timedelta(hours=1))
    config = json.loads(get(s3, "dashvault/config.json"))
    [record] = config["dictionaries"]
    dict_data = get(s3, f"dashvault/dictionaries/{record['id']}")
    assert hashlib.sha256(dict_data).hexdigest() == record["sha256"] and record["saving"] >= 0.1

    fresh = make_store(s3)
    manifest = fresh.manifest(second.id)
    old = {e.hash for e in fresh.manifest(first.id).entries}
    new = [e for e in manifest.entries if e.hash not in old]
    assert new
    dictionary = zstandard.ZstdCompressionDict(dict_data)
    for e in new:
        body = get(s3, f"dashvault/blobs/{e.hash[:2]}/{e.hash}")
        assert zstandard.get_frame_parameters(body).dict_id == int(record["id"], 16)
        raw = zstandard.ZstdDecompressor(dict_data=dictionary).decompress(body)  # the README recipe
        assert hashlib.sha256(raw).hexdigest() == e.hash
    assert all(fresh.load(second.id, e)["dashboard"]["uid"] == e.key[2:] for e in manifest.entries)
    assert verify_store(make_store(s3), read_data=True).ok


def test_dictionary_is_not_kept_when_it_does_not_pay(s3):
    rng = random.Random(5)
    noise = [
        Item(source="g", kind="dashboard", key=f"1/n{n}", title="n", content={"x": rng.randbytes(600).hex()})
        for n in range(40)
    ]
    store = make_store(s3, dictionary_min_blobs=24)
    snapshot(store, noise, time=T0)
    snapshot(store, [*noise, item("new")], time=T0 + timedelta(hours=1))
    config = json.loads(get(s3, "dashvault/config.json"))
    assert config["dictionaries"] == [] and config["dictionary_retry_at"] == 80
    assert keys(s3, "dashvault/dictionaries/") == []


# -- integrity -----------------------------------------------------------------------------------


def flip_byte(target, key: str, offset: int = -8) -> None:
    body = bytearray(get(target, key))
    body[offset] ^= 0x01
    put(target, key, bytes(body))


def test_a_flipped_byte_is_named_with_every_snapshot_and_item_using_it(s3):
    store = make_store(s3)
    shared = {"dashboard": {"uid": "s", "panels": [1, 2, 3]}}
    twins = [Item(source="g", kind="dashboard", key=f"1/{u}", title=u, content=shared) for u in ("t1", "t2")]
    s1 = snapshot(store, [item("a"), *twins], time=T0)
    s2 = snapshot(store, [item("a", panels=2), *twins], time=T0 + timedelta(hours=1))
    digest = entry_for(twins[0])[0].hash
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    flip_byte(s3, key)

    fresh = make_store(s3)
    entry = fresh.manifest(s2.id).index()[("g", "dashboard", "1/t1")]
    with pytest.raises(CorruptDataError) as caught:
        fresh.load(s2.id, entry)
    assert key in str(caught.value) and "\n" not in str(caught.value)
    assert verify_store(fresh).ok  # without --read-data only presence is checked
    report = verify_store(fresh, read_data=True)
    [problem] = report.problems
    assert problem.problem == "corrupt" and problem.hash == digest and problem.location == key
    refs = sorted((r.snapshot, r.key) for r in problem.references)
    assert refs == sorted((s, k) for s in (s1.id, s2.id) for k in ("1/t1", "1/t2"))
    assert report.contents == 3 and report.snapshots == 2


def test_missing_blob_and_corrupt_manifest_are_reported(s3):
    store = make_store(s3)
    s1 = snapshot(store, [item("a"), item("b")], time=T0)
    s2 = snapshot(store, [item("a", panels=2), item("b")], time=T0 + timedelta(hours=1))
    digest = entry_for(item("b"))[0].hash
    s3.client().delete_object(Bucket=s3.bucket, Key=f"dashvault/blobs/{digest[:2]}/{digest}")
    report = verify_store(make_store(s3))
    [problem] = report.problems
    assert problem.problem == "missing" and {r.snapshot for r in problem.references} == {s1.id, s2.id}

    flip_byte(s3, f"dashvault/snapshots/{s2.id}.json.zst", offset=20)
    with pytest.raises(CorruptDataError, match=s2.id):
        make_store(s3).manifest(s2.id)
    report = verify_store(make_store(s3), read_data=True)
    assert [m.snapshot for m in report.manifests] == [s2.id]
    with pytest.raises(NotFoundError):
        make_store(s3).manifest("20990101T000000Z-00000000")


# -- locking -------------------------------------------------------------------------------------


def lock_body(**fields) -> bytes:
    body = {"owner": "elsewhere:1:deadbeef", "host": "elsewhere", "pid": 1, "operation": "backup"}
    body.update(created="2026-01-01T00:00:00+00:00", ttl=300)
    body.update(fields)
    return json.dumps(body).encode()


def test_a_held_lock_refuses_with_its_owner(s3):
    put(s3, "dashvault/lock", lock_body())
    with pytest.raises(StoreLockedError, match="backup by elsewhere:1:deadbeef"):
        make_store(s3).begin()
    with pytest.raises(StoreLockedError):
        make_store(s3).prune(KeepPolicy(last=1))


def test_an_expired_lock_is_taken_over(s3):
    snapshot(make_store(s3), [item("a")], time=T0)
    put(s3, "dashvault/lock", lock_body(ttl=1))
    time.sleep(2.2)  # Last-Modified and Date have one-second resolution
    info = snapshot(make_store(s3), [item("a", panels=2)], time=T0 + timedelta(hours=1))
    assert info is not None and len(make_store(s3).snapshots()) == 2
    assert keys(s3, "dashvault/lock") == []


def test_a_dead_process_lock_on_this_host_is_taken_over_at_once(s3):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(dead.stdout)
    here = {"host": socket.gethostname(), "pid": pid, "owner": f"x:{pid}:1"}
    # In another pid namespace (a container sharing the host name) that pid says nothing.
    put(s3, "dashvault/lock", lock_body(**here, pidns="pid:[1]"))
    with pytest.raises(StoreLockedError):
        make_store(s3).begin()
    put(s3, "dashvault/lock", lock_body(**here, pidns=os.readlink("/proc/self/ns/pid")))
    assert snapshot(make_store(s3), [item("a")], time=T0) is not None


def test_a_long_run_keeps_its_lock_alive(s3):
    store = make_store(s3, lock_ttl=1)
    with store.begin():
        time.sleep(2.5)
        with pytest.raises(StoreLockedError):
            make_store(s3, lock_ttl=1).begin()


def test_a_writer_that_lost_its_lock_writes_no_snapshot(s3):
    store = make_store(s3)
    writer = store.begin()
    entry, content = entry_for(item("a"))
    writer.put(entry, content)
    put(s3, "dashvault/lock", lock_body())  # another run took it over
    with pytest.raises(StoreLockedError, match="lost the lock"):
        writer.commit(Manifest(time=T0, run="00000001", entries=[entry]), Changes(added=[entry]))
    assert keys(s3, "dashvault/snapshots/") == []
    assert json.loads(get(s3, "dashvault/lock"))["owner"] == "elsewhere:1:deadbeef"  # not deleted


def test_conditional_create_lets_one_of_many_writers_in(s3):
    stores = [make_store(s3) for _ in range(6)]
    results: list[object] = []
    barrier = threading.Barrier(len(stores))

    def race(store):
        barrier.wait()
        try:
            results.append(store.begin())
        except StoreLockedError as exc:
            results.append(exc)

    threads = [threading.Thread(target=race, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if not isinstance(r, StoreLockedError)]
    assert len(winners) == 1
    winners[0].abort()


# -- retention -----------------------------------------------------------------------------------


def test_prune_keeps_what_the_policy_says_and_only_unreferenced_blobs_go(s3):
    store = make_store(s3)
    times = [T0 + timedelta(hours=h) for h in (0, 5, 26, 30, 24 * 9, 24 * 9 + 1, 24 * 20, 24 * 40, 24 * 41)]
    ids = []
    for n, t in enumerate(times):
        # One item that changes every time, one that never does.
        info = snapshot(store, [item("changing", panels=n), item("steady")], time=t, run=f"{n:08x}")
        ids.append(info.id)
    policy = KeepPolicy(last=2, daily=3, weekly=2, monthly=2)
    expected = apply_policy(list(zip(ids, times, strict=True)), policy)
    # By hand: last keeps 11 and 10 Feb; daily 11 Feb, 10 Feb, 21 Jan; weekly 11 Feb (ISO week 7) and
    # 21 Jan (week 4); monthly 11 Feb and 21 Jan (January's newest). Everything older goes.
    assert list(expected.keep) == [ids[8], ids[7], ids[6]]

    dry = make_store(s3).prune(policy, dry_run=True)
    assert dry.dry_run and {s.id for s in dry.removed} == set(ids[:6]) and dry.blobs_removed == 6
    assert len(keys(s3, "dashvault/snapshots/")) == 9

    report = make_store(s3).prune(policy)
    assert [s.id for s, _ in report.kept] == [ids[8], ids[7], ids[6]]
    assert {s.id: r for s, r in report.kept}[ids[6]] == ["daily", "weekly", "monthly"]
    assert report.blobs_removed == 6 and report.blobs_kept == 4
    assert [s.id for s in make_store(s3).snapshots()] == [ids[8], ids[7], ids[6]]
    remaining = {k.rsplit("/", 1)[1] for k in keys(s3, "dashvault/blobs/")}
    referenced = {e.hash for i in ids[6:] for e in make_store(s3).manifest(i).entries}
    assert remaining == referenced and entry_for(item("steady"))[0].hash in remaining
    assert verify_store(make_store(s3), read_data=True).ok
    assert keys(s3, "dashvault/lock") == []


def test_prune_refuses_an_empty_policy_and_a_corrupt_kept_manifest(s3):
    store = make_store(s3)
    s1 = snapshot(store, [item("a")], time=T0)
    s2 = snapshot(store, [item("a", panels=2)], time=T0 + timedelta(days=1))
    with pytest.raises(StoreError, match="keeps nothing"):
        store.prune(KeepPolicy())
    put(s3, f"dashvault/snapshots/{s2.id}.json.zst", b"garbage")
    with pytest.raises(CorruptDataError):
        make_store(s3).prune(KeepPolicy(last=1))
    assert len(keys(s3, "dashvault/snapshots/")) == 2 and len(keys(s3, "dashvault/blobs/")) == 2
    assert s1.id in keys(s3, "dashvault/snapshots/")[0]


# -- options and errors --------------------------------------------------------------------------


def test_encryption_and_storage_class_are_requested(s3):
    store = make_store(s3, sse="AES256", storage_class="STANDARD_IA")
    snapshot(store, [item("a")], time=T0)
    client = s3.client()
    [blob] = keys(s3, "dashvault/blobs/")
    head = client.head_object(Bucket=s3.bucket, Key=blob)
    assert head["ServerSideEncryption"] == "AES256" and head["StorageClass"] == "STANDARD_IA"
    config = client.head_object(Bucket=s3.bucket, Key="dashvault/config.json")
    assert config.get("StorageClass", "STANDARD") == "STANDARD"

    kms = make_store(s3, prefix="kms", sse="aws:kms", kms_key_id="arn:aws:kms:us-east-1:000000000000:key/k1")
    snapshot(kms, [item("b")], time=T0)
    [blob] = keys(s3, "kms/blobs/")
    assert client.head_object(Bucket=s3.bucket, Key=blob)["SSEKMSKeyId"].endswith("key/k1")


def test_open_store_maps_the_config(s3):
    config = StorageConfig(**{**s3.storage(prefix="p/", sse="AES256", storage_class="STANDARD_IA")})
    store = open_store(config)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.endpoint_url, store.sse, store.storage_class) == (
        s3.bucket,
        "p/",
        s3.endpoint_url,
        "AES256",
        "STANDARD_IA",
    )
    assert store.describe() == f"s3 store s3://{s3.bucket}/p/ at {s3.endpoint_url}"
    snapshot(store, [item("a")], time=T0)
    # Without keys in the config the AWS chain (here: the environment) is used.
    chain = open_store(
        StorageConfig(backend="s3", bucket=s3.bucket, prefix="p/", endpoint_url=s3.endpoint_url)
    )
    assert len(chain.snapshots()) == 1


def test_missing_bucket_and_unreachable_endpoint_are_one_line_store_errors(s3):
    secret = "not-a-real-secret-4242"
    missing = S3Store(
        "no-such-bucket-here", endpoint_url=s3.endpoint_url, access_key_id="k", secret_access_key=secret
    )
    with pytest.raises(StoreError, match="bucket 'no-such-bucket-here' does not exist"):
        missing.snapshots()
    with pytest.raises(StoreError, match="does not exist"):
        missing.begin()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = S3Store(
        "b",
        endpoint_url=f"http://user:pw@127.0.0.1:{port}",
        access_key_id="k",
        secret_access_key=secret,
        retries=0,
    )
    with pytest.raises(StoreError) as caught:
        down.snapshots()
    message = str(caught.value)
    assert f"cannot reach http://127.0.0.1:{port}" in message
    assert "\n" not in message and secret not in message and "pw" not in message
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in message
