"""A backup heals an S3 store: an unchanged item whose blob was removed is read again and stored."""

from __future__ import annotations

import pytest

from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, S3Target, grafana_source, write_config
from tests.storage.integrity_support import bucket_listing


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_blob_removed_from_the_bucket_is_stored_again_by_the_next_backup(
    tmp_path, grafana: GrafanaSandbox, s3: S3Target, api: str
) -> None:
    uids = [grafana.add_dashboard({"title": f"Board {n}", "panels": [{"id": n}]}) for n in range(6)]
    cfg = write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)], **s3.storage())
    cli = Cli(cfg)
    assert cli("backup").exit_code == 0
    healthy = cli("backup")
    assert healthy.exit_code == 0 and "stored contents are missing" not in healthy.stderr  # nothing to heal
    digest = cli("log", f"1/{uids[2]}", "--json").json()[0]["hash"]  # type: ignore[index]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    s3.client().delete_object(Bucket=s3.bucket, Key=key)
    assert cli("verify", "--json").exit_code == 1

    # Nothing changed live: the dashboard would be taken as unchanged, and its blob never written.
    res = cli("--log-format", "json", "backup", "--json")
    assert res.exit_code == 0, res.stdout
    [heal] = res.log_records("store.heal")
    assert heal["message"] == "stored contents are missing, reading them again"
    assert (heal["source"], heal["fields"]["items"], heal["level"]) == ("grafana", 1, "warning")
    assert key in bucket_listing(s3)
    report = cli("verify", "--read-data", "--json")
    assert report.exit_code == 0 and report.json()["ok"] is True  # type: ignore[index]
    shown = cli("show", "latest", f"1/{uids[2]}")
    assert shown.exit_code == 0 and shown.json()["dashboard"]["title"] == "Board 2"  # type: ignore[index]
