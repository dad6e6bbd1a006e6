"""What the integrity tests share: what a user of git and an S3 client would do by hand, and fixtures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.generate import Population, populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, S3Target, grafana_source, write_config


def git(repo: Path, *args: str, data: bytes | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True)
    return proc.stdout.decode()


def loosen(repo: Path) -> None:
    """Turn every packed object into a loose one (plain git), so that one object can be damaged."""
    pack_dir = repo / ".git" / "objects" / "pack"
    for pack in sorted(pack_dir.glob("*.pack")):
        data = pack.read_bytes()
        for part in pack_dir.glob(f"{pack.stem}.*"):
            part.unlink()
        git(repo, "unpack-objects", "-q", data=data)


def bucket_listing(s3: S3Target) -> dict[str, tuple[int, str]]:
    """Every key of the bucket (any prefix) -> (size, ETag)."""
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
    return {o["Key"]: (int(o["Size"]), o["ETag"]) for p in pages for o in p.get("Contents", [])}


def get(s3: S3Target, key: str) -> bytes:
    return s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def put(s3: S3Target, key: str, body: bytes) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=body)


def model(grafana: GrafanaSandbox, uid: str) -> dict[str, object]:
    """A dashboard as the sandbox holds it, without the fields dashvault does not store."""
    found = grafana.get_dashboard(uid)
    assert found is not None
    return {k: v for k, v in found.items() if k not in ("id", "version")}


@pytest.fixture
def populated(grafana: GrafanaSandbox) -> Population:
    return populate(grafana, dashboards=64, depth=2, seed=7)  # >= 64 blobs: a dictionary


def s3_cli(tmp_path: Path, grafana: GrafanaSandbox, s3: S3Target, **storage: object) -> Cli:
    source = grafana_source(grafana.url, api="legacy")
    return Cli(write_config(tmp_path / "dashvault.toml", [source], **s3.storage(**storage)))


def git_cli(tmp_path: Path, grafana: GrafanaSandbox, **source: object) -> Cli:
    return Cli(
        write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy", **source)])
    )


def flip(path: Path, offset: int) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def damage_loose(repo: Path, sha: str) -> None:
    """Unpack everything (plain git), then flip a byte in the middle of one object's zlib stream."""
    loosen(repo)
    loose = repo / ".git" / "objects" / sha[:2] / sha[2:]
    flip(loose, loose.stat().st_size // 2)
