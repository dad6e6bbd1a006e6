"""Compression: the zstd level new blobs use, and the store's dictionary: trained on a sample of its
blobs once there are enough, measured on blobs it was not trained on, and kept (written to
``dictionaries/`` and recorded in config.json) only if it pays for itself.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import zstandard
from botocore.exceptions import ClientError

from storage.errors import CorruptDataError
from storage.hashing import sha256_hex
from storage.s3.blobs import _Blobs
from storage.s3.client import _precondition_failed
from storage.s3.config import COMPRESSION_LEVEL

log = logging.getLogger("dashvault.s3")

#: Dictionary size: the benchmark (benchmarks/compression.py) found 64 KB the best trade-off.
DICTIONARY_SIZE = 64 * 1024
# Training a dictionary: how many of the store's blobs to sample, and how much data at most.
_DICT_SAMPLES = 256
_DICT_SAMPLE_BYTES = 16 * 1024 * 1024
# A dictionary is kept only if it saves at least this share on blobs it was not trained on.
_DICT_MIN_SAVING = 0.10


@dataclass(frozen=True)
class _Compression:
    level: int
    dictionary: zstandard.ZstdCompressionDict | None = None


class _Compressing(_Blobs):
    """Choosing what new blobs are compressed with, training a dictionary first if it is time."""

    dictionary_min_blobs: int

    def _compression(self, known: dict[str, int]) -> _Compression:
        """What new blobs are compressed with: trains a dictionary first if the store is ready for one."""
        config = self._ensure_config()
        compression = config.get("compression")
        level = compression.get("level") if isinstance(compression, dict) else None
        level = level if isinstance(level, int) and 1 <= level <= 22 else COMPRESSION_LEVEL
        dictionaries = config.get("dictionaries") or []
        if dictionaries:
            try:
                current = int(dictionaries[-1]["id"], 16)
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptDataError(
                    f"{self.describe()}: {self._config_key} names no valid dictionary"
                ) from exc
            return _Compression(level, self._dictionary(current, f"{self.describe()}: dictionary"))
        retry_at = max(self.dictionary_min_blobs, int(config.get("dictionary_retry_at", 0)))
        if self.dictionary_min_blobs <= 0 or len(known) < retry_at:
            return _Compression(level)
        return _Compression(level, self._train_dictionary(config, known, level))

    def _train_dictionary(
        self, config: dict[str, Any], known: dict[str, int], level: int
    ) -> zstandard.ZstdCompressionDict | None:
        """Train a dictionary on a sample of the store's blobs; keep it only if it pays for itself."""
        rng = random.Random(len(known))
        chosen = rng.sample(sorted(known), min(_DICT_SAMPLES, len(known)))
        samples: list[bytes] = []
        total = 0

        def fetch(digest: str) -> bytes | None:
            try:
                return self.read_blob(digest)
            except CorruptDataError:  # verify reports those; they just do not train anything
                return None

        for raw in self._map(fetch, chosen):
            if raw is not None and total < _DICT_SAMPLE_BYTES:
                samples.append(raw)
                total += len(raw)
        held_out, training = samples[::4], [s for n, s in enumerate(samples) if n % 4]
        verdict = _evaluate_dictionary(training, held_out, level, sum(known.values()))
        if verdict is None:
            config = {**config, "dictionary_retry_at": 2 * len(known)}
            self._update_config(config)
            log.info("zstd dictionary not worth it yet", extra={"event": "s3.dictionary.skipped"})
            return None
        dictionary, saving = verdict
        data = dictionary.as_bytes()
        key = self._dictionary_key(dictionary.dict_id())
        try:
            self._put(key, data, if_none_match=True)
        except ClientError as exc:
            if not _precondition_failed(exc):
                raise self._error(exc, "writing", key) from exc
            existing = self._get(key)
            if existing is None or existing.body != data:
                return None  # an unrelated dictionary with the same id: go on without one
        record = {
            "id": f"{dictionary.dict_id():08x}",
            "sha256": sha256_hex(data),
            "size": len(data),
            "samples": len(training),
            "saving": round(saving, 3),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._update_config({**config, "dictionaries": [*config.get("dictionaries", []), record]})
        with self._cache_lock:
            self._dictionaries[dictionary.dict_id()] = dictionary
        log.info(
            "trained a zstd dictionary",
            extra={"event": "s3.dictionary.trained", "dictionary": record["id"], "saving": record["saving"]},
        )
        return dictionary


def _evaluate_dictionary(
    training: list[bytes], held_out: list[bytes], level: int, store_bytes: int
) -> tuple[zstandard.ZstdCompressionDict, float] | None:
    """A dictionary and its saving on `held_out`, if it saves enough to be worth its own size."""
    if len(training) < 16 or not held_out:
        return None
    size = min(DICTIONARY_SIZE, max(4096, sum(map(len, training)) // 10))
    try:
        dictionary = zstandard.train_dictionary(
            size, list[bytes | bytearray | memoryview](training), level=level
        )
    except zstandard.ZstdError:
        return None
    plain = zstandard.ZstdCompressor(level=level)
    with_dict = zstandard.ZstdCompressor(level=level, dict_data=dictionary)
    before = sum(len(plain.compress(s)) for s in held_out)
    after = sum(len(with_dict.compress(s)) for s in held_out)
    saving = 1 - after / before if before else 0.0
    if saving < _DICT_MIN_SAVING or saving * store_bytes < len(dictionary.as_bytes()):
        return None
    return dictionary, saving
