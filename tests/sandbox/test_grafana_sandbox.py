"""The Grafana sandbox over real sockets: legacy /api, /apis, orgs, faults, request log, the base server."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from sandbox.grafana import GrafanaSandbox
from tests.sandbox.grafana_support import APIS, TOKEN, board, list_all_apis, page_all_search, seg

# -- auth -----------------------------------------------------------------------------------------


def test_auth(sb: GrafanaSandbox) -> None:
    with httpx.Client(base_url=sb.url) as anon:
        assert anon.get("/api/health").json() == {"commit": "sandbox", "database": "ok", "version": "11.3.0"}
        res = anon.get("/api/search")
        assert res.status_code == 401
        assert res.json() == {"message": "Unauthorized"}
        assert anon.get("/api/search", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert anon.get("/apis", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert anon.get("/api/org", auth=("admin", "wrong")).status_code == 401
        assert anon.get("/api/org", auth=("admin", "admin")).json()["name"] == "Main Org."
        assert anon.get("/api/org", headers={"Authorization": f"Bearer {TOKEN}"}).json()["id"] == 1
        # Listing orgs is for the server admin (basic auth) only.
        assert anon.get("/api/orgs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
        sb.add_org("Second")
        orgs = anon.get("/api/orgs", auth=("admin", "admin")).json()
        assert orgs == [{"id": 1, "name": "Main Org."}, {"id": 2, "name": "Second"}]


def test_basic_auth_can_be_disabled() -> None:
    with GrafanaSandbox(token=TOKEN, basic=None) as sb, httpx.Client(base_url=sb.url) as c:
        assert c.get("/api/org", auth=("admin", "admin")).status_code == 401


# -- legacy search, folders, dashboards -------------------------------------------------------------


def test_search_orders_by_title_alone_and_ties_come_in_any_order(
    sb: GrafanaSandbox, client: httpx.Client
) -> None:
    """builder.go orders by title with no tie-breaker; service.go re-sorts with the unstable sort.Sort."""
    sb.add_folder("f", "Zeta folder")
    uids = {sb.add_dashboard(board("Same" if n % 2 else "alpha")) for n in range(12)}
    orders = set()
    for _ in range(6):
        hits = client.get("/api/search", params={"limit": 5000}).json()
        assert hits[0]["type"] == "dash-folder"  # folders first
        dashboards = [h for h in hits if h["type"] == "dash-db"]
        assert {h["uid"] for h in dashboards} == uids
        titles = [h["title"].casefold() for h in dashboards]
        assert titles == sorted(titles)  # case-insensitive title order
        orders.add(tuple(h["uid"] for h in dashboards))
    assert len(orders) > 1  # equal titles came back in more than one order


def test_search_pages_give_every_item_once_in_order(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("top", "Top")
    sb.add_folder("mid", "Mid", parent_uid="top")
    sb.add_folder("low", "Low", parent_uid="mid")
    uids = []
    for n in range(23):
        folder = [None, "top", "mid", "low"][n % 4]
        uids.append(sb.add_dashboard(board(f"Board {n:02}"), folder_uid=folder))
    # Distinct titles: offset paging gives each once, in title order, whatever the page size.
    for limit in (1, 5, 10, 23, 5000):
        hits = page_all_search(client, "dash-db", limit)
        assert [h["uid"] for h in hits] == uids

    by_uid = {h["uid"]: h for h in page_all_search(client, "dash-db", 100)}
    root, nested = by_uid[uids[0]], by_uid[uids[3]]
    assert "folderUid" not in root and root["type"] == "dash-db" and root["url"].startswith(f"/d/{uids[0]}/")
    assert nested["folderUid"] == "low" and nested["folderTitle"] == "Low" and nested["folderId"] > 0
    assert set(nested) >= {"id", "uid", "title", "uri", "url", "slug", "tags", "isStarred", "folderUrl"}

    folders = page_all_search(client, "dash-folder", 2)
    assert {f["uid"]: f.get("folderUid") for f in folders} == {"top": None, "mid": "top", "low": "mid"}
    assert all(f["type"] == "dash-folder" for f in folders)

    assert [h["uid"] for h in client.get("/api/search", params={"query": "board 06"}).json()] == [uids[6]]
    in_mid = client.get("/api/search", params={"type": "dash-db", "folderUIDs": "mid"}).json()
    assert {h["folderUid"] for h in in_mid} == {"mid"} and len(in_mid) == 6


def test_folders_nesting_parents_and_delete(sb: GrafanaSandbox, client: httpx.Client) -> None:
    top = client.post("/api/folders", json={"uid": "f-top", "title": "Top"})
    assert top.status_code == 200 and top.json()["version"] == 1 and "parentUid" not in top.json()
    assert (
        client.post("/api/folders", json={"uid": "f-mid", "title": "Mid", "parentUid": "f-top"}).status_code
        == 200
    )
    low = client.post("/api/folders", json={"title": "Low", "parentUid": "f-mid"}).json()
    low_uid = low["uid"]
    assert low["parentUid"] == "f-mid"
    assert [p["uid"] for p in low["parents"]] == ["f-top", "f-mid"]
    assert client.get(f"/api/folders/{low_uid}").json()["parents"][0]["title"] == "Top"

    assert client.post("/api/folders", json={"uid": "f-top", "title": "Again"}).status_code == 409
    assert client.post("/api/folders", json={"title": "Orphan", "parentUid": "nope"}).status_code == 404
    assert client.get("/api/folders/nope").status_code == 404

    assert client.get("/api/folders").json() == [{"id": top.json()["id"], "uid": "f-top", "title": "Top"}]
    children = client.get("/api/folders", params={"parentUid": "f-mid"}).json()
    assert [(c["uid"], c["parentUid"]) for c in children] == [(low_uid, "f-mid")]

    stale = client.put("/api/folders/f-mid", json={"title": "Middle", "version": 7})
    assert stale.status_code == 412
    renamed = client.put("/api/folders/f-mid", json={"title": "Middle", "version": 1})
    assert renamed.json()["title"] == "Middle" and renamed.json()["version"] == 2
    assert client.put("/api/folders/f-mid", json={"title": "Mid", "overwrite": True}).json()["version"] == 3

    deep = sb.add_dashboard(board("Deep"), folder_uid=low_uid)
    kept = sb.add_dashboard(board("Kept"), folder_uid="f-top")
    res = client.delete("/api/folders/f-mid")
    assert res.json()["message"] == "Folder deleted"
    assert sb.folders() == ["f-top"]
    assert sb.dashboards() == [kept] and sb.get_dashboard(deep) is None


def test_dashboard_save_semantics(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("fa", "Folder A")
    created = client.post(
        "/api/dashboards/db",
        json={"dashboard": board("Prod", uid=None, id=None), "folderUid": "fa", "message": "v1"},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    uid = body["uid"]
    assert (
        len(uid) == 9 and body["version"] == 1 and body["status"] == "success" and body["folderUid"] == "fa"
    )

    got = client.get(f"/api/dashboards/uid/{uid}").json()
    assert (
        got["dashboard"]["version"] == 1
        and got["dashboard"]["uid"] == uid
        and got["dashboard"]["id"] == body["id"]
    )
    meta = got["meta"]
    assert meta["folderUid"] == "fa" and meta["folderTitle"] == "Folder A" and meta["provisioned"] is False
    assert meta["version"] == 1 and meta["type"] == "db" and meta["slug"] == "prod"

    model = got["dashboard"]
    update = client.post(
        "/api/dashboards/db", json={"dashboard": {**model, "tags": ["x"]}, "folderUid": "fa"}
    )
    assert update.json()["version"] == 2
    stale = client.post(
        "/api/dashboards/db", json={"dashboard": model, "folderUid": "fa", "message": "stale"}
    )
    assert stale.status_code == 412
    assert stale.json() == {
        "message": "The dashboard has been changed by someone else",
        "status": "version-mismatch",
    }
    forced = client.post(
        "/api/dashboards/db",
        json={"dashboard": model, "folderUid": "fa", "overwrite": True, "message": "forced"},
    )
    assert forced.json()["version"] == 3

    # Since 11.3 titles need not be unique in a folder (grafana/grafana PR #90687).
    same_title = client.post(
        "/api/dashboards/db", json={"dashboard": board("Prod", uid="other"), "folderUid": "fa"}
    )
    assert same_title.status_code == 200 and same_title.json()["uid"] == "other"

    missing_folder = client.post("/api/dashboards/db", json={"dashboard": board("X"), "folderUid": "nope"})
    assert missing_folder.status_code == 400 and missing_folder.json() == {"message": "folder not found"}
    assert client.post("/api/dashboards/db", json={"dashboard": {"panels": []}}).status_code == 400
    long_uid = client.post("/api/dashboards/db", json={"dashboard": board("L", uid="u" * 41)})
    assert long_uid.status_code == 400

    versions = client.get(f"/api/dashboards/uid/{uid}/versions").json()
    assert [(v["version"], v["message"]) for v in versions] == [(3, "forced"), (2, ""), (1, "v1")]
    assert client.get(f"/api/dashboards/uid/{uid}/versions/2").json()["data"]["tags"] == ["x"]

    # Moving: a save without folderUid puts the dashboard at the root.
    latest = client.get(f"/api/dashboards/uid/{uid}").json()["dashboard"]
    moved = client.post("/api/dashboards/db", json={"dashboard": {**latest, "title": "Prod moved"}})
    assert moved.json()["folderUid"] == "" and sb.dashboard_folder(uid) is None

    deleted = client.delete(f"/api/dashboards/uid/{uid}")
    assert deleted.json() == {"title": "Prod moved", "message": "Dashboard Prod moved deleted", "uid": uid}
    res = client.get(f"/api/dashboards/uid/{uid}")
    assert res.status_code == 404 and res.json() == {"message": "Dashboard not found"}
    assert client.delete(f"/api/dashboards/uid/{uid}").status_code == 404


# -- /apis ----------------------------------------------------------------------------------------


def test_apis_discovery_and_disabled() -> None:
    with GrafanaSandbox(token=TOKEN) as on, httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        groups = c.get(f"{on.url}/apis").json()
        assert groups["kind"] == "APIGroupList"
        dash = next(g for g in groups["groups"] if g["name"] == "dashboard.grafana.app")
        assert dash["preferredVersion"]["version"] == "v1beta1"
        assert {g["name"] for g in groups["groups"]} == {"dashboard.grafana.app", "folder.grafana.app"}
    with (
        GrafanaSandbox(token=TOKEN, apis=False) as off,
        httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as c,
    ):
        off.add_dashboard(board("Only legacy", uid="legacy1"))
        assert c.get(f"{off.url}/apis").status_code == 404
        assert c.get(f"{off.url}{APIS}/default/dashboards").status_code == 404
        assert c.get(f"{off.url}{APIS}/default/dashboards/legacy1").status_code == 404
        assert c.get(f"{off.url}/api/dashboards/uid/legacy1").status_code == 200


def test_apis_list_with_continue_tokens(sb: GrafanaSandbox, client: httpx.Client) -> None:
    uids = [sb.add_dashboard(board(f"B{n}")) for n in range(37)]
    names, pages = list_all_apis(client, limit=5)
    assert names == sorted(uids) and pages == 8
    everything = client.get(f"{APIS}/default/dashboards").json()
    assert len(everything["items"]) == 37 and "continue" not in everything["metadata"]

    first = client.get(f"{APIS}/default/dashboards", params={"limit": 10}).json()
    token = first["metadata"]["continue"]
    decoded = json.loads(base64.b64decode(token))
    assert decoded["offset"] == 10 and str(decoded["rv"]) == first["metadata"]["resourceVersion"]
    # Writes between pages neither repeat nor skip the items that were there all along.
    sb.delete_dashboard(sorted(uids)[3])
    sb.add_dashboard(board("late", uid="0000-first"))
    rest = client.get(f"{APIS}/default/dashboards", params={"limit": 100, "continue": token}).json()
    assert [i["metadata"]["name"] for i in rest["items"]] == sorted(uids)[10:]

    res = client.get(f"{APIS}/default/dashboards", params={"continue": "not-a-token!"})
    assert res.status_code == 400 and res.json()["kind"] == "Status"


def test_apis_continue_expiry(sb: GrafanaSandbox, client: httpx.Client) -> None:
    for n in range(12):
        sb.add_dashboard(board(f"B{n}"))
    first = client.get(f"{APIS}/default/dashboards", params={"limit": 5}).json()
    token = first["metadata"]["continue"]
    sb.expire_next_continue = 1
    expired = client.get(f"{APIS}/default/dashboards", params={"limit": 5, "continue": token})
    assert expired.status_code == 410
    status = expired.json()
    assert status["kind"] == "Status" and status["reason"] == "Expired" and status["code"] == 410
    assert status["message"].startswith("The provided continue parameter is too old")
    assert client.get(f"{APIS}/default/dashboards", params={"limit": 5, "continue": token}).status_code == 200
    assert sb.expire_next_continue == 0

    sb.continue_ttl = 0.2
    token = client.get(f"{APIS}/default/dashboards", params={"limit": 5}).json()["metadata"]["continue"]
    assert client.get(f"{APIS}/default/dashboards", params={"limit": 5, "continue": token}).status_code == 200
    time.sleep(0.3)
    assert client.get(f"{APIS}/default/dashboards", params={"limit": 5, "continue": token}).status_code == 410


def test_apis_create_update_delete(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("fx", "FX")
    resource = {
        "metadata": {
            "name": "gdxccn",
            "annotations": {"grafana.app/folder": "fx", "grafana.app/message": "first"},
            "labels": {"team": "sre"},
        },
        "spec": board("Created via apis"),
    }
    created = client.post(f"{APIS}/default/dashboards", json=resource)
    assert created.status_code == 201, created.text
    md = created.json()["metadata"]
    assert md["name"] == "gdxccn" and md["generation"] == 1 and len(md["uid"]) == 44
    assert md["annotations"]["grafana.app/folder"] == "fx" and md["labels"]["team"] == "sre"
    assert md["labels"]["grafana.app/deprecatedInternalID"].isdigit()
    assert created.json()["spec"]["version"] == 1 and created.json()["spec"]["uid"] == "gdxccn"

    again = client.post(f"{APIS}/default/dashboards", json=resource)
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
    generated = client.post(
        f"{APIS}/default/dashboards", json={"metadata": {"generateName": "gen-"}, "spec": board("Generated")}
    )
    assert generated.status_code == 201 and generated.json()["metadata"]["name"].startswith("gen-")

    live = client.get(f"{APIS}/default/dashboards/gdxccn").json()
    live["spec"]["title"] = "Updated"
    updated = client.put(f"{APIS}/default/dashboards/gdxccn", json=live)
    assert updated.status_code == 200
    umd = updated.json()["metadata"]
    assert umd["generation"] == 2 and int(umd["resourceVersion"]) > int(md["resourceVersion"])
    assert updated.json()["spec"]["version"] == 2 and umd["uid"] == md["uid"]

    stale = client.put(
        f"{APIS}/default/dashboards/gdxccn", json=live
    )  # still carries the old resourceVersion
    assert stale.status_code == 409
    assert stale.json()["reason"] == "Conflict" and "the object has been modified" in stale.json()["message"]
    missing = client.put(
        f"{APIS}/default/dashboards/nope", json={"metadata": {"name": "nope"}, "spec": board("x")}
    )
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
    assert client.get(f"{APIS}/default/dashboards/nope").status_code == 404

    deleted = client.delete(f"{APIS}/default/dashboards/gdxccn")
    assert deleted.status_code == 200 and deleted.json()["status"] == "Success"
    assert client.get("/api/dashboards/uid/gdxccn").status_code == 404
    assert client.delete(f"{APIS}/default/dashboards/gdxccn").status_code == 404


def test_refuse_dashboard_writes(sb: GrafanaSandbox, client: httpx.Client) -> None:
    assert sb.refuse_dashboard_writes == set()  # off by default
    sb.add_dashboard({**board("Kept"), "uid": "kept"})
    sb.refuse_dashboard_writes.update({"kept", "new"})
    legacy = client.post(
        "/api/dashboards/db", json={"dashboard": {**board("Other"), "uid": "kept"}, "overwrite": True}
    )
    assert legacy.status_code == 403
    created = client.post(
        f"{APIS}/default/dashboards", json={"metadata": {"name": "new"}, "spec": board("New")}
    )
    assert created.status_code == 403 and created.json()["reason"] == "Forbidden"
    live = client.get(f"{APIS}/default/dashboards/kept").json()
    live["spec"]["title"] = "Changed"
    assert client.put(f"{APIS}/default/dashboards/kept", json=live).status_code == 403
    assert sb.get_dashboard("kept")["title"] == "Kept" and sb.get_dashboard("new") is None
    # Other dashboards are written as usual.
    other = client.post("/api/dashboards/db", json={"dashboard": {**board("Free"), "uid": "free"}})
    assert other.status_code == 200 and sb.get_dashboard("free")["title"] == "Free"


def test_same_model_through_both_apis(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("shared", "Shared")
    legacy_uid = client.post(
        "/api/dashboards/db", json={"dashboard": board("Legacy made", tags=["a"]), "folderUid": "shared"}
    ).json()["uid"]
    client.post(
        f"{APIS}/default/dashboards", json={"metadata": {"name": "k8s-made"}, "spec": board("K8s made")}
    )
    sb.add_dashboard(board("Python made", uid="py-made", refresh="1m"))
    for uid in (legacy_uid, "k8s-made", "py-made"):
        legacy = client.get(f"/api/dashboards/uid/{uid}").json()
        resource = client.get(f"{APIS}/default/dashboards/{uid}").json()
        model = dict(legacy["dashboard"])
        assert model.pop("id") == int(resource["metadata"]["labels"]["grafana.app/deprecatedInternalID"])
        assert model == resource["spec"] == sb.get_dashboard(uid)
        assert legacy["meta"]["folderUid"] == resource["metadata"]["annotations"].get(
            "grafana.app/folder", ""
        )
        listed = client.get(f"{APIS}/default/dashboards").json()["items"]
        assert next(i for i in listed if i["metadata"]["name"] == uid) == resource


def test_orgs_and_namespaces(sb: GrafanaSandbox, client: httpx.Client) -> None:
    org2 = sb.add_org("Other")
    sb.add_dashboard(board("One"), org=1)
    two = sb.add_dashboard(board("Two"), org=org2)
    # The server admin (basic auth) picks an org by header; a token stays in its own.
    with httpx.Client(base_url=sb.url, auth=("admin", "admin")) as admin:
        only_two = admin.get("/api/search", headers={"X-Grafana-Org-Id": str(org2)}).json()
        assert [h["uid"] for h in only_two] == [two]
        assert admin.get(f"/api/dashboards/uid/{two}").status_code == 404
        assert admin.get(f"/api/dashboards/uid/{two}", headers={"X-Grafana-Org-Id": "2"}).status_code == 200
        res = admin.get("/api/search", headers={"X-Grafana-Org-Id": "99"})
        assert res.status_code == 401  # no identity in an org that does not exist
        assert list_all_apis(admin, "org-2", headers={"X-Grafana-Org-Id": "2"})[0] == [two]
        resource = admin.get(f"{APIS}/org-2/dashboards/{two}", headers={"X-Grafana-Org-Id": "2"})
        assert resource.json()["metadata"]["namespace"] == "org-2"
    assert client.get("/api/search", headers={"X-Grafana-Org-Id": "2"}).status_code == 401
    # /apis: a namespace of another org is denied before anything is read.
    assert client.get(f"{APIS}/org-2/dashboards").status_code == 403
    assert len(list_all_apis(client, "default")[0]) == 1
    assert client.get(f"{APIS}/org-99/dashboards").status_code == 404
    assert client.get(f"{APIS}/stacks-1/dashboards").status_code == 404


# -- faults ---------------------------------------------------------------------------------------


def test_fault_rates(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.rate_429, sb.retry_after = 1.0, 7
    for _ in range(10):
        res = client.get("/api/search")
        assert res.status_code == 429 and res.headers["Retry-After"] == "7"
    # Faults come before auth.
    assert httpx.get(f"{sb.url}/api/search").status_code == 429
    assert client.get("/api/health").status_code == 200  # health is never faulted
    sb.rate_429, sb.rate_503 = 0.0, 1.0
    assert client.get("/api/search").status_code == 503
    sb.rate_503 = 0.0
    assert all(client.get("/api/search").status_code == 200 for _ in range(50))
    faulted = [r for r in sb.requests if r.fault]
    assert [r.status for r in faulted] == [429] * 11 + [503]


def test_fault_rates_are_drawn_from_the_seed() -> None:
    def statuses(seed: int) -> list[int]:
        with GrafanaSandbox(token=TOKEN, seed=seed, rate_429=0.3, rate_503=0.2) as sb, httpx.Client() as c:
            return [
                c.get(f"{sb.url}/api/org", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
                for _ in range(40)
            ]

    first = statuses(11)
    assert first == statuses(11)
    assert {200, 429, 503} <= set(first)


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_fail_listing_after(sb: GrafanaSandbox, client: httpx.Client, api: str) -> None:
    for n in range(30):
        sb.add_dashboard(board(f"B{n:02}"))
    sb.fail_listing_after = 20
    if api == "legacy":
        assert client.get("/api/search", params={"limit": 10, "page": 2}).status_code == 200
        res = client.get("/api/search", params={"limit": 10, "page": 3})
    else:
        token = None
        for _ in range(2):
            body = client.get(
                f"{APIS}/default/dashboards", params={"limit": 10, "continue": token or ""}
            ).json()
            token = body["metadata"]["continue"]
        res = client.get(f"{APIS}/default/dashboards", params={"limit": 10, "continue": token})
    assert res.status_code == 500
    if api == "legacy":
        assert res.json() == {"message": "internal error"}
    else:  # the API server answers with a Kubernetes Status
        assert (res.json()["kind"], res.json()["reason"], res.json()["code"]) == (
            "Status",
            "InternalError",
            500,
        )
    sb.fail_listing_after = None
    assert client.get("/api/search", params={"limit": 10, "page": 3}).status_code == 200


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_truncate_listing_after(sb: GrafanaSandbox, client: httpx.Client, api: str) -> None:
    for n in range(30):
        sb.add_dashboard(board(f"B{n:02}"))
    sb.truncate_listing_after = 10
    if api == "legacy":
        assert len(client.get("/api/search", params={"limit": 10}).json()) == 10
        res = client.get("/api/search", params={"limit": 10, "page": 2})
    else:
        first = client.get(f"{APIS}/default/dashboards", params={"limit": 10}).json()
        res = client.get(
            f"{APIS}/default/dashboards", params={"limit": 10, "continue": first["metadata"]["continue"]}
        )
    assert res.status_code == 200
    assert int(res.headers["Content-Length"]) == len(res.content) > 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.content)


def test_fail_dashboard_get(sb: GrafanaSandbox, client: httpx.Client) -> None:
    assert sb.fail_dashboard_get == set()  # by default every dashboard reads
    broken, fine = sb.add_dashboard(board("Broken")), sb.add_dashboard(board("Fine"))
    sb.fail_dashboard_get = {broken}
    res = client.get(f"/api/dashboards/uid/{broken}")
    assert res.status_code == 500 and res.json() == {"message": "internal error"}
    assert client.get(f"/api/dashboards/uid/{fine}").status_code == 200
    # Only the dashboard's own read fails: it is still listed, its ACL and /apis resource still read.
    assert broken in {h["uid"] for h in client.get("/api/search", params={"type": "dash-db"}).json()}
    assert client.get(f"/api/dashboards/uid/{broken}/permissions").status_code == 200
    assert client.get(f"{APIS}/default/dashboards/{broken}").status_code == 200
    sb.fail_dashboard_get = set()
    assert client.get(f"/api/dashboards/uid/{broken}").status_code == 200


def test_hidden_from_listing(sb: GrafanaSandbox, client: httpx.Client) -> None:
    assert sb.hidden_from_listing == set()  # by default every dashboard is listed
    uids = [sb.add_dashboard(board(f"B{n:02}")) for n in range(12)]
    hidden = uids[5]
    sb.hidden_from_listing = {hidden}
    listed = [h["uid"] for h in page_all_search(client, "dash-db", 5)]
    names, _ = list_all_apis(client, limit=5)
    assert sorted(listed) == sorted(names) == sorted(u for u in uids if u != hidden)
    # Every read by uid still finds it.
    assert client.get(f"/api/dashboards/uid/{hidden}").status_code == 200
    assert client.get(f"{APIS}/default/dashboards/{hidden}").status_code == 200
    sb.hidden_from_listing = set()
    assert hidden in [h["uid"] for h in page_all_search(client, "dash-db", 5)]


# -- hostile uids, request log ------------------------------------------------------------------


HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "a/b",
    "100%",
    "sp ace",
    "tab\tnew\nline",
    "é✓\U0001f600",
    "?x=1#f",
    "+plus",
]


def test_hostile_uids_round_trip(sb: GrafanaSandbox, client: httpx.Client) -> None:
    sb.add_folder("we/ird %", "Weird folder")
    for n, uid in enumerate(HOSTILE):
        sb.add_dashboard(board(f"Hostile {n}", uid=uid), folder_uid="we/ird %")
    assert client.get(f"/api/folders/{seg('we/ird %')}").json()["uid"] == "we/ird %"
    hits = page_all_search(client, "dash-db", 3)
    assert sorted(h["uid"] for h in hits) == sorted(HOSTILE)
    assert sorted(list_all_apis(client, limit=3)[0]) == sorted(HOSTILE)
    for uid in HOSTILE:
        got = client.get(f"/api/dashboards/uid/{seg(uid)}")
        assert got.status_code == 200, uid
        model = got.json()["dashboard"]
        assert model["uid"] == uid
        assert client.get(f"{APIS}/default/dashboards/{seg(uid)}").json()["metadata"]["name"] == uid
        assert client.get(f"/api/dashboards/uid/{seg(uid)}/permissions").status_code == 200
        assert client.delete(f"/api/dashboards/uid/{seg(uid)}").status_code == 200
        del model["id"]
        del model["version"]
        restored = client.post("/api/dashboards/db", json={"dashboard": model, "folderUid": "we/ird %"})
        assert restored.json()["uid"] == uid
    assert sorted(sb.dashboards()) == sorted(HOSTILE)
    # The Python API takes any uid, even ones the HTTP API would refuse.
    long_uid = "\x07é%2F/\\\u202e" + "\U0001f600" * 33
    sb.add_dashboard(board("Long", uid=long_uid))
    assert client.get(f"/api/dashboards/uid/{seg(long_uid)}").json()["dashboard"]["uid"] == long_uid


def test_request_log(sb: GrafanaSandbox, client: httpx.Client) -> None:
    client.get("/api/search", params={"type": "dash-db", "limit": 3}, headers={"X-Grafana-Org-Id": "1"})
    client.post("/api/dashboards/db", json={"dashboard": board("Logged")}, headers={"X-Grafana-Org-Id": "1"})
    client.get("/api/nowhere")
    search, post, unknown = sb.requests
    assert (search.method, search.path, search.status) == ("GET", "/api/search", 200)
    assert search.query == {"type": ["dash-db"], "limit": ["3"]}
    assert search.headers["X-Grafana-Org-Id"] == "1" and search.auth_scheme == "Bearer"
    assert post.json["dashboard"]["title"] == "Logged" and post.status == 200
    assert unknown.status == 404 and unknown.time >= search.time
    assert sb.write_requests() == [post]
    sb.clear_requests()
    assert sb.requests == []


# -- Python API -----------------------------------------------------------------------------------


def test_python_api(sb: GrafanaSandbox) -> None:
    sb.add_folder("pf", "PF")
    uid = sb.add_dashboard(board("Py"), folder_uid="pf")
    model = sb.get_dashboard(uid)
    assert model is not None and model["version"] == 1 and "id" not in model
    model["title"] = "mutated copy"
    assert sb.get_dashboard(uid)["title"] == "Py"  # type: ignore[index]
    sb.update_dashboard(uid, {"description": "d"})
    assert sb.get_dashboard(uid)["version"] == 2  # type: ignore[index]
    with pytest.raises(ValueError, match="already exists"):
        sb.add_dashboard(board("Dup", uid=uid))
    with pytest.raises(KeyError):
        sb.add_dashboard(board("Nowhere"), folder_uid="missing")
    with pytest.raises(ValueError, match="user not found"):
        sb.set_permissions("dashboard", uid, [{"userId": 42, "permission": 1}])
    sb.set_permissions("dashboard", uid, [{"role": "Viewer", "permission": 1}])
    assert [a["role"] for a in sb.permissions("dashboard", uid)] == ["Viewer"]
    sb.add_user("zoe")
    team = sb.add_team("Zed")
    assert sb.add_team("Zed") == team
    sb.wipe()
    assert sb.dashboards() == [] and sb.folders() == []
    assert sb.add_user("zoe") > 1  # users survive a wipe
    assert sb.get_dashboard(uid) is None
