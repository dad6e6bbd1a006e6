"""Blobs: content-addressed objects ``blobs/<hh>/<sha256>`` holding the zstd of canonical JSON. Their
keys, decompression (with the dictionary a frame names, itself verified), verified reads, and the
listing that tells which blobs exist. Blobs are written only when absent, by the write session.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import zstandard

from storage import jsontext
from storage.errors import CorruptDataError, MissingDataError
from storage.hashing import sha256_hex
from storage.model import Entry
from storage.s3.config import _Config

_HASH = re.compile(r"[0-9a-f]{64}")
# Nothing dashvault stores comes near this; a frame claiming more is corrupt or hostile.
_MAX_OBJECT = 512 * 1024 * 1024


class _Blobs(_Config):
    """Blob and dictionary keys, decompression, the blob listing and verified blob reads."""

    _cache_lock: threading.Lock
    _dictionaries: dict[int, zstandard.ZstdCompressionDict]

    # -- keys ---------------------------------------------------------------------------------

    def blob_location(self, digest: str) -> str:
        """The object key of the blob with this content hash."""
        return f"{self.prefix}blobs/{digest[:2]}/{digest}"

    def _dictionary_key(self, dict_id: int) -> str:
        return f"{self.prefix}dictionaries/{dict_id:08x}"

    # -- compression --------------------------------------------------------------------------

    def _decompress(self, data: bytes, what: str) -> bytes:
        try:
            params = zstandard.get_frame_parameters(data)
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"{what} is not zstd data ({exc})") from exc
        if params.content_size != zstandard.CONTENTSIZE_UNKNOWN and params.content_size > _MAX_OBJECT:
            raise CorruptDataError(f"{what} claims an implausible size ({params.content_size} bytes)")
        dictionary = self._dictionary(params.dict_id, what) if params.dict_id else None
        if dictionary is not None:
            dctx = zstandard.ZstdDecompressor(dict_data=dictionary)
        else:
            dctx = zstandard.ZstdDecompressor()
        try:
            return dctx.decompress(data, max_output_size=_MAX_OBJECT)
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"{what} does not decompress ({exc})") from exc

    def _dictionary(self, dict_id: int, what: str) -> zstandard.ZstdCompressionDict:
        with self._cache_lock:
            found = self._dictionaries.get(dict_id)
        if found is not None:
            return found
        key = self._dictionary_key(dict_id)
        obj = self._get(key)
        if obj is None:
            raise CorruptDataError(f"{what} needs dictionary {key}, which is missing")
        listed = self._read_config().get("dictionaries")
        recorded = {d.get("id"): d.get("sha256") for d in listed or [] if isinstance(d, dict)}
        expected = recorded.get(f"{dict_id:08x}")
        if not expected:  # every dictionary the store trained is recorded with its sha256
            raise CorruptDataError(
                f"{self.describe()}: dictionary {key} is not recorded in {self._config_key}"
            )
        if sha256_hex(obj.body) != expected:
            raise CorruptDataError(f"{self.describe()}: dictionary {key} does not match its hash")
        dictionary = zstandard.ZstdCompressionDict(obj.body)
        if dictionary.dict_id() != dict_id:
            raise CorruptDataError(f"{self.describe()}: dictionary {key} has id {dictionary.dict_id():08x}")
        with self._cache_lock:
            self._dictionaries[dict_id] = dictionary
        return dictionary

    # -- reading ------------------------------------------------------------------------------

    def blob_index(self) -> dict[str, int]:
        """Every stored blob: content hash -> stored (compressed) size, from one listing."""
        index = {}
        for name, size in self._list("blobs/"):
            head, _, digest = name.partition("/")
            if _HASH.fullmatch(digest) and head == digest[:2]:
                index[digest] = size
        return index

    def read_blob(self, digest: str, *, what: str = "") -> bytes:
        """A blob's canonical JSON bytes, verified against its hash (CorruptDataError otherwise)."""
        key = self.blob_location(digest)
        label = f"{self.describe()}: blob {key}" + (f" ({what})" if what else "")
        obj = self._get(key)
        if obj is None:
            raise MissingDataError(f"{label} is missing")
        raw = self._decompress(obj.body, label)
        if sha256_hex(raw) != digest:
            raise CorruptDataError(f"{label} does not match its hash (corrupt)")
        return raw

    def load(self, snapshot_id: str, entry: Entry) -> dict[str, Any]:
        what = f"{entry.source} {entry.kind} {entry.key} in snapshot {snapshot_id}"
        raw = self.read_blob(entry.hash, what=what)
        try:
            content = jsontext.loads(raw)
        except ValueError as exc:
            raise CorruptDataError(f"{self.describe()}: blob of {what} is not valid JSON") from exc
        if not isinstance(content, dict):
            raise CorruptDataError(f"{self.describe()}: blob of {what} is not a JSON object")
        return content
