"""Access control through a disaster: restored with an org-admin service-account token, exactly.

Grafana gives every object it creates default permissions (the creator Admin; Editor Edit and Viewer
View at the root); a restore must leave each object with the ACL it had, an empty one included. The
expected ACLs are read from the sandbox before the disaster, never from dashvault.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from sandbox.generate import Population, populate
from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore
from tests.conftest import TOKEN, Cli, grafana_source, write_config

Acl = list[tuple[str, int]]


def acls(grafana: GrafanaSandbox, population: Population) -> dict[str, Acl]:
    """Every object's own ACL, by who it names: a role, a team uid or a login."""
    out: dict[str, Acl] = {}
    for kind, uids in (("folder", population.folders), ("dashboard", population.dashboards)):
        for uid in uids:
            out[uid] = sorted(
                (a.get("role") or a["teamUid"] or a["userLogin"], a["permission"])
                for a in grafana.permissions(kind, uid)  # type: ignore[arg-type]
            )
    return out


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_a_wiped_instance_comes_back_with_every_acl_exactly_as_it_was(
    tmp_path: Path, grafana: GrafanaSandbox, api: str
) -> None:
    population = populate(grafana, dashboards=60, depth=3, seed=32)
    before = acls(grafana, population)
    parents = {**population.folder_parents, **population.dashboard_folders}
    assert [u for u in population.locked_down if parents[u] is None], "a root object without its defaults"
    assert any(acl == [] for acl in before.values()) and any(("Viewer", 1) in acl for acl in before.values())
    # The token is an org admin's service account: not a server admin.
    denied = httpx.get(
        f"{grafana.url}/api/users/lookup",
        params={"loginOrEmail": "admin"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert denied.status_code == 403

    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    grafana.wipe()  # every folder and dashboard, with their ACLs
    res = cli("restore", "--snapshot", "latest", "--json")
    assert res.exit_code == 0, res.stderr
    [plan] = res.json()["plans"]
    assert set(plan["counts"]) == {"created"}, plan["counts"]
    assert not [i for i in plan["items"] if i["detail"]], "no entry was skipped"

    assert acls(grafana, population) == before
    again = cli("backup", "--json")
    assert again.exit_code == 0, again.stderr
    status = again.json()["sources"]["grafana"]
    assert (status["added"], status["changed"], status["deleted"], status["failed"]) == (0, 0, 0, 0)
    assert again.json()["snapshot"] is None  # nothing differs from the snapshot restored


def test_a_viewer_token_backs_up_warns_once_and_carries_permissions_forward(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    population = populate(grafana, dashboards=30, depth=2, seed=32, permissions=False)
    admin = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert admin("backup").exit_code == 0
    recorded = admin("snapshots", "--json").json()[0]["id"]

    viewer_token = grafana.add_service_account("reader", "Viewer")
    viewer = Cli(
        write_config(
            tmp_path / "viewer.toml", [grafana_source(grafana.url, api="legacy", token=viewer_token)]
        )
    )
    grafana.update_dashboard(population.dashboards[0], {"description": "edited"})
    res = viewer("backup", "--json")
    assert res.exit_code == 0, res.stderr
    status = res.json()["sources"]["grafana"]
    [warning] = status["warnings"]
    # The first ACL read is a folder's (folders are read before their dashboards).
    assert warning == (
        "grafana: the token may not read permissions (403 on a folder's permissions); they are carried "
        "forward from the last snapshot. Grant dashboards.permissions:read and folders.permissions:read "
        "(the org Admin role has both) to back them up"
    )
    assert res.stderr.count("may not read permissions") == 1
    assert (status["changed"], status["deleted"], status["failed"]) == (1, 0, 0)
    # Every permissions entry is the one the admin's backup recorded.
    store = GitStore(tmp_path / "backups")

    def permissions(snapshot: str) -> dict[str, str]:
        return {e.key: e.hash for e in store.manifest(snapshot).entries if e.kind == "permissions"}

    before, after = permissions(recorded), permissions(res.json()["snapshot"])
    assert len(before) == len(population.folders) + len(population.dashboards) and before == after
    listed = viewer("snapshots", "--json").json()[0]
    assert listed["sources"]["grafana"]["warnings"] == [warning]


def test_acl_reads_refused_while_others_are_in_flight_are_all_carried_forward(
    tmp_path: Path, grafana: GrafanaSandbox
) -> None:
    population = populate(grafana, dashboards=24, depth=1, seed=34, permissions=False)
    admin = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert admin("backup").exit_code == 0
    store = GitStore(tmp_path / "backups")

    def acls(snapshot: str) -> dict[str, str]:
        return {e.key: e.hash for e in store.manifest(snapshot).entries if e.kind == "permissions"}

    before = acls(store.snapshots()[0].id)
    grafana.update_dashboard(population.dashboards[0], {"description": "edited"})  # a snapshot to read
    viewer_token = grafana.add_service_account("reader", "Viewer")
    source = grafana_source(grafana.url, api="legacy", token=viewer_token, concurrency=8)
    viewer = Cli(write_config(tmp_path / "viewer.toml", [source]))
    # With latency, eight objects' ACL reads are under way when the first 403 comes back: the ones
    # refused after it are not the first, and each must still keep its ACL.
    grafana.latency = 0.03
    grafana.clear_requests()

    res = viewer("backup", "--json")

    assert res.exit_code == 0, res.stdout + res.stderr
    refused = [r for r in grafana.logged_requests() if r.path.endswith("/permissions") and r.status == 403]
    assert len(refused) > 1
    status = res.json()["sources"]["grafana"]
    assert (status["changed"], status["deleted"], status["failed"], len(status["warnings"])) == (1, 0, 0, 1)
    assert len(before) == len(population.folders) + len(population.dashboards)
    assert acls(res.json()["snapshot"]) == before


def test_check_says_what_each_token_lacks(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    populate(grafana, dashboards=5, depth=1, seed=33, permissions=False)
    tokens = {
        "admin": TOKEN,
        "editor": grafana.add_service_account("writer", "Editor"),
        "viewer": grafana.add_service_account("reader", "Viewer"),
    }
    said = {}
    for role, token in tokens.items():
        cfg = write_config(tmp_path / f"{role}.toml", [grafana_source(grafana.url, token=token)])
        res = Cli(cfg)("check")
        assert res.exit_code == 0, res.stdout + res.stderr
        # The table wraps long details: its borders out, the words joined again.
        said[role] = " ".join(re.sub("[\u2500-\u257f]", " ", res.stdout).split())
    assert "may back up and restore everything" in said["admin"]
    assert "lacks" not in said["admin"]
    for role in ("editor", "viewer"):
        assert "backup lacks dashboards.permissions:read, folders.permissions:read" in said[role]
        assert "org.users:read" in said[role]


def test_an_acl_naming_a_service_account_comes_back(tmp_path: Path, grafana: GrafanaSandbox) -> None:
    """Service accounts are no org users: they are found through /api/serviceaccounts/search."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    made = httpx.post(
        f"{grafana.url}/api/dashboards/db", json={"dashboard": {"title": "By a robot"}}, headers=auth
    )
    uid = made.json()["uid"]
    before = sorted(
        (a.get("role") or a["userLogin"], a["permission"]) for a in grafana.permissions("dashboard", uid)
    )
    assert ("sa-1-sandbox", 4) in before  # the creating service account got Admin
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard(uid)
    res = cli("restore", "--key", uid, "--json")
    assert res.exit_code == 0, res.stderr
    assert all(not i["detail"] for i in res.json()["plans"][0]["items"])
    after = sorted(
        (a.get("role") or a["userLogin"], a["permission"]) for a in grafana.permissions("dashboard", uid)
    )
    assert after == before
    lookups = [
        r.path for r in grafana.logged_requests() if r.path.startswith(("/api/serviceaccounts", "/api/users"))
    ]
    assert lookups == ["/api/serviceaccounts/search"]
