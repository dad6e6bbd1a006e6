"""A damaged S3 manifest touches only its own snapshot: listed as damaged, named by verify, and every
other snapshot, `show latest`, `restore --snapshot latest` and the next backup keep working."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import zstandard

from storage.hashing import entry_for
from storage.model import Changes, Item, Manifest, SnapshotInfo, SourceStatus
from storage.s3 import S3Store
from tests.storage.integrity_support import bucket_listing, put, s3_cli


def manifests(s3) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(k for k in bucket_listing(s3) if k.startswith("dashvault/snapshots/"))


@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_a_damaged_manifest_affects_only_its_own_snapshot(tmp_path, grafana, s3, populated, which):
    cli = s3_cli(tmp_path, grafana, s3)
    uids = populated.dashboards
    assert cli("backup").exit_code == 0
    grafana.update_dashboard(uids[0], {"description": "second"})
    assert cli("backup").exit_code == 0
    grafana.update_dashboard(uids[0], {"description": "third"})
    assert cli("backup").exit_code == 0
    ids = [s["id"] for s in cli("snapshots", "--json").json()]  # newest first
    keys = manifests(s3)  # oldest first (time-named)
    damaged_id = ids[-1] if which == "oldest" else ids[0]
    put(s3, keys[0] if which == "oldest" else keys[-1], b"\x28\xb5\x2f\xfd not a manifest")

    listed = cli("snapshots", "--json")
    assert listed.exit_code == 0, listed.stderr
    by_id = {s["id"]: s for s in listed.json()}
    assert set(by_id) == set(ids)
    assert by_id[damaged_id]["damaged"]
    assert all(by_id[i]["damaged"] is None for i in ids if i != damaged_id)
    assert "DAMAGED" in cli("snapshots").stdout

    shown = cli("show", "latest", f"1/{uids[0]}")
    assert shown.exit_code == 0, shown.stderr
    expected = "second" if which == "newest" else "third"
    assert shown.json()["dashboard"]["description"] == expected
    assert cli("log", f"1/{uids[0]}", "--json").exit_code == 0

    report = cli("verify", "--json").json()
    assert [m["snapshot"] for m in report["manifests"]] == [damaged_id]

    # The next backup works, from the newest readable snapshot, and the restore of latest too.
    grafana.update_dashboard(uids[1], {"description": "fourth"})
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard(uids[2])
    restored = cli("restore", "--snapshot", "latest", "--key", f"1/{uids[2]}")
    assert restored.exit_code == 0, restored.stdout + restored.stderr
    assert grafana.get_dashboard(uids[2]) is not None


def test_two_snapshots_in_one_second_are_ordered_by_time_not_by_their_random_suffix(s3):
    store = S3Store(s3.bucket, endpoint_url=s3.endpoint_url, region=s3.region)
    item = Item(source="g", kind="dashboard", key="1/a", title="a", content={"t": "a"})
    entry, content = entry_for(item)
    with store.begin() as writer:  # the blob, through a real run
        writer.put(entry, content)
        first = Manifest(
            time=datetime(2026, 5, 1, 12, 0, 0, 100, tzinfo=UTC),
            run="ffffffff",
            sources={"g": SourceStatus(items=1, added=1)},
            entries=[entry],
        )
        earlier = writer.commit(first, Changes(added=[entry]))
    assert isinstance(earlier, SnapshotInfo)
    # A second manifest in the same second, as an older writer or a hand could leave: its random
    # suffix sorts before the first one's, its time after.
    second = first.model_copy(update={"time": first.time.replace(microsecond=900_000), "run": "00000000"})
    later_id = f"{earlier.id[:16]}-00000000"
    raw = zstandard.ZstdCompressor().compress(json.dumps(second.model_dump(mode="json")).encode())
    s3.client().put_object(Bucket=s3.bucket, Key=store._manifest_key(later_id), Body=raw)
    fresh = S3Store(s3.bucket, endpoint_url=s3.endpoint_url, region=s3.region)
    assert [s.id for s in fresh.snapshots()] == [later_id, earlier.id]
    newest = fresh.newest_readable()
    assert newest is not None and newest.run == "00000000"
