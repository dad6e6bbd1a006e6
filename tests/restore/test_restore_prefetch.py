"""Restoring into an emptied Grafana lists what exists once instead of asking for every object."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from tests.conftest import Cli, grafana_source, write_config


@pytest.mark.parametrize("api", ["legacy", "apis"])
def test_restore_after_a_wipe_reads_no_object_one_by_one(tmp_path, grafana: GrafanaSandbox, api: str) -> None:
    population = populate(grafana, dashboards=60, depth=2, seed=9)
    # The users and teams the ACLs of the scenario name, read from the sandbox before the backup.
    logins: set[str] = set()
    teams: set[str] = set()
    for kind, uids in (("folder", population.folders), ("dashboard", population.dashboards)):
        for uid in uids:
            for entry in grafana.permissions(kind, uid):  # type: ignore[arg-type]
                if entry["userId"]:
                    logins.add(entry["userLogin"])
                elif entry["teamId"]:
                    teams.add(entry["team"])
    assert logins and teams  # the scenario exercises both kinds of lookup
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api=api)]))
    assert cli("backup").exit_code == 0
    grafana.wipe()
    grafana.clear_requests()
    res = cli("restore", "--json")
    assert res.exit_code == 0, res.stderr
    [plan] = res.json()["plans"]
    assert set(plan["counts"]) == {"created"}
    reads = [r.path for r in grafana.logged_requests() if r.method == "GET"]
    per_object = [
        p for p in reads if p.startswith(("/api/dashboards/uid/", "/api/folders/", "/apis/dashboard"))
    ]
    assert per_object == []
    # Users and teams named in ACLs are looked up once each, not once per ACL entry, even though
    # the ACLs are applied concurrently (two threads needing the same team make one request).
    # Users through the org-scoped lookup an org-admin token may make (never /api/users/lookup).
    lookups = Counter(
        (r.path, tuple(r.query.get("query") or r.query.get("name") or ()))
        for r in grafana.logged_requests()
        if r.method == "GET" and r.path.startswith(("/api/users/", "/api/org/users", "/api/teams/search"))
    )
    assert lookups == Counter(
        [("/api/org/users/lookup", (login,)) for login in logins]
        + [("/api/teams/search", (t,)) for t in teams]
    )


def test_an_object_created_after_the_listing_is_re_planned(tmp_path, grafana: GrafanaSandbox) -> None:
    grafana.add_folder("f1", "Folder")
    uid = grafana.add_dashboard({"title": "Board", "uid": "b1"}, folder_uid="f1")
    cli = Cli(write_config(tmp_path / "dashvault.toml", [grafana_source(grafana.url, api="legacy")]))
    assert cli("backup").exit_code == 0
    grafana.delete_dashboard(uid)
    from restore.grafana import GrafanaTarget

    original = GrafanaTarget.prefetch

    def late(self, keys):  # the dashboard comes back just after the listing
        original(self, keys)
        grafana.add_dashboard({"title": "Board", "uid": "b1", "panels": [1]}, folder_uid="f1")

    GrafanaTarget.prefetch = late  # type: ignore[method-assign]
    try:
        res = cli("restore", "--json")
    finally:
        GrafanaTarget.prefetch = original  # type: ignore[method-assign]
    items = {i["key"]: i for i in res.json()["plans"][0]["items"] if i["kind"] == "dashboard"}
    # Creating it was refused, the re-plan read the live one: a conflict, kept as is (the default).
    assert items["1/b1"]["outcome"] == "conflict"
    assert grafana.get_dashboard("b1")["panels"] == [1]
