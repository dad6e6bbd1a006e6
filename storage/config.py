"""`[storage]`: where snapshots go (a git repository or an S3 bucket), and the store it opens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storage.configmodel import ConfigModel, Secret, check_http_url, field_error, resolve_path
from storage.errors import StoreError
from storage.git import GitStore
from storage.store import Store

_BUCKET = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")


class StorageConfig(ConfigModel):
    """`[storage]`: where snapshots go (a git repository or an S3 bucket)."""

    backend: Literal["git", "s3"] = "git"
    path: Path = Path("backups")
    remote: str = ""
    bucket: str = ""
    prefix: str = "dashvault/"
    endpoint_url: str = ""
    region: str = ""
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    sse: Literal["", "AES256", "aws:kms"] = ""
    kms_key_id: str = ""
    storage_class: str = ""
    max_delete_fraction: float = Field(default=0.5, gt=0, le=1)

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_http_url(value) if value else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.backend == "s3" and not self.bucket:
            raise field_error("bucket", 'required when backend = "s3"')
        if self.backend == "s3" and not _BUCKET.fullmatch(self.bucket):
            # botocore's own check (``validate_bucket_name``), made here so the error is the config's.
            raise field_error("bucket", "must be a bucket name: 1-255 letters, digits, '.', '-' or '_'")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            missing = "secret_access_key" if self.secret_access_key is None else "access_key_id"
            raise field_error(missing, "required when the other S3 key is set (or set neither)")
        if self.kms_key_id and self.sse != "aws:kms":
            raise field_error("kms_key_id", 'only used with sse = "aws:kms"')
        return self


def open_store(config: StorageConfig) -> Store:
    """The configured store backend; S3 credentials come from the config keys, else boto3's default chain."""
    if config.backend == "git":
        return GitStore(config.path, remote=config.remote)
    if config.backend == "s3":
        from storage.s3 import S3Store  # boto3 is slow to import: only when the store is S3

        key_id, secret = config.access_key_id, config.secret_access_key
        return S3Store(
            config.bucket,
            prefix=config.prefix,
            endpoint_url=config.endpoint_url or None,
            region=config.region or None,
            access_key_id=key_id.get_secret_value() if key_id is not None else None,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            sse=config.sse or None,
            kms_key_id=config.kms_key_id or None,
            storage_class=config.storage_class or None,
        )
    raise StoreError(f"storage.backend {config.backend!r} is not available in this version of dashvault")
