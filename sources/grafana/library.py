"""Library panels of one Grafana org: ``/api/library-elements`` read page by page, and written back.

Grafana (pkg/services/libraryelements ``database.go`` ``getAllLibraryElements``) orders the list by
name alone and pages it by offset, then drops the elements the caller may not read from each page:
a short page is not the last one, ``totalCount`` is. Names are not unique across folders, so the
names that end a full page are asked for again by themselves, as `GrafanaClient.search_uids` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sources.errors import ResponseError
from sources.grafana.client import GrafanaClient, json_object, seg

BASE = "/api/library-elements"
# A list whose totalCount would take more pages than this is not believed.
MAX_PAGES = 10_000
# pkg/services/libraryelements/model/model.go ``ErrLibraryElementNotFound``.
NOT_FOUND = "library element could not be found"
CONNECT_FAILED = "Error while connecting library panels"


def _result(data: Any, what: str) -> Any:
    body = json_object(data, what)
    if "result" not in body:
        raise ResponseError(f"{what} did not return a result")
    return body["result"]


def _page(client: GrafanaClient, org: int, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    data = client.get(BASE, params=params, headers={"X-Grafana-Org-Id": str(org)})
    result = json_object(_result(data, BASE), BASE)
    elements, total = result.get("elements"), result.get("totalCount")
    if not isinstance(elements, list) or not isinstance(total, int) or isinstance(total, bool):
        raise ResponseError(f"{BASE} did not return elements and a totalCount")
    return [e for e in elements if isinstance(e, dict) and isinstance(e.get("uid"), str)], total


def library_panels(client: GrafanaClient, org: int) -> Iterator[dict[str, Any]]:
    """Every library panel of the org the caller may read, once each."""
    per_page = client.config.page_size
    seen: set[str] = set()
    edges: list[str] = []
    page, pages = 1, 1
    while page <= pages:
        elements, total = _page(client, org, {"perPage": per_page, "page": page, "kind": 1})
        pages = -(-total // per_page)
        if pages > MAX_PAGES:
            raise ResponseError(f"{BASE} claims {total} library panels")
        for e in elements:
            if e["uid"] not in seen:
                seen.add(e["uid"])
                yield e
        if page < pages and elements and isinstance(elements[-1].get("name"), str):
            edges.append(str(elements[-1]["name"]))
        page += 1
    for name in dict.fromkeys(edges):
        # searchString matches names, descriptions and folder titles: keep the exact names.
        elements, _ = _page(client, org, {"perPage": 10_000, "page": 1, "kind": 1, "searchString": name})
        for e in elements:
            if e.get("name") == name and e["uid"] not in seen:
                seen.add(e["uid"])
                yield e


def library_panel(client: GrafanaClient, org: int, uid: str) -> dict[str, Any] | None:
    """One library panel; None only on Grafana's own "could not be found"."""
    status, data = client.call(
        "GET", f"{BASE}/{seg(uid)}", headers={"X-Grafana-Org-Id": str(org)}, ok=(200, 404)
    )
    if status == 404:
        if isinstance(data, dict) and data.get("message") == NOT_FOUND:
            return None
        raise ResponseError(f"{BASE}/:uid answered 404 without Grafana's not-found message", status=404)
    element = json_object(_result(data, f"{BASE}/:uid"), f"{BASE}/:uid")
    if element.get("uid") != uid:
        raise ResponseError(f"{BASE}/:uid answered for {element.get('uid')!r} when asked for {uid!r}")
    return element


def create_library_panel(
    client: GrafanaClient, org: int, uid: str, name: str, model: dict[str, Any], folder_uid: str
) -> tuple[int, Any]:
    """POST a library panel with its uid; 400 (uid or name taken) comes back to the caller."""
    body = {"uid": uid, "name": name, "kind": 1, "model": model, "folderUid": folder_uid}
    return client.call("POST", BASE, json=body, headers={"X-Grafana-Org-Id": str(org)}, ok=(200, 400))


def update_library_panel(
    client: GrafanaClient,
    org: int,
    uid: str,
    name: str,
    model: dict[str, Any],
    folder_uid: str,
    *,
    version: Any,
) -> tuple[int, Any]:
    """PATCH with the live version (412 if someone saved meanwhile) and always the folder: a patch
    that names none moves the panel to the General folder (``handleFolderIDPatches``)."""
    body = {"uid": uid, "name": name, "kind": 1, "model": model, "folderUid": folder_uid, "version": version}
    return client.call(
        "PATCH", f"{BASE}/{seg(uid)}", json=body, headers={"X-Grafana-Org-Id": str(org)}, ok=(200, 400, 412)
    )
