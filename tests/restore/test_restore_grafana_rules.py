"""Restore rules that a broken restore would quietly violate, checked against the Grafana sandbox.

- the permissions of an object that failed to restore are not applied;
- a parent folder restored for a selected dashboard is created if missing, never changed;
- restoring the same snapshot twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from restore.grafana import GrafanaTarget
from sandbox.generate import populate
from sandbox.grafana import DASHBOARD_API, GrafanaSandbox, namespace_of
from tests.conftest import TOKEN, Cli, grafana_source, write_config
from tests.storage.integrity_support import damage_loose, git

APIS = ["legacy", "apis"]


def setup(tmp_path: Path, grafana: GrafanaSandbox, api: str) -> Cli:
    return Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))


@pytest.fixture
def http(grafana: GrafanaSandbox) -> Iterator[httpx.Client]:
    """A plain client of the sandbox, for what its Python API does not offer (folder edits, raw reads)."""
    with httpx.Client(base_url=grafana.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def plan_items(res: Any) -> dict[tuple[str, str], dict[str, Any]]:
    [plan] = res.json()["plans"]
    return {(i["kind"], i["key"]): i for i in plan["items"]}


def own_acl(grafana: GrafanaSandbox, kind: Any, uid: str) -> list[tuple[Any, ...]]:
    return sorted(
        (e.get("userLogin", ""), e.get("team", ""), e.get("role", ""), e["permission"])
        for e in grafana.permissions(kind, uid)
        if not e["inherited"]
    )


# -- 1. a failed object takes its permissions with it -----------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_permissions_of_a_dashboard_whose_restore_failed_are_not_applied(
    tmp_path: Path, grafana: GrafanaSandbox, api: str
) -> None:
    grafana.add_folder("ops", "Operations")
    alice = grafana.add_user("alice")
    sre = grafana.add_team("SRE", uid="sre-team")
    for uid, title in (("refused", "Refused board"), ("fine", "Fine board")):
        grafana.add_dashboard({"uid": uid, "title": title, "panels": []}, folder_uid="ops")
        grafana.set_permissions(
            "dashboard", uid, [{"userId": alice, "permission": 2}, {"teamId": sre, "permission": 1}]
        )
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard("refused")
    grafana.delete_dashboard("fine")
    # Grafana refuses to save this one dashboard (say, the token lost its edit rights on it).
    grafana.refuse_dashboard_writes.add("refused")
    grafana.clear_requests()

    res = cli("--log-format", "json", "restore", "--json")

    assert res.exit_code == 1, res.stdout + res.stderr
    items = plan_items(res)
    assert items[("dashboard", "1/refused")]["outcome"] == "failed"
    assert "403" in items[("dashboard", "1/refused")]["detail"]
    # The failure is logged once, for alerting, with the item and the target's own reason.
    failed = res.log_records("restore.failed")
    assert [(r["message"], r["level"], r["source"], r["fields"]) for r in failed] == [
        (
            "restore failed",
            "warning",
            "grafana",
            {"key": "1/refused", "error": items[("dashboard", "1/refused")]["detail"]},
        )
    ]
    permissions = items[("permissions", "1/refused")]
    assert (permissions["outcome"], permissions["detail"]) == ("skipped", "its object was not restored")
    # The other dashboard, with the same kind of ACL, is restored with it: ACLs are restored at all.
    assert items[("dashboard", "1/fine")]["outcome"] == "created"
    assert items[("permissions", "1/fine")]["outcome"] == "created"
    assert own_acl(grafana, "dashboard", "fine") == [("", "SRE", "", 1), ("alice", "", "", 2)]
    # The refusal happened (one refused write, for that uid) and no ACL was sent for its dashboard.
    writes = grafana.write_requests()
    refused = [r for r in writes if r.status == 403]
    assert len(refused) == 1
    body = refused[0].json
    assert (body.get("dashboard") or {}).get("uid") == "refused" or body["metadata"]["name"] == "refused"
    assert [r.path for r in writes if r.path.endswith("/permissions")] == [
        "/api/dashboards/uid/fine/permissions"
    ]
    assert grafana.get_dashboard("refused") is None


def test_permissions_are_not_applied_to_a_dashboard_someone_else_created_meanwhile(
    tmp_path: Path, grafana: GrafanaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = grafana.add_user("alice"), grafana.add_user("bob")
    grafana.add_dashboard({"uid": "b1", "title": "Board"})
    grafana.set_permissions("dashboard", "b1", [{"userId": alice, "permission": 4}])
    cli = setup(tmp_path, grafana, "legacy")
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard("b1")
    original = GrafanaTarget.prefetch

    def listed_then_created(self: GrafanaTarget, keys: list[tuple[str, str]]) -> None:
        original(self, keys)  # the listing says b1 is missing, and then someone creates it
        grafana.add_dashboard({"uid": "b1", "title": "Board", "panels": [{"id": 1}]})
        grafana.set_permissions("dashboard", "b1", [{"userId": bob, "permission": 1}])

    monkeypatch.setattr(GrafanaTarget, "prefetch", listed_then_created)
    res = cli("restore", "--json")

    assert res.exit_code == 0, res.stdout + res.stderr
    items = plan_items(res)
    # Creating it was refused, the re-plan found the other dashboard: kept, a conflict ...
    assert items[("dashboard", "1/b1")]["outcome"] == "conflict"
    assert grafana.get_dashboard("b1")["panels"] == [{"id": 1}]
    # ... and its ACL is that person's, not the snapshot's.
    permissions = items[("permissions", "1/b1")]
    assert (permissions["outcome"], permissions["detail"]) == ("skipped", "its object was not restored")
    assert own_acl(grafana, "dashboard", "b1") == [("bob", "", "", 1)]
    assert [r.path for r in grafana.write_requests() if r.path.endswith("/permissions")] == []


# -- 2. parent folders: created if missing, never changed -------------------------------------------


def _rename(http: httpx.Client, uid: str, title: str) -> None:
    version = http.get(f"/api/folders/{uid}").json()["version"]
    res = http.put(f"/api/folders/{uid}", json={"title": title, "version": version})
    assert res.status_code == 200, res.text


def _move_to_root(http: httpx.Client, uid: str) -> None:
    res = http.post(f"/api/folders/{uid}/move", json={"parentUid": None})
    assert res.status_code == 200, res.text


@pytest.mark.parametrize("change", ["renamed", "moved"])
@pytest.mark.parametrize("how", ["roll-back", "overwrite"])
def test_a_parent_folder_that_differs_is_not_changed(
    tmp_path: Path, grafana: GrafanaSandbox, http: httpx.Client, change: str, how: str
) -> None:
    grafana.add_folder("top", "Top")
    grafana.add_folder("team", "Alpha", parent_uid="top")
    model = {"uid": "board", "title": "Board", "panels": [{"id": 1, "type": "text", "title": "notes"}]}
    grafana.add_dashboard(model, folder_uid="team")
    cli = setup(tmp_path, grafana, "legacy")
    assert cli("backup").exit_code == 0
    snapshot = cli("snapshots", "--json").json()[0]["id"]

    if change == "renamed":
        _rename(http, "team", "Beta")
    else:
        _move_to_root(http, "team")
    args = ["--on-conflict", "overwrite"]
    if how == "roll-back":
        # A backup records the change: the live folder is what the newest snapshot holds, so as a
        # selected item it would be rolled back; as a parent it must be left alone all the same.
        assert cli("backup").exit_code == 0
        args = []
    folder_before = http.get("/api/folders/team").json()
    grafana.delete_dashboard("board")
    grafana.clear_requests()

    res = cli("restore", "--snapshot", snapshot, "--key", "1/board", *args, "--json")

    assert res.exit_code == 0, res.stdout + res.stderr
    assert http.get("/api/folders/team").json() == folder_before
    assert folder_before["title"] == ("Beta" if change == "renamed" else "Alpha")
    assert folder_before.get("parentUid") == (None if change == "moved" else "top")
    items = plan_items(res)
    assert items[("folder", "1/team")]["dependency"] is True
    assert items[("folder", "1/team")]["outcome"] == "skipped"
    assert items[("dashboard", "1/board")]["outcome"] == "created"
    assert grafana.dashboard_folder("board") == "team"
    assert grafana.get_dashboard("board")["panels"] == [{"id": 1, "type": "text", "title": "notes"}]
    # Nothing but the dashboard (and no folder) was written.
    assert [(r.method, r.path) for r in grafana.write_requests() if "/folders" in r.path] == []


# -- 4. a second restore of the same snapshot is a no-op --------------------------------------------


def live_state(grafana: GrafanaSandbox, http: httpx.Client) -> dict[str, Any]:
    """Everything the sandbox shows of the org: folders, dashboards (both APIs), every ACL."""
    state: dict[str, Any] = {}
    for uid in grafana.folders():
        state[f"folder {uid}"] = http.get(f"/api/folders/{quote(uid, safe='')}").json()
        state[f"folder acl {uid}"] = grafana.permissions("folder", uid)
    for uid in grafana.dashboards():
        state[f"dashboard {uid}"] = http.get(f"/api/dashboards/uid/{quote(uid, safe='')}").json()
        resource = f"/apis/{DASHBOARD_API}/namespaces/{namespace_of(1)}/dashboards/{quote(uid, safe='')}"
        state[f"resource {uid}"] = http.get(resource).json()
        state[f"dashboard acl {uid}"] = grafana.permissions("dashboard", uid)
    return state


@pytest.mark.parametrize("api", APIS)
def test_restoring_a_snapshot_twice_changes_nothing_the_second_time(
    tmp_path: Path, grafana: GrafanaSandbox, http: httpx.Client, api: str
) -> None:
    population = populate(grafana, dashboards=40, depth=2, seed=21)
    assert len(population.with_permissions) >= 5
    cli = setup(tmp_path, grafana, api)
    assert cli("backup").exit_code == 0
    grafana.wipe()

    first = cli("restore", "--json")
    assert first.exit_code == 0, first.stdout[-2000:] + first.stderr
    [plan] = first.json()["plans"]
    total = len(plan["items"])
    assert plan["counts"] == {"created": total}
    assert sorted(grafana.dashboards()) == sorted(population.dashboards)
    after_first = live_state(grafana, http)
    grafana.clear_requests()

    second = cli("restore", "--json")

    assert second.exit_code == 0, second.stdout[-2000:] + second.stderr
    [plan] = second.json()["plans"]
    assert plan["counts"] == {"skipped": total}
    assert {(i["action"], i["reason"]) for i in plan["items"]} == {("skip", "identical")}
    assert grafana.write_requests() == []
    assert live_state(grafana, http) == after_first


def test_a_permissions_entry_that_cannot_be_loaded_fails_alone(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    """What rides on a restored dashboard stays independent: an unreadable ACL does not stop its public
    dashboard, which needs only the dashboard."""
    alice = grafana.add_user("alice")
    uid = grafana.add_dashboard({"uid": "status", "title": "Status page", "panels": []})
    grafana.set_permissions("dashboard", uid, [{"userId": alice, "permission": 4}])  # an ACL of its own
    grafana.add_public_dashboard(uid, uid="status-pub")
    cli = setup(tmp_path, grafana, "legacy")
    assert cli("backup").exit_code == 0
    repo = tmp_path / "backups"
    [path] = [p for p in repo.glob(f"grafana/*/1/{uid}.json") if "permission" in p.parent.parent.name]
    damage_loose(repo, git(repo, "rev-parse", f"HEAD:{path.relative_to(repo)}").strip())
    grafana.delete_dashboard(uid)  # Grafana deletes its public dashboard with it

    res = cli("restore", "--key", uid, "--json")

    assert res.exit_code == 1, res.stdout + res.stderr
    items = {i["kind"]: i for i in res.json()["plans"][0]["items"]}
    assert (items["dashboard"]["outcome"], items["permissions"]["outcome"]) == ("created", "failed")
    assert items["public-dashboard"]["outcome"] == "created"
    assert grafana.public_dashboard(uid)["uid"] == "status-pub"  # type: ignore[index]
