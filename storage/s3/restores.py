"""Restore records in an S3 store: ``<prefix>/restores/<time>-<random>.json``, one object per record,
written once with ``If-None-Match: *`` and never changed (storage/restores.py)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from storage.restores import RestoredIds, RestoreRecord, decode
from storage.s3.client import _not_implemented
from storage.s3.objects import _Objects

RESTORES = "restores/"


class _Restores(_Objects):
    """Reading and appending restore records."""

    def restores(self) -> RestoredIds:
        """Every readable record under ``restores/``."""
        names = [name for name, _ in self._list(RESTORES) if name.endswith(".json")]
        records, damaged = [], []
        for name in sorted(names):
            obj = self._get(f"{self.prefix}{RESTORES}{name}")
            if obj is None:
                continue  # removed by hand between the listing and the read
            where = f"{self.describe()}: {RESTORES}{name}"
            record = decode(obj.body, where)
            if record is None:
                damaged.append(where)
            else:
                records.append(record)
        return RestoredIds(records, damaged)

    def record_restore(self, record: RestoreRecord) -> None:
        """Write one record under a name of its own."""
        key = f"{self.prefix}{RESTORES}{record.name()}"
        try:
            self._put(key, record.encode(), if_none_match=True)
        except ClientError as exc:
            if not _not_implemented(exc):
                raise self._error(exc, "writing", key) from exc
            self._put(key, record.encode())  # a store without conditional writes: the name is unique
