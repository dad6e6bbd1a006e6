"""The Grafana sandbox's library panels, as pkg/services/libraryelements and librarypanels behave.

Each behaviour follows Grafana's source (sandbox/grafana/library.py names the files and functions).
"""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.grafana import GrafanaSandbox
from tests.sandbox.grafana_support import TOKEN

PANEL = {"type": "timeseries", "title": "CPU", "description": "cpu use", "targets": [{"refId": "A"}]}


def using(title: str, *uids: str) -> dict[str, Any]:
    """A dashboard whose panels use these library panels, the last one inside a collapsed row."""
    panels: list[dict[str, Any]] = [
        {"id": n, "gridPos": {"x": 0, "y": n, "w": 12, "h": 8}, "libraryPanel": {"uid": u, "name": u}}
        for n, u in enumerate(uids[:-1], start=1)
    ]
    if uids:
        nested = {"id": 99, "libraryPanel": {"uid": uids[-1], "name": uids[-1]}}
        panels.append({"id": 50, "type": "row", "collapsed": True, "panels": [nested]})
    return {"title": title, "panels": panels, "schemaVersion": 41}


def create(client: httpx.Client, uid: str, name: str, folder: str = "", **extra: Any) -> httpx.Response:
    body = {"uid": uid, "name": name, "kind": 1, "model": PANEL, "folderUid": folder, **extra}
    return client.post("/api/library-elements", json=body)


def test_create_keeps_the_uid_and_answers_200_with_the_element(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    sb.add_folder("ops", "Ops")
    res = create(client, "lib-cpu", "CPU", folder="ops")
    assert res.status_code == 200
    element = res.json()["result"]
    assert (element["uid"], element["name"], element["kind"], element["version"]) == ("lib-cpu", "CPU", 1, 1)
    assert (element["folderUid"], element["meta"]["folderName"]) == ("ops", "Ops")
    # createLibraryElement copies type and description out of the model.
    assert (element["type"], element["description"]) == ("timeseries", "cpu use")
    # A create at the root: the handler fills the folder name only for real folders.
    root = create(client, "lib-root", "Root").json()["result"]
    assert (root["folderUid"], root["meta"]["folderName"]) == ("", "")


def test_create_refuses_a_taken_uid_or_name_and_a_bad_kind(sb: GrafanaSandbox, client: httpx.Client) -> None:
    assert create(client, "a", "Panel").status_code == 200
    taken = "library element with that name or UID already exists"
    assert create(client, "a", "Other").json() == {"message": taken}
    assert create(client, "b", "Panel").json() == {"message": taken}  # same name, same folder
    sb.add_folder("f", "F")
    assert create(client, "c", "Panel", folder="f").status_code == 200  # same name, another folder
    assert create(client, "bad/uid", "X").json() == {"message": "uid contains illegal characters"}
    assert create(client, "x" * 41, "X").json() == {"message": "uid too long, max 40 characters"}
    no_kind = client.post("/api/library-elements", json={"uid": "d", "name": "D", "model": PANEL})
    assert (no_kind.status_code, no_kind.json()) == (400, {"message": "bad request data"})
    variable = create(client, "e", "E", kind=2)
    assert (variable.status_code, variable.json()) == (500, {"message": "Failed to create library element"})
    assert create(client, "g", "G", folder="nope").json() == {"message": "failed to get folder"}


def test_list_pages_by_name_and_counts_what_it_cannot_show(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("secret", "Secret")
    sb.set_permissions("folder", "secret", [])
    viewer = sb.add_service_account("viewer", "Viewer", org=1, token="viewer-token")
    assert viewer
    for n, name in enumerate(["delta", "alpha", "charlie", "bravo"]):
        sb.add_library_panel(f"p{n}", name, PANEL, folder_uid="secret" if name == "alpha" else None)
    page = client.get("/api/library-elements", params={"perPage": 2, "page": 1}).json()["result"]
    assert [e["name"] for e in page["elements"]] == ["alpha", "bravo"]
    assert (page["totalCount"], page["page"], page["perPage"]) == (4, 1, 2)
    desc = client.get("/api/library-elements", params={"sortDirection": "alpha-desc"}).json()["result"]
    assert [e["name"] for e in desc["elements"]] == ["delta", "charlie", "bravo", "alpha"]
    assert desc["perPage"] == 100
    # A Viewer cannot read the secret folder: its first page is short, yet a second one follows.
    headers = {"Authorization": "Bearer viewer-token"}
    first = client.get("/api/library-elements", params={"perPage": 2}, headers=headers).json()["result"]
    assert ([e["name"] for e in first["elements"]], first["totalCount"]) == (["bravo"], 4)
    second = client.get("/api/library-elements", params={"perPage": 2, "page": 2}, headers=headers)
    assert [e["name"] for e in second.json()["result"]["elements"]] == ["charlie", "delta"]


def test_get_answers_general_for_the_root_and_404_in_grafanas_words(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    sb.add_library_panel("root", "Root", PANEL)
    element = client.get("/api/library-elements/root").json()["result"]
    assert (element["folderUid"], element["meta"]["folderUid"]) == ("", "")  # 11.x
    newer = GrafanaSandbox(token=TOKEN, grafana_version="12.1.0").start()
    try:
        newer.add_library_panel("root", "Root", PANEL)
        res = httpx.get(
            f"{newer.url}/api/library-elements/root", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert res.json()["result"]["folderUid"] == "general"
    finally:
        newer.stop()
    missing = client.get("/api/library-elements/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "library element could not be found"})


def test_patch_needs_the_stored_version_and_without_a_folder_moves_to_general(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    sb.add_folder("ops", "Ops")
    sb.add_library_panel("p", "CPU", PANEL, folder_uid="ops")
    stale = client.patch("/api/library-elements/p", json={"kind": 1, "version": 7, "name": "New"})
    assert (stale.status_code, stale.json()) == (
        412,
        {"message": "the library element has been changed by someone else"},
    )
    keep = client.patch("/api/library-elements/p", json={"kind": 1, "version": 1, "folderUID": "ops"})
    assert keep.json()["result"]["folderUid"] == "ops"  # the frontend's key spelling is accepted
    assert keep.json()["result"]["name"] == "CPU"  # no name: the stored one is kept
    moved = client.patch("/api/library-elements/p", json={"kind": 1, "version": 2, "name": "CPU2"})
    assert moved.json()["result"]["folderUid"] == ""
    assert sb.library_panel("p") == {
        "name": "CPU2",
        "folderUid": None,
        "model": PANEL,
        "version": 3,
        "connections": [],
    }


def test_a_save_connects_library_panels_and_a_missing_one_is_a_500_after_the_save(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    sb.add_library_panel("a", "A", PANEL)
    sb.add_library_panel("b", "B", PANEL)
    res = client.post("/api/dashboards/db", json={"dashboard": {**using("Uses", "a", "b"), "uid": "d"}})
    assert res.status_code == 200
    assert sb.library_panel("b")["connections"] == ["d"]  # type: ignore[index]  # inside a row
    connections = client.get("/api/library-elements/b/connections/").json()["result"]
    assert [(c["connectionUid"], c["kind"]) for c in connections] == [("d", 1)]

    res = client.post(
        "/api/dashboards/db", json={"dashboard": {**using("Uses", "a", "gone"), "uid": "d", "version": 1}}
    )
    assert (res.status_code, res.json()) == (500, {"message": "Error while connecting library panels"})
    # Saved all the same, and the old connections kept (the connect transaction rolled back).
    assert sb.get_dashboard("d")["version"] == 2  # type: ignore[index]
    assert sb.library_panel("b")["connections"] == ["d"]  # type: ignore[index]


def test_a_connected_panel_and_its_folder_cannot_be_deleted(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("ops", "Ops")
    sb.add_library_panel("a", "A", PANEL, folder_uid="ops")
    sb.add_dashboard({**using("Uses", "a"), "uid": "d"}, folder_uid="ops")
    res = client.delete("/api/library-elements/a")
    assert (res.status_code, res.json()) == (403, {"message": "the library element has connections"})
    res = client.delete("/api/folders/ops")
    assert res.json() == {
        "message": "Folder could not be deleted because it contains library elements in use"
    }
    assert client.delete("/api/dashboards/uid/d").status_code == 200
    deleted = client.delete("/api/library-elements/a")
    assert deleted.json()["message"] == "Library element deleted"
    assert sb.library_panels() == []


def test_a_folder_takes_its_unused_library_panels_with_it(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("ops", "Ops")
    sb.add_library_panel("a", "A", PANEL, folder_uid="ops")
    sb.add_library_panel("root", "Root", PANEL)
    assert client.delete("/api/folders/ops").status_code == 200
    assert sb.library_panels() == ["root"]


def test_viewers_read_and_editors_write_library_panels_of_the_general_folder(sb: GrafanaSandbox) -> None:
    sb.add_service_account("viewer", "Viewer", org=1, token="v-token")
    sb.add_service_account("editor", "Editor", org=1, token="e-token")
    body = {"uid": "p", "name": "P", "kind": 1, "model": PANEL, "folderUid": ""}
    with httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer v-token"}) as viewer:
        denied = viewer.post("/api/library-elements", json=body)
        assert denied.status_code == 403 and "library.panels:create" in denied.json()["message"]
    with httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer e-token"}) as editor:
        assert editor.post("/api/library-elements", json=body).status_code == 200
    with httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer v-token"}) as viewer:
        assert viewer.get("/api/library-elements/p").status_code == 200
