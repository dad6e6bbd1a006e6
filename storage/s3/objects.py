"""The thin backend: get, put (optionally conditional), delete and list objects under the bucket,
and run requests on the worker threads. Everything above it speaks in keys and bytes.
"""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import StoreError
from storage.s3.client import _Client, _missing, _not_implemented, _precondition_failed

_DELETE_BATCH = 1000

T = TypeVar("T")
U = TypeVar("U")


@dataclass
class _Object:
    body: bytes
    etag: str
    last_modified: datetime
    server_time: datetime | None


class _Objects(_Client):
    """Object operations on the store's bucket; precondition failures surface as ClientError."""

    sse: str | None
    kms_key_id: str | None
    storage_class: str | None

    # -- object operations --------------------------------------------------------------------

    def _get(self, key: str) -> _Object | None:
        """The object, or None if there is no such key."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise self._error(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "reading", key) from exc
        date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        server_time = None
        if date:
            with contextlib.suppress(TypeError, ValueError):
                server_time = email.utils.parsedate_to_datetime(date)
        return _Object(body, str(resp.get("ETag", "")), resp["LastModified"], server_time)

    def _put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str = "", data: bool = False
    ) -> str:
        """Write an object; returns its ETag. Precondition failures surface as ClientError."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match:
            args["IfMatch"] = if_match
        if self.sse:
            args["ServerSideEncryption"] = self.sse
            if self.kms_key_id:
                args["SSEKMSKeyId"] = self.kms_key_id
        if data and self.storage_class:
            args["StorageClass"] = self.storage_class
        try:
            resp = self.client.put_object(**args)
        except ClientError as exc:
            if (if_none_match or if_match) and (_precondition_failed(exc) or _not_implemented(exc)):
                raise
            raise self._error(exc, "writing", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "writing", key) from exc
        return str(resp.get("ETag", ""))

    def _delete(self, key: str, *, if_match: str = "") -> None:
        try:
            if if_match:
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=if_match)
            else:
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if if_match and (_precondition_failed(exc) or _not_implemented(exc)):
                raise
            if _missing(exc):
                return
            raise self._error(exc, "deleting", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "deleting", key) from exc

    def _delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                resp = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._error(exc, "deleting", f"{len(batch)} objects") from exc
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                raise StoreError(
                    self._scrub(
                        f"{self.describe()}: deleting {first.get('Key', '?')} failed: "
                        f"{first.get('Code', '')} {first.get('Message', '')} ({len(errors)} objects failed)"
                    )
                )

    def _list(self, sub: str) -> Iterator[tuple[str, int]]:
        """(key relative to the prefix + `sub`, size) of every object under `<prefix><sub>`."""
        start = self.prefix + sub
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(start) :], int(obj.get("Size", 0))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "listing", start) from exc

    def _map(self, fn: Callable[[T], U], items: Iterable[T]) -> Iterator[U]:
        """`fn` over `items` on the worker threads, in order, never more than a few results ahead."""
        pending = list(items)
        if len(pending) <= 1:
            yield from map(fn, pending)
            return
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="s3") as pool:
            step = self.workers * 2
            for start in range(0, len(pending), step):
                yield from pool.map(fn, pending[start : start + step])
