"""config.json: the store's format version and compression settings (the dictionaries in use), read
and checked once, created if absent, replaced only under the lock; and the JSON encoding of
dashvault's own objects (config, lock, manifests).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from storage.errors import CorruptDataError, StoreError
from storage.s3.client import _not_implemented, _precondition_failed
from storage.s3.objects import _Objects

#: Version of the layout described in README.md ("Storage format: s3").
STORE_FORMAT = 1
COMPRESSION_LEVEL = 10


def _json_bytes(data: Any, *, indent: bool = False) -> bytes:
    if indent:
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Config(_Objects):
    """Reading, creating and updating the store's config.json."""

    _config: dict[str, Any] | None
    _config_etag: str

    @property
    def _config_key(self) -> str:
        return f"{self.prefix}config.json"

    # -- config.json --------------------------------------------------------------------------

    def _read_config(self) -> dict[str, Any]:
        """The store's config.json ({} if there is none yet), checked for a format we can read."""
        if self._config is None:
            obj = self._get(self._config_key)
            if obj is None:
                return {}
            try:
                config = json.loads(obj.body)
            except ValueError as exc:
                raise CorruptDataError(f"{self.describe()}: {self._config_key} is not valid JSON") from exc
            if not isinstance(config, dict):
                raise CorruptDataError(f"{self.describe()}: {self._config_key} is not a JSON object")
            version = config.get("format")
            if not isinstance(version, int) or version > STORE_FORMAT:
                raise StoreError(
                    f"{self.describe()}: store format {version!r} is not supported by this version of "
                    f"dashvault (it reads format {STORE_FORMAT})"
                )
            self._config, self._config_etag = config, obj.etag
        return self._config

    def _ensure_config(self) -> dict[str, Any]:
        config = self._read_config()
        if config:
            return config
        fresh = {
            "format": STORE_FORMAT,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "compression": {"algorithm": "zstd", "level": COMPRESSION_LEVEL, "checksum": True},
            "dictionaries": [],
        }
        try:
            self._put(self._config_key, _json_bytes(fresh, indent=True), if_none_match=True)
        except ClientError as exc:
            if not _precondition_failed(exc):  # created by another writer at the same moment: fine
                raise self._error(exc, "writing", self._config_key) from exc
        return self._read_config()

    def _update_config(self, config: dict[str, Any]) -> None:
        """Replace config.json (under the lock), refusing if it changed since it was read."""
        body = _json_bytes(config, indent=True)
        try:
            etag = self._put(self._config_key, body, if_match=self._config_etag)
        except ClientError as exc:
            if not _not_implemented(exc):
                raise self._error(exc, "updating", self._config_key) from exc
            etag = self._put(self._config_key, body)  # conditional overwrite unsupported; we hold the lock
        self._config, self._config_etag = config, etag
