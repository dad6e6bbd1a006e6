"""How verify reports damage: the content's hash, where it is, why, and every snapshot that uses it."""

from __future__ import annotations

from tests.storage.integrity_support import bucket_listing, model, put, s3_cli


def test_s3_verify_names_a_missing_blob_exactly(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    [snapshot] = [s["id"] for s in cli("snapshots", "--json").json()]
    uid = populated.dashboards[3]
    digest = cli("log", f"1/{uid}", "--json").json()[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    s3.client().delete_object(Bucket=s3.bucket, Key=key)

    for args, read_data in (((), False), (("--read-data",), True)):
        res = cli("verify", *args, "--json")
        assert res.exit_code == 1
        report = res.json()
        assert report["ok"] is False and report["read_data"] is read_data and report["manifests"] == []
        [problem] = report["problems"]
        assert problem["hash"] == digest and problem["problem"] == "missing"
        assert problem["location"] == key and problem["error"] == "is missing"
        assert [(r["snapshot"], r["kind"], r["key"]) for r in problem["references"]] == [
            (snapshot, "dashboard", f"1/{uid}")
        ]
        assert problem["references"][0]["title"] == model(grafana, uid)["title"]
    text = cli("verify")
    assert f"MISSING {key}: is missing" in text.stdout
    assert f"used by {snapshot} grafana dashboard 1/{uid}" in text.stdout


def test_s3_verify_does_not_take_a_blob_under_another_prefix_for_the_missing_one(
    tmp_path, grafana, s3, populated
):
    # The blob moved out of its place (blobs/<first two hex digits>/<hash>): where dashvault will
    # never read it, so it is missing, even to the presence check that reads nothing.
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    digest = cli("log", f"1/{populated.dashboards[3]}", "--json").json()[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    elsewhere = f"dashvault/blobs/{'00' if digest[:2] != '00' else '11'}/{digest}"
    s3.client().copy_object(Bucket=s3.bucket, Key=elsewhere, CopySource={"Bucket": s3.bucket, "Key": key})
    s3.client().delete_object(Bucket=s3.bucket, Key=key)
    report = cli("verify", "--json").json()
    assert [(p["location"], p["problem"]) for p in report["problems"]] == [(key, "missing")]


def test_s3_verify_calls_a_blob_gone_between_the_listing_and_its_read_missing(
    tmp_path, grafana, s3, s3_proxy, populated
):
    cli = s3_cli(tmp_path, grafana, s3, endpoint_url=s3_proxy.url)
    assert cli("backup").exit_code == 0
    uid = populated.dashboards[3]
    digest = cli("log", f"1/{uid}", "--json").json()[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    # Still listed, but its read finds nothing: S3's own answer for a key deleted meanwhile.
    s3_proxy.add("s3_error", f"/{key}$", times=None, status=404, body=("NoSuchKey", "no such key"))
    res = cli("verify", "--read-data", "--json")
    assert res.exit_code == 1
    [problem] = res.json()["problems"]
    assert (problem["hash"], problem["problem"], problem["location"]) == (digest, "missing", key)
    assert problem["error"] == "is missing"
    assert len(s3_proxy.faulted("s3_error")) == 1


def test_s3_verify_names_a_damaged_manifest_and_why(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    [snapshot] = [s["id"] for s in cli("snapshots", "--json").json()]
    [manifest_key] = [k for k in bucket_listing(s3) if k.startswith("dashvault/snapshots/")]
    put(s3, manifest_key, b"not a manifest")
    report = cli("verify", "--json").json()
    assert report["ok"] is False
    [damaged] = report["manifests"]
    assert damaged["snapshot"] == snapshot
    assert isinstance(damaged["error"], str) and damaged["error"]
