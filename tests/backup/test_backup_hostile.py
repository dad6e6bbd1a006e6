"""A backup through a hostile proxy: what is not Grafana's own answer is never a deletion.

Each case breaks one answer of a second backup and checks the snapshot it makes: the item fails (exit
1, named), keeps its last entry, and nothing is recorded as deleted or added.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore
from tests.backup.support import diff_keys, latest_entries
from tests.conftest import TOKEN, Cli, grafana_source, write_config
from tests.faultproxy import FaultProxy


def backed_up(tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy, api: str) -> tuple[Cli, Any]:
    population = populate(grafana, dashboards=12, depth=1, seed=5)
    config = write_config(tmp_path / "dashvault.toml", [grafana_source(hostile.url, api=api, retries=1)])
    cli = Cli(config)
    assert cli("backup").exit_code == 0
    return cli, population


def second_backup(cli: Cli, tmp_path: Path) -> tuple[dict[str, Any], dict[str, list[tuple[str, str]]]]:
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout + res.stderr
    out = res.json()
    assert isinstance(out, dict)
    snaps = store.snapshots()
    after = latest_entries(store)
    # Nothing was lost or invented: the same items, each failed one with its last state.
    assert set(after) == set(before)
    assert all(after[k].hash == before[k].hash for k in before)
    changes = diff_keys(cli, snaps[1].id, snaps[0].id) if len(snaps) > 1 else {}
    return out, changes


def failures(out: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["kind"], f["key"]): f["error"] for f in out["sources"]["grafana"]["failures"]}


@pytest.mark.parametrize(
    ("fault", "options", "says"),
    [
        ("html", {"status": 404}, "without Grafana's not-found body"),
        ("json", {"status": 404, "body": {}}, "without Grafana's not-found body"),
        ("json", {"status": 200, "body": {}}, "not Grafana's (dashboard: field required)"),
        ("body_of", {}, "another object's body"),
        ("truncate", {"consistent": True}, "not JSON"),
        ("html", {"status": 200}, "not JSON"),
    ],
    ids=[
        "HTML 404",
        "JSON 404 without a message",
        "200 {}",
        "another dashboard's body",
        "cut, consistent length",
        "HTML 200",
    ],
)
def test_a_dashboard_read_that_is_not_grafanas_answer_fails_and_deletes_nothing(
    tmp_path: Path,
    grafana: GrafanaSandbox,
    hostile: FaultProxy,
    fault: str,
    options: dict[str, Any],
    says: str,
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, "legacy")
    uid, other = population.dashboards[0], population.dashboards[1]
    if fault == "body_of":
        options = {"other_path": f"/api/dashboards/uid/{other}"}
    hostile.add(fault, f"^/api/dashboards/uid/{uid}$", times=None, **options)
    out, changes = second_backup(cli, tmp_path)
    failed = failures(out)
    assert says in failed[("dashboard", f"1/{uid}")]
    assert ("permissions", f"1/{uid}") in failed  # what rides on it is unknown too, and kept
    assert changes.get("deleted", []) == [] and changes.get("added", []) == []
    assert hostile.faulted(fault)


@pytest.mark.parametrize(
    ("fault", "options", "says"),
    [
        ("html", {"status": 404}, "without Grafana's not-found body"),
        ("json", {"status": 200, "body": {}}, "did not answer a JSON list"),
        ("body_of", {}, "another object's body"),
        # Grafana's own 404, for an ACL of a dashboard read a moment ago: says nothing about the ACL.
        (
            "json",
            {"status": 404, "body": {"message": "Dashboard not found"}},
            "grafana: permissions of dashboard {uid} answered 404 although the dashboard was just read",
        ),
    ],
    ids=["HTML 404", "200 {}", "another object's ACL", "Grafana's 404"],
)
def test_a_permissions_read_that_is_not_grafanas_answer_fails_and_deletes_nothing(
    tmp_path: Path,
    grafana: GrafanaSandbox,
    hostile: FaultProxy,
    fault: str,
    options: dict[str, Any],
    says: str,
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, "legacy")
    owned = [u for u in population.dashboards if u in population.with_permissions]
    uid, other = owned[0], owned[1] if len(owned) > 1 else population.dashboards[-1]
    if fault == "body_of":
        options = {"other_path": f"/api/dashboards/uid/{other}/permissions"}
    hostile.add(fault, f"^/api/dashboards/uid/{uid}/permissions$", times=None, **options)
    out, changes = second_backup(cli, tmp_path)
    failed = failures(out)
    assert set(failed) == {("permissions", f"1/{uid}")}
    assert says.format(uid=uid) in failed[("permissions", f"1/{uid}")]
    assert changes.get("deleted", []) == []


def test_a_folder_read_answered_by_a_proxy_page_fails_and_deletes_nothing(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, "legacy")
    uid = population.folders[0]
    hostile.add("html", f"^/api/folders/{uid}$", times=None, status=404)
    out, changes = second_backup(cli, tmp_path)
    assert "without Grafana's not-found body" in failures(out)[("folder", f"1/{uid}")]
    assert changes.get("deleted", []) == []


def test_apis_a_recheck_answered_by_a_proxy_page_is_not_a_deletion(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, "apis")
    uid = population.dashboards[0]

    def without(page: dict[str, Any]) -> dict[str, Any]:
        page["items"] = [i for i in page.get("items", []) if i["metadata"]["name"] != uid]
        return page

    # The listing leaves a live dashboard out, and the re-check of it by name meets a proxy's 404.
    hostile.add("rewrite", r"/dashboards\?", times=None, rewrite=without)
    hostile.add("html", f"/dashboards/{uid}$", times=None, status=404)
    out, changes = second_backup(cli, tmp_path)
    assert "without Grafana's not-found body" in failures(out)[("dashboard", f"1/{uid}")]
    assert changes.get("deleted", []) == []
    assert hostile.faulted("html")
    # A re-check that failed says nothing about the listing: the dashboard is not known to be alive,
    # so the listing is not asked again and the source is partial (one failed item), not unreliable.
    status = out["sources"]["grafana"]
    assert (status["complete"], status["error"], status["failed"]) == (
        True,
        "grafana: 1 items could not be read",
        1,
    )
    assert len(hostile.faulted("rewrite")) == 1


def test_grafanas_own_not_found_after_the_listing_lost_it_is_a_deletion(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, "legacy")
    uid = population.dashboards[0]
    grafana.delete_dashboard(uid)
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stdout
    store = GitStore(tmp_path / "backups")
    snaps = store.snapshots()
    assert ("dashboard", f"1/{uid}") in diff_keys(cli, snaps[1].id, snaps[0].id)["deleted"]


# -- a listing is trusted only when it is consistent ----------------------------------------------

SEARCH = r"^/api/search\?type=dash-db&limit=\d+&page=1$"
APIS_FIRST_PAGE = r"^/apis/dashboard\.grafana\.app/[^/]+/namespaces/default/dashboards\?limit=\d+$"


def short(page: Any, new: str) -> Any:
    """A page cut short: without the dashboard created since the last backup and 2 others."""
    if isinstance(page, list):
        return [h for h in page if h["uid"] != new][:-2]
    page["items"] = [i for i in page["items"] if i["metadata"]["name"] != new][:-2]
    page["metadata"].pop("continue", None)
    return page


def empty(page: Any, new: str) -> Any:
    if isinstance(page, list):
        return []
    page["items"] = []
    page["metadata"].pop("continue", None)
    return page


@pytest.mark.parametrize("api", ["legacy", "apis"])
@pytest.mark.parametrize("cut", [short, empty], ids=["short first page", "empty listing"])
def test_a_listing_cut_once_is_listed_again_and_misses_nothing_new(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy, api: str, cut: Any
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, api)
    new = grafana.add_dashboard({"title": "Created since the last backup"})
    rewrite = functools.partial(cut, new=new)
    hostile.add("rewrite", SEARCH if api == "legacy" else APIS_FIRST_PAGE, times=1, rewrite=rewrite)
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stdout
    assert len(hostile.faulted("rewrite")) == 1
    store = GitStore(tmp_path / "backups")
    snaps = store.snapshots()
    changes = diff_keys(cli, snaps[1].id, snaps[0].id)
    assert changes["deleted"] == []
    assert ("dashboard", f"1/{new}") in changes["added"]
    assert {k for (kind, k) in latest_entries(store) if kind == "dashboard"} == {
        f"1/{u}" for u in [*population.dashboards, new]
    }


@pytest.mark.parametrize("api", ["legacy", "apis"])
@pytest.mark.parametrize("cut", [short, empty], ids=["short first page", "empty listing"])
def test_a_listing_cut_every_time_marks_the_source_incomplete(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy, api: str, cut: Any
) -> None:
    cli, _ = backed_up(tmp_path, grafana, hostile, api)
    new = grafana.add_dashboard({"title": "Created since the last backup"})
    rewrite = functools.partial(cut, new=new)
    hostile.add("rewrite", SEARCH if api == "legacy" else APIS_FIRST_PAGE, times=None, rewrite=rewrite)
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)
    res = cli("backup", "--json")
    assert res.exit_code == 1, res.stdout
    out = res.json()
    assert isinstance(out, dict)
    status = out["sources"]["grafana"]
    assert status["complete"] is False and status["deleted"] == 0
    assert "listing of org 1 is unreliable" in status["error"]
    assert len(hostile.faulted("rewrite")) == 2  # listed twice, then given up
    after = latest_entries(store)
    assert set(before) <= set(after)  # nothing of the last snapshot lost


def test_a_folder_missing_from_its_listing_is_read_by_uid_and_kept(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    cli, population = backed_up(tmp_path, grafana, hostile, "legacy")
    uid = population.folders[0]
    store = GitStore(tmp_path / "backups")
    before = latest_entries(store)

    def without(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [h for h in hits if h["uid"] != uid]

    hostile.add("rewrite", r"^/api/search\?type=dash-folder&", times=None, rewrite=without)
    res = cli("backup", "--json")
    # Alive though missing twice: kept, and the folder listing is not trusted with deletions.
    assert res.exit_code == 1, res.stdout
    status = res.json()["sources"]["grafana"]  # type: ignore[index]
    assert "the folder listing of org 1 is unreliable" in status["error"]
    assert len(hostile.faulted("rewrite")) == 2
    assert any(h.path == f"/api/folders/{uid}" for h in hostile.hits)
    assert latest_entries(store) == before


def test_an_object_named_twice_by_the_second_listing_is_read_once(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    """Overlapping pages repeat a hit: the listing asked again reads what it adds once, not per mention."""
    cli, _ = backed_up(tmp_path, grafana, hostile, "legacy")
    new = grafana.add_dashboard({"title": "Created since the last backup"})
    calls: list[int] = []

    def cut_then_repeated(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(len(hits))
        if len(calls) == 1:
            return short(hits, new)
        return hits + [h for h in hits if h["uid"] == new]

    hostile.add("rewrite", SEARCH, times=None, rewrite=cut_then_repeated)
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stdout
    assert len(calls) == 2
    reads = [h for h in hostile.hits if h.method == "GET" and h.path == f"/api/dashboards/uid/{new}"]
    assert len(reads) == 1
    assert ("dashboard", f"1/{new}") in latest_entries(GitStore(tmp_path / "backups"))


def test_a_missed_dashboard_whose_acl_read_fails_is_still_alive_and_the_listing_asked_again(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    """What proves a missed object alive is the object itself, not what rides on it: read by uid, the
    dashboard is there though its permissions fail, so the listing is not trusted."""
    cli, population = backed_up(tmp_path, grafana, hostile, "legacy")
    uid = population.dashboards[0]
    grafana.hidden_from_listing = {uid}
    hostile.add("json", f"^/api/dashboards/uid/{uid}/permissions$", times=None, status=500, body={})
    out, changes = second_backup(cli, tmp_path)
    status = out["sources"]["grafana"]
    assert status["complete"] is False and "listing of org 1 is unreliable" in status["error"]
    assert set(failures(out)) == {("permissions", f"1/{uid}")}
    assert changes.get("deleted", []) == []
    assert hostile.faulted("json")


def test_pages_shifting_under_a_paged_listing_are_listed_again(
    tmp_path: Path, grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    """Offset paging while dashboards before the cursor are deleted: the rest move up, and the first
    hits of the next page are never seen (a paging race). Here they hold a dashboard created since the
    last backup, which no re-check could find, and a known one, whose re-check shows the race."""
    population = populate(grafana, dashboards=12, depth=1, seed=5)
    source = grafana_source(hostile.url, api="legacy", retries=1, page_size=5)
    cli = Cli(write_config(tmp_path / "dashvault.toml", [source]))
    assert cli("backup").exit_code == 0
    new = grafana.add_dashboard({"title": "Created since the last backup"})
    with httpx.Client(base_url=grafana.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        order = [
            h["uid"] for h in client.get("/api/search", params={"type": "dash-db", "limit": 5000}).json()
        ]
    index = order.index(new)
    page, skip = index // 5 + 1, max(index % 5 + 1, 2)  # up to and including the new one, and a known one
    skipped: list[str] = []

    def shifted(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        skipped.extend(h["uid"] for h in hits[:skip])
        return hits[skip:]

    hostile.add("rewrite", rf"^/api/search\?type=dash-db&limit=5&page={page}$", times=1, rewrite=shifted)
    res = cli("backup", "--json")
    assert res.exit_code == 0, res.stdout
    assert new in skipped and set(skipped) - {new}
    store = GitStore(tmp_path / "backups")
    snaps = store.snapshots()
    changes = diff_keys(cli, snaps[1].id, snaps[0].id)
    assert changes["deleted"] == [] and ("dashboard", f"1/{new}") in changes["added"]
    assert {k for (kind, k) in latest_entries(store) if kind == "dashboard"} == {
        f"1/{u}" for u in [*population.dashboards, new]
    }
