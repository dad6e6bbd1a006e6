"""How verify words a problem: the error without the location the report already names."""

from __future__ import annotations

import pytest

from storage.verify import _reason

LOCATION = "s3://bucket/dashvault/blobs/ab/ab12"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"{LOCATION}: content does not match its hash", "content does not match its hash"),
        (f"cannot read {LOCATION} :: timed out", "timed out"),
        # Only the first mention is the location; a later one belongs to the reason.
        (f"{LOCATION}: differs from {LOCATION}", f"differs from {LOCATION}"),
        # Nothing after the location, or no location at all: the whole message is the reason.
        (f"missing: {LOCATION}", f"missing: {LOCATION}"),
        (f"missing: {LOCATION} :", f"missing: {LOCATION} :"),
        ("the bucket does not exist", "the bucket does not exist"),
        # Inner spaces and colons stay; only the separator is dropped.
        (f"{LOCATION}: zstd: frame : bad", "zstd: frame : bad"),
        (f"{LOCATION}: locked by host BOX", "locked by host BOX"),
        (f"{LOCATION}: X", "X"),
    ],
)
def test_reason_is_what_follows_the_location(message: str, expected: str):
    assert _reason(message, LOCATION) == expected
