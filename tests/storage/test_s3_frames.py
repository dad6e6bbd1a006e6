"""Blobs whose zstd frame header says odd things about their size.

One that claims more than any object dashvault stores (512 MiB) is refused before anything is
decompressed; one that claims exactly that much is read (and here fails, as its body is a stub): the
limit is "more than", as the decompressor's own `max_output_size`. One that leaves its size out is
read within that limit."""

from __future__ import annotations

import json
import struct

import pytest
import zstandard

from tests.storage.integrity_support import get, model, put, s3_cli

LIMIT = 512 * 1024 * 1024


def frame_claiming(size: int) -> bytes:
    """A zstd frame (RFC 8878, 3.1.1) whose header declares `size` bytes of content: descriptor 0xC0
    (an 8-byte content size, a window descriptor, no checksum, no dictionary), then one raw block of
    one byte, far short of the claim."""
    header = struct.pack("<IBBQ", 0xFD2FB528, 0xC0, 0x00, size)
    last_raw_block_of_one_byte = (1 | (0 << 1) | (1 << 3)).to_bytes(3, "little")
    return header + last_raw_block_of_one_byte + b"x"


@pytest.mark.parametrize(
    ("claimed", "error"),
    [
        (LIMIT + 1, f"claims an implausible size ({LIMIT + 1} bytes)"),
        (LIMIT, "does not decompress"),
    ],
)
def test_a_blob_claiming_more_than_the_limit_is_refused_before_decompressing(
    tmp_path, grafana, s3, populated, claimed, error
):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    uid = populated.dashboards[2]
    digest = cli("log", f"1/{uid}", "--json").json()[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    put(s3, key, frame_claiming(claimed))
    shown = cli("show", "latest", f"1/{uid}")
    assert shown.exit_code == 3 and shown.stdout == ""
    [line] = shown.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"blob {key} (grafana dashboard 1/{uid}" in line and error in line
    [problem] = cli("verify", "--read-data", "--json").json()["problems"]
    assert (problem["location"], problem["problem"]) == (key, "corrupt") and error in problem["error"]


def test_a_blob_whose_header_leaves_out_its_size_is_still_read(tmp_path, grafana, s3, populated):
    # As the zstd tool writes a stream it cannot size beforehand: no content size in the header, so
    # only the decompressor's own limit bounds what it may produce.
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    uid = populated.dashboards[4]
    digest = cli("log", f"1/{uid}", "--json").json()[0]["hash"]
    key = f"dashvault/blobs/{digest[:2]}/{digest}"
    raw = zstandard.ZstdDecompressor().decompress(get(s3, key))
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(raw)
    assert zstandard.get_frame_parameters(unsized).content_size == zstandard.CONTENTSIZE_UNKNOWN
    put(s3, key, unsized)
    shown = cli("show", "latest", f"1/{uid}")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["dashboard"] == model(grafana, uid)
