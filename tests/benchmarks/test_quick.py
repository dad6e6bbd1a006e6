"""`python benchmarks/run.py --quick` runs end to end and prints every row of its tables."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick() -> str:
    proc = subprocess.run(
        # Fewer dashboards and less latency than --quick's own: the rows and the store checks are what is
        # tested here, not the numbers.
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--dashboards",
            "20",
            "--latency-ms",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_every_run_has_a_row(quick: str) -> None:
    rows = {
        (cells[0], cells[1], cells[2])
        for line in quick.splitlines()
        if line.startswith("| ") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 11
    }
    for api in ("legacy", "apis"):
        for store in ("git", "s3"):
            assert (api, store, "full backup") in rows
            assert (api, store, "no-change backup") in rows
        assert (api, "git", "full backup, concurrency 1") in rows
        assert (api, "git", "restore all (after a wipe)") in rows
    assert "MADE A SNAPSHOT" not in quick  # a run with nothing new writes nothing
    assert re.search(r"git commit of 500 changed files .* commit [0-9.]+ s", quick)


def test_no_change_runs_write_nothing(quick: str) -> None:
    """Exactly nothing: every file under .git/objects and every key of the bucket, with its size (and
    ETag), is the same after a no-change run; a 0.0 in the MB column would let 50 KB through."""
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in quick.splitlines()
        if line.startswith("| ")
    ]
    no_change = [r for r in rows if len(r) == 11 and r[2] == "no-change backup"]
    full = [r for r in rows if len(r) == 11 and r[2] == "full backup"]
    assert len(no_change) == 4 and len(full) == 4  # legacy and apis, git and s3
    for row in no_change:
        assert row[5] == "0.0", row
        assert row[10].split("; ")[0] == "store unchanged", row
    for row in full:  # the same measure sees what a run that changes everything writes
        added = re.fullmatch(r"store: (\d+) objects added, 0 rewritten, 0 removed", row[10].split("; ")[0])
        assert added is not None and int(added.group(1)) > 0, row


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared dashboard corpus is not present at {CORPUS}")
def test_storage_growth_table(quick: str) -> None:
    growth = [
        line
        for line in quick.splitlines()
        if re.match(r"\| \d+ \| [0-9.,]+ \| [0-9.,]+ \| [0-9.,]+ \|$", line)
    ]
    assert [line.split("|")[1].strip() for line in growth] == ["1", "8", "24"]


def test_without_the_corpus_the_growth_table_says_why(quick: str) -> None:
    if CORPUS.is_dir():
        pytest.skip("the shared corpus is present: the growth table is checked instead")
    assert "storage growth: skipped, the shared corpus is not present" in quick
