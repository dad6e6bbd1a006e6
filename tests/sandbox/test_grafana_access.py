"""The Grafana sandbox's access control: service accounts and roles, default and own ACLs, lookups.

Each behaviour follows Grafana's source (the sandbox modules name the files and functions).
"""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.grafana import GrafanaSandbox
from tests.sandbox.grafana_support import TOKEN, board


def test_permissions_list_own_entries_grouped_and_replace_on_post(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    alice = sb.add_user("alice", email="alice@example.com")
    sre = sb.add_team("SRE", uid="team-sre")
    sb.add_folder("p", "Parent")
    sb.add_folder("c", "Child", parent_uid="p")
    uid = sb.add_dashboard(board("Guarded"), folder_uid="c")
    sb.set_permissions("folder", "p", [{"role": "Viewer", "permission": 1}])
    posted = client.post("/api/folders/c/permissions", json={"items": [{"teamId": sre, "permission": 2}]})
    assert posted.json() == {"message": "Folder permissions updated"}

    items = [
        {"role": "Editor", "permission": 2},
        {"teamId": sre, "permission": 1},
        {"userId": alice, "permission": 4},
    ]
    res = client.post(f"/api/dashboards/uid/{uid}/permissions", json={"items": items})
    assert res.json() == {"message": "Dashboard permissions updated"}

    acl = client.get(f"/api/dashboards/uid/{uid}/permissions").json()
    # Only the dashboard's own entries (the folders' are not listed), users, then teams, then roles.
    assert [(a.get("role"), a["team"], a["userLogin"], a["permissionName"]) for a in acl] == [
        (None, "", "alice", "Admin"),
        (None, "SRE", "", "View"),
        ("Editor", "", "", "Edit"),
    ]
    assert acl[1]["teamUid"] == "team-sre" and acl[0]["userEmail"] == "alice@example.com"
    assert all(a["isFolder"] is False and a["uid"] == uid and a["inherited"] is False for a in acl)
    assert acl[2]["userId"] == 0 and acl[2]["teamId"] == 0 and "role" not in acl[1]
    folder_acl = client.get("/api/folders/c/permissions").json()
    assert [(a["uid"], a["team"], a["isFolder"], a["folderUid"]) for a in folder_acl] == [
        ("c", "SRE", True, "p")
    ]

    def post(item: dict[str, Any]) -> httpx.Response:
        return client.post(f"/api/dashboards/uid/{uid}/permissions", json={"items": [item]})

    # validatePermissionsUpdate: 400 with dashboardaccess's two messages, swapped as in the source.
    both = post({"userId": alice, "teamId": sre, "permission": 1})
    assert both.status_code == 400
    assert both.json() == {"message": "team and user permissions cannot have an associated role"}
    assert post({"userId": alice, "role": "Viewer", "permission": 1}).json() == {
        "message": "permissions cannot have both a user and team"
    }
    # What SetPermissions refuses is a 500.
    for bad in ({"userId": 999, "permission": 1}, {"teamId": 999, "permission": 1}, {"permission": 1}):
        refused = post(bad)
        assert refused.status_code == 500 and refused.json() == {"message": "Failed to update permissions"}
    # A permission that maps to no actions removes the entry.
    assert post({"role": "Viewer", "permission": 3}).status_code == 200
    assert client.get(f"/api/dashboards/uid/{uid}/permissions").json() == []

    client.delete(f"/api/dashboards/uid/{uid}")
    assert client.get(f"/api/dashboards/uid/{uid}/permissions").status_code == 404


def test_new_objects_get_grafanas_default_permissions(sb: GrafanaSandbox, client: httpx.Client) -> None:
    """SetDefaultPermissions (dashboards) and setDefaultFolderPermissions (11.x folders)."""
    made = client.post("/api/folders", json={"uid": "top", "title": "Top"}).json()
    assert made["uid"] == "top"
    client.post("/api/folders", json={"uid": "sub", "title": "Sub", "parentUid": "top"})
    root = client.post("/api/dashboards/db", json={"dashboard": board("Root")}).json()["uid"]
    nested = client.post("/api/dashboards/db", json={"dashboard": board("In"), "folderUid": "sub"}).json()[
        "uid"
    ]

    def entries(path: str) -> list[tuple[str, int]]:
        acl = client.get(path).json()
        return sorted((a.get("role") or a["userLogin"], a["permission"]) for a in acl)

    # A service account creating a folder gets nothing on 11.x; the root folder gives Editor/Viewer.
    assert entries("/api/folders/top/permissions") == [("Editor", 2), ("Viewer", 1)]
    assert entries("/api/folders/sub/permissions") == []
    # Dashboards: the creator (a service account too) gets Admin; at the root Editor/Viewer too.
    assert entries(f"/api/dashboards/uid/{root}/permissions") == [
        ("Editor", 2),
        ("Viewer", 1),
        ("sa-1-sandbox", 4),
    ]
    assert entries(f"/api/dashboards/uid/{nested}/permissions") == [("sa-1-sandbox", 4)]
    # Objects the Python API makes are made by the admin user.
    sb.add_folder("py", "Py")
    assert sorted(a.get("role") or a["userLogin"] for a in sb.permissions("folder", "py")) == [
        "Editor",
        "Viewer",
        "admin",
    ]


def test_users_and_teams(sb: GrafanaSandbox, client: httpx.Client) -> None:
    bob = sb.add_user("bob", email="bob@example.com", name="Bob")
    team = sb.add_team("Backend", members=(bob,))
    sb.add_team("Backend Ops")
    # users:read on global.users:* is the server admin's alone: an org-admin token gets 403.
    denied = client.get("/api/users/lookup", params={"loginOrEmail": "bob"})
    assert denied.status_code == 403 and denied.json()["title"] == "Access denied"
    assert denied.json()["message"].endswith("Permissions needed: users:read")
    with httpx.Client(base_url=sb.url, auth=("admin", "admin")) as admin:
        assert admin.get("/api/users/lookup", params={"loginOrEmail": "bob"}).json()["id"] == bob
        found_by_mail = admin.get("/api/users/lookup", params={"loginOrEmail": "bob@example.com"})
        assert found_by_mail.json()["login"] == "bob"
        assert admin.get("/api/users/lookup", params={"loginOrEmail": "nobody"}).status_code == 404
    # What an org admin may call: the org's users (service accounts left out) and their lookup.
    assert {u["login"] for u in client.get("/api/org/users").json()} == {"admin", "bob"}
    looked_up = client.get("/api/org/users/lookup", params={"query": "bob"}).json()
    assert looked_up == [{"userId": bob, "uid": "", "login": "bob", "avatarUrl": "/avatar/sandbox"}]
    accounts = client.get("/api/serviceaccounts/search", params={"query": "sandbox"}).json()
    assert [(a["login"], a["role"]) for a in accounts["serviceAccounts"]] == [("sa-1-sandbox", "Admin")]
    found = client.get("/api/teams/search", params={"name": "Backend"}).json()
    assert (
        found["totalCount"] == 1 and found["teams"][0]["id"] == team and found["teams"][0]["memberCount"] == 1
    )
    assert client.get("/api/teams/search", params={"query": "back"}).json()["totalCount"] == 2
    assert client.get(f"/api/teams/{team}").json()["name"] == "Backend"
    assert client.get("/api/teams/999").status_code == 404


def test_roles_of_service_accounts(sb: GrafanaSandbox) -> None:
    """A Viewer reads what its role's managed entries reach, never an ACL; an Editor writes at the root."""
    sb.add_folder("open", "Open")  # a root folder: Editor Edit, Viewer View
    sb.add_folder("closed", "Closed")
    sb.set_permissions("folder", "closed", [])
    inside = sb.add_dashboard(board("Inside"), folder_uid="open")
    hidden = sb.add_dashboard(board("Hidden"), folder_uid="closed")
    viewer = sb.add_service_account("reader", "Viewer")
    editor = sb.add_service_account("writer", "Editor")
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {viewer}"}) as v:
        listed = {h["uid"] for h in v.get("/api/search").json()}
        assert inside in listed and "open" in listed and hidden not in listed and "closed" not in listed
        assert v.get(f"/api/dashboards/uid/{inside}").status_code == 200
        assert v.get(f"/api/dashboards/uid/{hidden}").status_code == 403
        assert v.get("/api/dashboards/uid/no-such-one").status_code == 403  # no scope to find it
        acl = v.get(f"/api/dashboards/uid/{inside}/permissions")
        assert acl.status_code == 403
        assert acl.json()["message"].endswith("Permissions needed: dashboards.permissions:read")
        assert v.post("/api/dashboards/db", json={"dashboard": board("Mine")}).status_code == 403
        # A token belongs to its org: naming another one is a 401.
        sb.add_org("Other")
        other = v.get("/api/search", headers={"X-Grafana-Org-Id": "2"})
        assert other.status_code == 401 and other.json()["messageId"] == "api-key.organization-mismatch"
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {editor}"}) as e:
        assert e.post("/api/dashboards/db", json={"dashboard": board("Mine")}).status_code == 200
        assert e.post("/api/folders", json={"uid": "ed", "title": "Ed"}).status_code == 200
        into_closed = e.post("/api/dashboards/db", json={"dashboard": board("X"), "folderUid": "closed"})
        assert into_closed.status_code == 403
        assert e.get("/api/folders/closed/permissions").status_code == 403


def test_older_and_newer_grafana_save_rules() -> None:
    """name-exists before 11.3; a stale version is a 409 on releases that save through /apis."""
    with (
        GrafanaSandbox(token=TOKEN, grafana_version="11.2.0") as old,
        httpx.Client(base_url=old.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c,
    ):
        old.add_folder("fa", "Folder A")
        c.post("/api/dashboards/db", json={"dashboard": board("Prod", uid="one"), "folderUid": "fa"})
        clash = c.post(
            "/api/dashboards/db", json={"dashboard": board("Prod", uid="other"), "folderUid": "fa"}
        )
        assert clash.status_code == 412 and clash.json()["status"] == "name-exists"
    with (
        GrafanaSandbox(token=TOKEN, grafana_version="12.2.0") as new,
        httpx.Client(base_url=new.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c,
    ):
        uid = c.post("/api/dashboards/db", json={"dashboard": board("Prod")}).json()["uid"]
        model = c.get(f"/api/dashboards/uid/{uid}").json()["dashboard"]
        c.post("/api/dashboards/db", json={"dashboard": {**model, "tags": ["x"]}})
        stale = c.post("/api/dashboards/db", json={"dashboard": model})
        assert stale.status_code == 409
        assert stale.json() == {"message": "Dashboard already exists. Use overwrite flag to update."}


def test_nested_folders_stop_at_the_depth_limit(sb: GrafanaSandbox, client: httpx.Client) -> None:
    """[folder] max_nested_folder_depth, 4 by default: a fifth level is refused with a 400."""
    parent = None
    for level in range(1, 5):
        body = {"uid": f"l{level}", "title": f"Level {level}", **({"parentUid": parent} if parent else {})}
        assert client.post("/api/folders", json=body).status_code == 200
        parent = f"l{level}"
    fifth = client.post("/api/folders", json={"uid": "l5", "title": "Level 5", "parentUid": "l4"})
    assert fifth.status_code == 400 and fifth.json()["message"] == "Maximum nested folder depth reached"
    # Moving a two-level subtree under level 3 would make five levels too.
    client.post("/api/folders", json={"uid": "s1", "title": "S1"})
    client.post("/api/folders", json={"uid": "s2", "title": "S2", "parentUid": "s1"})
    moved = client.post("/api/folders/s1/move", json={"parentUid": "l3"})
    assert moved.status_code == 400 and sb.folders().count("s1") == 1
    assert client.post("/api/folders/s1/move", json={"parentUid": "l2"}).status_code == 200
