"""A damaged git object is contained to the items whose content it holds: git's reader dies on it and
is restarted, verify names every damaged item, and unrelated items still show and restore."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.integrity_support import damage_loose, flip, git, git_cli


def damage_packed(repo: Path, sha: str) -> None:
    """Flip a byte inside one object's data in its pack (offsets from `git verify-pack -v`)."""
    [pack] = sorted((repo / ".git" / "objects" / "pack").glob("*.pack"))
    rows = git(repo, "verify-pack", "-v", str(pack.with_suffix(".idx"))).splitlines()
    for row in rows:
        fields = row.split()
        if fields and fields[0] == sha:
            size_in_pack, offset = int(fields[3]), int(fields[4])
            flip(pack, offset + size_in_pack // 2)
            return
    raise AssertionError(f"{sha} is not in {pack}")


@pytest.mark.parametrize("damage", [damage_loose, damage_packed], ids=["loose object", "pack"])
def test_a_damaged_object_fails_only_its_item(tmp_path, grafana, populated, damage):
    cli = git_cli(tmp_path, grafana)
    assert cli("backup").exit_code == 0
    repo = tmp_path / "backups"
    git(repo, "repack", "-adq")  # one pack for the whole store
    uids = populated.dashboards
    bad = uids[3]
    sha = git(repo, "rev-parse", f"HEAD:grafana/dashboards/1/{bad}.json").strip()
    damage(repo, sha)

    # Asked for after the damaged one, healthy items still read.
    assert cli("show", "latest", f"1/{bad}").exit_code == 3
    for uid in uids[4:9]:
        shown = cli("show", "latest", f"1/{uid}")
        assert shown.exit_code == 0, shown.stderr

    res = cli("verify", "--json")
    assert res.exit_code == 1
    report = res.json()
    assert [(p["location"], p["problem"]) for p in report["problems"]] == [
        (f"grafana dashboard 1/{bad}", "corrupt")
    ]
    text = cli("verify")
    assert f"CORRUPT grafana dashboard 1/{bad}" in text.stdout

    # Five unrelated dashboards deleted live all come back; the damaged one fails alone.
    gone = [bad, *uids[10:15]]
    for uid in gone:
        grafana.delete_dashboard(uid)
    restored = cli(
        "restore", "--snapshot", "latest", "--json", *[a for u in gone for a in ("--key", f"1/{u}")]
    )
    assert restored.exit_code == 1, restored.stdout
    for uid in uids[10:15]:
        assert grafana.get_dashboard(uid) is not None
    assert grafana.get_dashboard(bad) is None
