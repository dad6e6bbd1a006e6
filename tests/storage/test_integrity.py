"""Damage done to real stores, and the integrity rules that must catch it.

Each test damages a store the way storage or an outsider could, in a way nothing but the rule under
test can notice: a blob replaced by another *valid* zstd frame (zstd's own checksum is happy, only the
sha256 of the result tells), git objects rewritten or lost behind dashvault's back, and a no-change run
that must leave the store byte-for-byte as it was. The expected values come from the sandbox, from
plain git and zlib, or from boto3, never from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import zstandard

from sandbox.generate import Population
from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, S3Target
from tests.storage.integrity_support import bucket_listing, get, git, git_cli, loosen, model, put, s3_cli

# -- S3: a blob replaced by another valid zstd frame -----------------------------------------------


def forge_blob(s3: S3Target, key: str) -> tuple[bytes, int]:
    """Replace a blob by a valid zstd frame of the same dashboard with its title changed.

    Compressed the way the store compresses (level 10, content checksum, the dictionary the original
    frame names, if any), so that the frame decompresses cleanly: only the sha256 can tell. Returns
    the forged JSON and the dictionary id used (0: none).
    """
    original = get(s3, key)
    dict_id = zstandard.get_frame_parameters(original).dict_id
    if dict_id:
        dictionary = zstandard.ZstdCompressionDict(get(s3, f"dashvault/dictionaries/{dict_id:08x}"))
        dctx = zstandard.ZstdDecompressor(dict_data=dictionary)
        cctx = zstandard.ZstdCompressor(level=10, dict_data=dictionary, write_checksum=True)
    else:
        dctx = zstandard.ZstdDecompressor()
        cctx = zstandard.ZstdCompressor(level=10, write_checksum=True)
    content = json.loads(dctx.decompress(original))
    content["dashboard"]["title"] = "Forged title"
    forged = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    body = cctx.compress(forged)
    # The forgery is a sound zstd frame naming the same dictionary; its content is not the blob's name.
    assert zstandard.get_frame_parameters(body).dict_id == dict_id
    assert dctx.decompress(body) == forged
    assert hashlib.sha256(forged).hexdigest() != key.rsplit("/", 1)[1]
    put(s3, key, body)
    return forged, dict_id


def test_a_blob_replaced_by_another_valid_zstd_frame_is_refused_everywhere(tmp_path, grafana, s3, populated):
    """The sha256 of the decompressed blob is the only check that can see this (zstd's passes)."""
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    steady, edited, good = populated.dashboards[5], populated.dashboards[6], populated.dashboards[7]
    # The second run's new blobs are compressed with the dictionary the store trains then (>= 64 blobs).
    grafana.update_dashboard(edited, {"description": "second run"})
    assert cli("backup").exit_code == 0
    second, first = (s["id"] for s in cli("snapshots", "--json").json())

    keys = {}
    for uid in (steady, edited):
        digest = cli("log", f"1/{uid}", "--json").json()[0]["hash"]
        keys[uid] = f"dashvault/blobs/{digest[:2]}/{digest}"
    _, steady_dict = forge_blob(s3, keys[steady])
    _, edited_dict = forge_blob(s3, keys[edited])
    assert steady_dict == 0 and edited_dict != 0  # both ways of compressing are covered

    for uid in (steady, edited):
        shown = cli("show", "latest", f"1/{uid}")
        assert shown.exit_code == 3, shown.stdout[:200]
        assert shown.stdout == ""  # the forged JSON is never shown
        [line] = shown.stderr.strip().splitlines()
        assert line.startswith("error: ") and "does not match its hash" in line
        assert keys[uid] in line and f"1/{uid}" in line and second in line

    assert cli("verify").exit_code == 0  # presence only: both blobs are there
    res = cli("verify", "--read-data")
    assert res.exit_code == 1
    for uid in (steady, edited):
        assert f"CORRUPT {keys[uid]}: does not match its hash" in res.stdout
        assert f"used by {second} grafana dashboard 1/{uid}" in res.stdout
    assert f"used by {first} grafana dashboard 1/{steady}" in res.stdout
    report = cli("verify", "--read-data", "--json").json()
    assert report["ok"] is False
    found = {p["location"]: p for p in report["problems"]}
    assert set(found) == set(keys.values())
    assert all(p["problem"] == "corrupt" for p in found.values())
    refs = {loc: sorted((r["snapshot"], r["key"]) for r in p["references"]) for loc, p in found.items()}
    assert refs[keys[steady]] == sorted([(first, f"1/{steady}"), (second, f"1/{steady}")])
    assert refs[keys[edited]] == [(second, f"1/{edited}")]

    for uid in (steady, edited, good):
        grafana.delete_dashboard(uid)
    grafana.clear_requests()
    res = cli("restore", "--key", steady, "--key", edited, "--key", good, "--json")
    assert res.exit_code == 1
    outcomes = {i["key"]: i for i in res.json()["plans"][0]["items"] if i["kind"] == "dashboard"}
    for uid in (steady, edited):
        assert outcomes[f"1/{uid}"]["outcome"] == "failed"
        assert keys[uid] in outcomes[f"1/{uid}"]["detail"]
        assert grafana.get_dashboard(uid) is None  # nothing forged reached Grafana
    assert outcomes[f"1/{good}"]["outcome"] == "created"
    assert grafana.get_dashboard(good) is not None
    assert not any("Forged title" in json.dumps(r.json) for r in grafana.write_requests())
    # A dashboard that could not be loaded takes its permissions with it; the good one's are written.
    acls = {i["key"]: i for i in res.json()["plans"][0]["items"] if i["kind"] == "permissions"}
    assert [(acls[f"1/{u}"]["outcome"], acls[f"1/{u}"]["detail"]) for u in (steady, edited)] == [
        ("skipped", "its object was not restored")
    ] * 2
    assert acls[f"1/{good}"]["outcome"] == "created"


def test_a_blob_holding_another_items_content_is_refused(tmp_path, grafana, s3, populated):
    """A blob object overwritten by another blob's body: valid zstd, valid JSON, the wrong item."""
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    [snap] = cli("snapshots", "--json").json()
    victim, donor = populated.dashboards[2], populated.dashboards[3]
    digests = {uid: cli("log", f"1/{uid}", "--json").json()[0]["hash"] for uid in (victim, donor)}
    key = f"dashvault/blobs/{digests[victim][:2]}/{digests[victim]}"
    put(s3, key, get(s3, f"dashvault/blobs/{digests[donor][:2]}/{digests[donor]}"))

    shown = cli("show", "latest", f"1/{victim}")
    assert shown.exit_code == 3 and shown.stdout == ""
    assert key in shown.stderr and "does not match its hash" in shown.stderr
    assert json.loads(cli("show", "latest", f"1/{donor}").stdout)["dashboard"] == model(grafana, donor)
    res = cli("verify", "--read-data", "--json")
    assert res.exit_code == 1
    [problem] = res.json()["problems"]
    assert (problem["problem"], problem["location"], problem["hash"]) == ("corrupt", key, digests[victim])
    assert [(r["snapshot"], r["key"]) for r in problem["references"]] == [(snap["id"], f"1/{victim}")]


def _dictionary_blob(
    cli: Cli, s3: S3Target, grafana: GrafanaSandbox, populated: Population
) -> tuple[str, str]:
    """Two backups; (uid of a dashboard whose newest blob needs the store's dictionary, its key)."""
    assert cli("backup").exit_code == 0
    edited = populated.dashboards[6]
    grafana.update_dashboard(edited, {"description": "second run"})  # compressed with the new dictionary
    assert cli("backup").exit_code == 0
    digest = cli("log", f"1/{edited}", "--json").json()[0]["hash"]
    dict_id = zstandard.get_frame_parameters(get(s3, f"dashvault/blobs/{digest[:2]}/{digest}")).dict_id
    assert dict_id, "the second run's blobs should use the trained dictionary"
    return edited, f"dashvault/dictionaries/{dict_id:08x}"


@pytest.mark.parametrize("damage", ["substituted", "missing", "unrecorded"])
def test_a_damaged_dictionary_fails_only_the_blobs_that_need_it(tmp_path, grafana, s3, populated, damage):
    """A dictionary is checked against the sha256 config.json records before any frame uses it."""
    cli = s3_cli(tmp_path, grafana, s3)
    edited, dict_key = _dictionary_blob(cli, s3, grafana, populated)
    if damage == "substituted":
        # Another dictionary under the same name: zstd would decompress with it, to the wrong bytes.
        body = bytearray(get(s3, dict_key))
        body[len(body) // 2] ^= 0xFF
        put(s3, dict_key, bytes(body))
        expected = f"dictionary {dict_key} does not match its hash"
    elif damage == "missing":
        s3.client().delete_object(Bucket=s3.bucket, Key=dict_key)
        expected = f"needs dictionary {dict_key}, which is missing"
    else:
        config = json.loads(get(s3, "dashvault/config.json"))
        config["dictionaries"] = []
        put(s3, "dashvault/config.json", json.dumps(config).encode())
        expected = f"dictionary {dict_key} is not recorded in dashvault/config.json"

    shown = cli("show", "latest", f"1/{edited}")
    assert shown.exit_code == 3 and shown.stdout == ""
    [line] = shown.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line, line
    # verify names the blob: there, and unreadable (corrupt), never missing, whatever its dictionary.
    digest = cli("log", f"1/{edited}", "--json").json()[0]["hash"]
    problems = cli("verify", "--read-data", "--json").json()["problems"]
    assert [(p["hash"], p["problem"]) for p in problems] == [(digest, "corrupt")]
    assert expected in problems[0]["error"]
    # A blob stored before the dictionary existed does not need it and stays readable.
    steady = populated.dashboards[5]
    shown = cli("show", "latest", f"1/{steady}")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["dashboard"] == model(grafana, steady)


# -- git: objects rewritten or lost behind dashvault's back ----------------------------------------


def loose_object(repo: Path, sha: str) -> Path:
    path = repo / ".git" / "objects" / sha[:2] / sha[2:]
    assert path.is_file(), f"{sha} is not a loose object"
    return path


def commit_tree(repo: Path, base: str, files: dict[str, bytes | None], parents: list[str]) -> str:
    """With git plumbing only: a commit of `base`'s tree with `files` replaced (None: removed), and
    `base`'s message, whose Dashvault-* trailers make it list as a snapshot."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo.parent / "plumbing-index")}
    env.update(GIT_AUTHOR_NAME="x", GIT_AUTHOR_EMAIL="x@x", GIT_COMMITTER_NAME="x", GIT_COMMITTER_EMAIL="x@x")

    def plumb(*args: str, data: bytes | None = None) -> str:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], input=data, env=env, capture_output=True, check=True
        )
        return proc.stdout.decode().strip()

    plumb("read-tree", base)
    for path, data in files.items():
        if data is None:
            plumb("update-index", "--force-remove", path)
        else:
            blob = plumb("hash-object", "-w", "--stdin", data=data)
            plumb("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = plumb("write-tree")
    message = git(repo, "log", "-1", "--format=%B", base).encode()
    return plumb("commit-tree", tree, *(a for p in parents for a in ("-p", p)), data=message)


def two_snapshots(
    tmp_path: Path, grafana: GrafanaSandbox, populated: Population
) -> tuple[Cli, Path, str, str]:
    cli = git_cli(tmp_path, grafana)
    assert cli("backup").exit_code == 0
    grafana.update_dashboard(populated.dashboards[0], {"description": "second run"})
    assert cli("backup").exit_code == 0
    second, first = (s["id"] for s in cli("snapshots", "--json").json())
    repo = tmp_path / "backups"
    assert git(repo, "rev-list", "main").split() == [second, first]
    return cli, repo, first, second


def test_git_verify_finds_an_item_object_rewritten_and_one_lost(tmp_path, grafana, populated):
    """Bit rot that survives zlib and a lost object: git reads both without a word (it does not
    re-hash what it reads); only dashvault's hash check and its read of every version can tell."""
    cli, repo, first, second = two_snapshots(tmp_path, grafana, populated)
    assert cli("verify").exit_code == 0
    rotten, lost = populated.dashboards[4], populated.dashboards[5]
    path = {uid: f"grafana/dashboards/1/{uid}.json" for uid in (rotten, lost)}
    # Unchanged between the runs: one git blob each, used by both snapshots.
    sha = {uid: git(repo, "rev-parse", f"{second}:{path[uid]}").strip() for uid in (rotten, lost)}
    assert all(git(repo, "rev-parse", f"{first}:{path[u]}").strip() == sha[u] for u in (rotten, lost))

    loosen(repo)
    text = git(repo, "cat-file", "blob", sha[rotten])
    changed = text.replace(json.dumps(model(grafana, rotten)["title"]), '"Rotten title"', 1)
    assert changed != text and json.loads(changed)["dashboard"]["title"] == "Rotten title"
    target = loose_object(repo, sha[rotten])
    target.chmod(0o644)
    target.write_bytes(zlib.compress(b"blob %d\0" % len(changed.encode()) + changed.encode()))
    assert git(repo, "cat-file", "blob", sha[rotten]) == changed  # git serves the rotten content as is
    os.unlink(loose_object(repo, sha[lost]))

    shown = cli("show", "latest", f"1/{rotten}")
    assert shown.exit_code == 3 and shown.stdout == ""
    assert path[rotten] in shown.stderr and "does not match its recorded hash" in shown.stderr
    res = cli("verify")
    assert res.exit_code == 1
    assert f"CORRUPT grafana dashboard 1/{rotten}" in res.stdout
    assert f"MISSING grafana dashboard 1/{lost}" in res.stdout
    for snap in (first, second):
        for uid in (rotten, lost):
            assert f"used by {snap} grafana dashboard 1/{uid}" in res.stdout
    assert "verify found 2 problems" in res.stderr
    report = cli("verify", "--json").json()
    assert report["ok"] is False and report["read_data"] is True and report["manifests"] == []
    found = {p["location"]: p for p in report["problems"]}
    assert set(found) == {f"grafana dashboard 1/{rotten}", f"grafana dashboard 1/{lost}"}
    assert found[f"grafana dashboard 1/{rotten}"]["problem"] == "corrupt"
    assert found[f"grafana dashboard 1/{lost}"]["problem"] == "missing"
    for uid in (rotten, lost):
        problem = found[f"grafana dashboard 1/{uid}"]
        assert sorted(r["snapshot"] for r in problem["references"]) == sorted([first, second])
        assert {r["key"] for r in problem["references"]} == {f"1/{uid}"}
        # The content named by the hash the manifests record, with the reason in the store's words.
        assert problem["hash"] == cli("log", f"1/{uid}", "--json").json()[0]["hash"]
        assert isinstance(problem["error"], str) and problem["error"]
        assert problem["location"] not in problem["error"]
    assert "does not match its recorded hash" in found[f"grafana dashboard 1/{rotten}"]["error"]


def test_git_verify_finds_a_file_committed_around_dashvault_and_a_file_missing(tmp_path, grafana, populated):
    """A snapshot commit made with git plumbing (the trailers copied, so it lists as a snapshot) whose
    tree holds an edited item file and lacks another: its manifest's hashes disagree with its files."""
    cli, repo, first, second = two_snapshots(tmp_path, grafana, populated)
    edited, dropped = populated.dashboards[6], populated.dashboards[7]
    path = {uid: f"grafana/dashboards/1/{uid}.json" for uid in (edited, dropped)}
    text = git(repo, "cat-file", "blob", f"{second}:{path[edited]}")
    changed = text.replace(json.dumps(model(grafana, edited)["title"]), '"Edited by hand"', 1)
    assert changed != text

    forged = commit_tree(repo, second, {path[edited]: changed.encode(), path[dropped]: None}, [second])
    git(repo, "update-ref", "refs/heads/main", forged, second)
    snaps = [s["id"] for s in cli("snapshots", "--json").json()]
    assert snaps == [forged, second, first]

    res = cli("verify", "--json")
    assert res.exit_code == 1
    report = res.json()
    found = {p["location"]: p for p in report["problems"]}
    assert set(found) == {f"grafana dashboard 1/{edited}", f"grafana dashboard 1/{dropped}"}
    assert found[f"grafana dashboard 1/{edited}"]["problem"] == "corrupt"
    assert "does not match its recorded hash" in found[f"grafana dashboard 1/{edited}"]["error"]
    assert found[f"grafana dashboard 1/{dropped}"]["problem"] == "missing"
    for uid in (edited, dropped):
        # The same version is whole in the older snapshots, and is named in the forged one only.
        refs = found[f"grafana dashboard 1/{uid}"]["references"]
        assert [(r["snapshot"], r["key"]) for r in refs] == [(forged, f"1/{uid}")]
    text_report = cli("verify")
    assert text_report.exit_code == 1
    assert f"CORRUPT grafana dashboard 1/{edited}" in text_report.stdout
    assert f"MISSING grafana dashboard 1/{dropped}" in text_report.stdout


def test_git_verify_reads_each_snapshots_own_copy_of_an_unchanged_item(tmp_path, grafana, populated):
    """An older snapshot's tree object lost: every dashboard of that snapshot is unreadable there,
    although the newer snapshot holds the same versions (same manifest hashes) intact. Verify must
    read what each snapshot stores, not one copy per manifest hash, and name exactly what is lost."""
    cli, repo, first, second = two_snapshots(tmp_path, grafana, populated)
    loosen(repo)
    old_tree = git(repo, "rev-parse", f"{first}:grafana/dashboards/1").strip()
    assert old_tree != git(repo, "rev-parse", f"{second}:grafana/dashboards/1").strip()  # one edit apart
    os.unlink(loose_object(repo, old_tree))

    unchanged = populated.dashboards[9]
    assert cli("show", second, f"1/{unchanged}").exit_code == 0
    lost = cli("show", first, f"1/{unchanged}")
    # (exit 2, as for a key that is not in the snapshot: git's "not found" is all the store sees)
    assert lost.exit_code != 0 and lost.stdout == ""
    assert f"{first}:grafana/dashboards/1/{unchanged}.json not found" in lost.stderr

    res = cli("verify", "--json")
    assert res.exit_code == 1
    problems = res.json()["problems"]
    expected = {f"grafana dashboard 1/{uid}" for uid in populated.dashboards}
    assert {p["location"] for p in problems} == expected
    assert all(p["problem"] == "missing" for p in problems)
    for p in problems:  # the newer snapshot, whole, is not named
        assert [r["snapshot"] for r in p["references"]] == [first]


def test_git_verify_finds_an_older_snapshot_rewritten_under_an_intact_newer_one(tmp_path, grafana, populated):
    """History rewritten with plumbing: the older snapshot's copy of an item edited, the newer one's
    tree as it was. The manifests still agree on the item's hash, so one read per manifest hash (the
    newer, intact copy) would call the store healthy while `show` of the older snapshot fails."""
    cli, repo, first, second = two_snapshots(tmp_path, grafana, populated)
    uid = populated.dashboards[8]
    path = f"grafana/dashboards/1/{uid}.json"
    text = git(repo, "cat-file", "blob", f"{first}:{path}")
    changed = text.replace(json.dumps(model(grafana, uid)["title"]), '"Rewritten"', 1)
    assert changed != text
    old = commit_tree(repo, first, {path: changed.encode()}, [])
    new = commit_tree(repo, second, {}, [old])
    git(repo, "update-ref", "refs/heads/main", new, second)
    assert [s["id"] for s in cli("snapshots", "--json").json()] == [new, old]
    assert cli("show", new, f"1/{uid}").exit_code == 0
    assert cli("show", old, f"1/{uid}").exit_code == 3

    res = cli("verify", "--json")
    assert res.exit_code == 1
    [problem] = res.json()["problems"]
    assert (problem["problem"], problem["location"]) == ("corrupt", f"grafana dashboard 1/{uid}")
    assert [(r["snapshot"], r["key"]) for r in problem["references"]] == [(old, f"1/{uid}")]


# -- git: a backup killed mid-run ------------------------------------------------------------------


def live_children(pid: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of the processes whose parent is `pid` and that have not exited, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append((int(entry.name), [a for a in argv if a]))
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def dashboard_gets(grafana: GrafanaSandbox) -> int:
    return sum(
        1
        for r in grafana.logged_requests()
        if r.method == "GET" and r.path.startswith("/api/dashboards/uid/")
    )


def test_a_git_backup_killed_mid_run_leaves_the_last_snapshot_whole(tmp_path, grafana, populated):
    cli = git_cli(tmp_path, grafana, concurrency=1)
    repo = tmp_path / "backups"
    assert cli("backup").exit_code == 0
    before = cli("snapshots", "--json").json()
    [first] = [s["id"] for s in before]
    models = {uid: model(grafana, uid) for uid in populated.dashboards}
    for n, uid in enumerate(populated.dashboards):
        grafana.update_dashboard(uid, {"description": f"killed run {n}"})
    refs = git(repo, "for-each-ref")

    grafana.latency = 0.05  # the run now takes seconds: long enough to be caught mid-run
    grafana.clear_requests()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashvault", "--config", str(cli.config), "backup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    importer = None
    try:
        # Mid-run, provably: git fast-import is receiving this run's files, and dashboards are still
        # being read.
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline, "the run never got going"
            fast_imports = [p for p, argv in live_children(proc.pid) if argv[1:2] == ["fast-import"]]
            if fast_imports and dashboard_gets(grafana) >= 5:
                importer = fast_imports[0]
                break
            time.sleep(0.02)  # polling interval, not synchronisation
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    read = dashboard_gets(grafana)
    grafana.latency = 0.0
    assert 5 <= read < len(populated.dashboards)
    deadline = time.monotonic() + 30  # the orphaned fast-import sees its input end and exits
    while alive(importer):
        assert time.monotonic() < deadline, "git fast-import outlived the killed run"
        time.sleep(0.02)

    # The last snapshot is the only one, whole and readable; nothing half-written shows anywhere.
    assert git(repo, "for-each-ref") == refs
    assert git(repo, "rev-parse", "HEAD").strip() == first
    assert cli("snapshots", "--json").json() == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""
    assert not (repo / ".git" / "index.lock").exists()
    for uid in populated.dashboards[:8]:
        shown = cli("show", "latest", f"1/{uid}")
        assert shown.exit_code == 0 and json.loads(shown.stdout)["dashboard"] == models[uid]
    report = cli("verify", "--json")
    assert report.exit_code == 0 and report.json()["ok"] is True and report.json()["snapshots"] == 1

    # The next run is not held back by the dead one, records everything, and removes the dead
    # fast-import's temporary pack.
    res = cli("backup")
    assert res.exit_code == 0, res.stderr
    assert list((repo / ".git" / "objects" / "pack").glob("tmp_*")) == []
    second = cli("snapshots", "--json").json()
    assert [s["id"] for s in second[1:]] == [first] and len(second) == 2
    assert git(repo, "rev-parse", "HEAD^").strip() == first
    files = git(repo, "ls-tree", "--name-only", "HEAD", "grafana/dashboards/1/").split()
    assert sorted(files) == sorted(f"grafana/dashboards/1/{uid}.json" for uid in populated.dashboards)
    for n, uid in enumerate(populated.dashboards):
        stored = json.loads(git(repo, "show", f"HEAD:grafana/dashboards/1/{uid}.json"))
        assert stored["dashboard"] == model(grafana, uid)
        assert stored["dashboard"]["description"] == f"killed run {n}"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    report = cli("verify", "--json")
    assert report.exit_code == 0 and report.json()["ok"] is True and report.json()["snapshots"] == 2


# -- a run that changed nothing writes nothing: exactly ---------------------------------------------


def git_objects(repo: Path) -> tuple[dict[str, str], dict[str, int], str]:
    """`git count-objects -v`, every file under .git/objects with its size, and every ref."""
    counts = dict(line.split(": ", 1) for line in git(repo, "count-objects", "-v").splitlines())
    objects = repo / ".git" / "objects"
    files = {str(p.relative_to(objects)): p.stat().st_size for p in objects.rglob("*") if p.is_file()}
    return counts, files, git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def test_a_no_change_run_adds_nothing_to_the_git_store(tmp_path, grafana, populated):
    cli = git_cli(tmp_path, grafana)
    repo = tmp_path / "backups"
    assert cli("backup").exit_code == 0
    grafana.update_dashboard(populated.dashboards[0], {"description": "second run"})
    assert cli("backup").exit_code == 0
    snaps = cli("snapshots", "--json").json()
    before = git_objects(repo)
    assert int(before[0]["count"]) + int(before[0]["in-pack"]) > 0 and before[1]

    grafana.update_dashboard(populated.dashboards[1], {})  # a save that changes nothing but the version
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["snapshot"] is None
    after = git_objects(repo)
    assert after[0] == before[0]  # no object, loose or packed, and no garbage
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert cli("snapshots", "--json").json() == snaps
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_no_change_run_adds_nothing_to_the_bucket(tmp_path, grafana, s3, populated):
    cli = s3_cli(tmp_path, grafana, s3)
    assert cli("backup").exit_code == 0
    snaps = cli("snapshots", "--json").json()
    before = bucket_listing(s3)
    # Enough blobs for a dictionary, none trained yet: a run that decided compression early would.
    assert sum(k.startswith("dashvault/blobs/") for k in before) >= 64
    assert not any(k.startswith("dashvault/dictionaries/") for k in before)

    grafana.update_dashboard(populated.dashboards[1], {})  # a save that changes nothing but the version
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["snapshot"] is None
    assert bucket_listing(s3) == before  # every key, size and ETag, config.json and the lock included
    assert cli("snapshots", "--json").json() == snaps


def test_the_pack_of_a_killed_fast_import_is_removed_by_the_next_backup(tmp_path, grafana, populated):
    cli = git_cli(tmp_path, grafana)
    repo = tmp_path / "backups"
    assert cli("backup").exit_code == 0
    # A fast-import killed while it writes a pack, as a killed run's is.
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    blob = os.urandom(4096).hex().encode()
    for _ in range(20):
        proc.stdin.write(b"blob\ndata %d\n%s\n" % (len(blob), blob))
    proc.stdin.flush()
    pack_dir = repo / ".git" / "objects" / "pack"
    deadline = time.monotonic() + 30
    while not list(pack_dir.glob("tmp_pack_*")):
        assert time.monotonic() < deadline, "fast-import never started its pack"
        time.sleep(0.02)  # polling interval, not synchronisation
    proc.kill()
    proc.wait()
    left = list(pack_dir.glob("tmp_*"))
    assert left, "the killed fast-import left no pack behind"

    grafana.update_dashboard(populated.dashboards[0], {"description": "changed"})
    assert cli("backup").exit_code == 0
    assert list(pack_dir.glob("tmp_*")) == []
    report = cli("verify", "--json")
    assert report.exit_code == 0 and report.json()["ok"] is True
