"""Populating a Grafana sandbox: nested folders, dashboards (generated or a corpus), users, teams, ACLs."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.generate.grafana_models import _TAGS, make_dashboard
from sandbox.generate.grafana_panels import _SERVICES
from sandbox.grafana import GrafanaSandbox

# Above this many dashboards, models are cheap variations of a few generated templates.
TEMPLATE_THRESHOLD = 500
TEMPLATE_COUNT = 24
_ASPECTS = [
    "Overview", "Latency", "Errors", "Saturation", "Capacity", "SLOs", "Traffic", "Resources",
    "Deep Dive", "On-call", "Cost", "Availability", "Throughput", "Queues", "Storage",
]  # fmt: skip
_TOP_FOLDERS = [
    "Infrastructure", "Platform", "Applications", "Data", "Security", "Networking", "Observability",
    "Business", "Mobile", "Edge",
]  # fmt: skip
_SUB_FOLDERS = [
    "Production", "Staging", "Development", "EU West", "US East", "AP South", "Databases", "Messaging",
    "Compute", "Storage", "Frontend", "Backend", "Batch", "Streaming", "Legacy", "Experiments",
]  # fmt: skip
_USERS = [("alice", "Alice Martin"), ("bob", "Bob Chen"), ("carol", "Carol Diaz"), ("dave", "Dave Okafor"),
          ("erin", "Erin Novak"), ("frank", "Frank Ito")]  # fmt: skip
_TEAMS = ["SRE", "Backend", "Data Platform"]


@dataclass
class Population:
    """What :func:`populate` created."""

    org: int
    dashboards: list[str]
    folders: list[str]
    users: dict[str, int]
    teams: dict[str, int]
    dashboard_folders: dict[str, str | None] = field(default_factory=dict)
    """Dashboard uid -> folder uid (None at the root)."""
    folder_parents: dict[str, str | None] = field(default_factory=dict)
    with_permissions: list[str] = field(default_factory=list)
    """Uids of dashboards and folders that got an ACL of their own (instead of Grafana's defaults)."""
    locked_down: list[str] = field(default_factory=list)
    """Uids of dashboards and folders whose own ACL was emptied (Grafana's defaults removed)."""


def _uid(rng: random.Random, length: int, alphabet: str, taken: set[str]) -> str:
    while True:
        uid = "".join(rng.choice(alphabet) for _ in range(length))
        if uid not in taken:
            taken.add(uid)
            return uid


def _load_corpus(corpus_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file stem, model) for every dashboard JSON in the directory, sorted by file name."""
    out = []
    for path in sorted(corpus_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("dashboard"), dict):
            data = data["dashboard"]  # an export wrapped with its meta
        if isinstance(data, dict):
            out.append((path.stem, data))
    if not out:
        raise ValueError(f"no dashboard JSON files in {corpus_dir}")
    return out


def _acl(
    rng: random.Random, users: dict[str, int], teams: dict[str, int], *, folder: bool
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if rng.random() < 0.7:
        items.append({"role": rng.choice(["Viewer", "Editor"]), "permission": rng.choice([1, 2])})
    if teams and rng.random() < 0.7:
        items.append({"teamId": teams[rng.choice(sorted(teams))], "permission": rng.choice([1, 2, 4])})
    if users and (not items or rng.random() < 0.5):
        items.append(
            {
                "userId": users[rng.choice(sorted(users))],
                "permission": rng.choice([1, 2, 4] if folder else [1, 2]),
            }
        )
    return items


def populate(
    sandbox: GrafanaSandbox,
    *,
    dashboards: int = 300,
    org: int = 1,
    depth: int = 3,
    folders_per_level: int = 3,
    seed: int = 0,
    corpus_dir: Path | None = None,
    permissions: bool = True,
) -> Population:
    """Fill an org with nested folders, dashboards (some at the root), users, teams and ACLs.

    Deterministic for a given seed; 10,000 dashboards take a few seconds.
    """
    rng = random.Random(seed)
    existing_folders = set(sandbox.folders(org))
    existing_dashboards = set(sandbox.dashboards(org))

    users = {
        login: sandbox.add_user(login, email=f"{login}@example.com", name=name, org=org)
        for login, name in _USERS
    }
    teams: dict[str, int] = {}
    for name in _TEAMS:
        team_uid = _uid(rng, 14, string.ascii_lowercase + string.digits, set())
        email = f"{name.lower().replace(' ', '-')}@example.com"
        teams[name] = sandbox.add_team(name, uid=team_uid, org=org, email=email)

    # Nested folders, breadth first: depth levels of folders_per_level children each.
    folder_parents: dict[str, str | None] = {}
    level: list[str | None] = [None]
    for d in range(depth):
        next_level: list[str | None] = []
        for parent in level:
            names = _TOP_FOLDERS if d == 0 else _SUB_FOLDERS
            titles = rng.sample(names, min(folders_per_level, len(names)))
            titles += [f"{names[i % len(names)]} {i + 1}" for i in range(len(titles), folders_per_level)]
            for title in titles:
                uid = _uid(rng, 14, string.ascii_lowercase + string.digits, existing_folders)
                sandbox.add_folder(uid, title, parent_uid=parent, org=org)
                folder_parents[uid] = parent
                next_level.append(uid)
        level = next_level
    folder_uids = list(folder_parents)

    corpus = _load_corpus(corpus_dir) if corpus_dir is not None else None
    templates: list[dict[str, Any]] = []
    if corpus is None and dashboards > TEMPLATE_THRESHOLD:
        templates = [make_dashboard(rng, f"template {n}") for n in range(TEMPLATE_COUNT)]

    titles_in: dict[str | None, set[str]] = {}
    dashboard_folders: dict[str, str | None] = {}
    copies: dict[str, int] = {}
    for n in range(dashboards):
        # The root and every folder get one first (when there are enough dashboards), then about one
        # in ten goes to the root and the rest anywhere in the tree.
        if n < len(folder_uids) + 1 and dashboards > len(folder_uids):
            folder = folder_uids[n] if n < len(folder_uids) else None
        else:
            folder = None if not folder_uids or rng.random() < 0.1 else rng.choice(folder_uids)
        taken_titles = titles_in.setdefault(folder, set())
        if corpus is not None:
            stem, source = corpus[n % len(corpus)]
            k = copies.get(stem, 0)
            copies[stem] = k + 1
            base_title = str(source.get("title") or stem)
            title = base_title if k == 0 else f"{base_title} ({k + 1})"
            base_uid = str(source.get("uid") or stem)[:30]
            uid = base_uid if k == 0 else f"{base_uid}-{k + 1}"
            if uid in existing_dashboards:
                uid = _uid(rng, 9, string.ascii_letters + string.digits, existing_dashboards)
            existing_dashboards.add(uid)
            model = {k2: v for k2, v in source.items() if k2 not in ("id", "version")}
        else:
            uid = _uid(rng, 9, string.ascii_letters + string.digits, existing_dashboards)
            title = f"{rng.choice(_SERVICES)} {rng.choice(_ASPECTS)}"
            if templates:
                # Shares nested values with the template: cheap, and the sandbox never mutates them.
                model = dict(templates[n % len(templates)])
                model["tags"] = sorted(rng.sample(_TAGS, rng.randint(0, 3)))
                model["refresh"] = rng.choice(["", "30s", "1m", "5m"])
                model["description"] = rng.choice(["", f"{title}: golden signals and saturation."])
            else:
                model = make_dashboard(rng, title)
        unique = title
        suffix = 2
        while unique in taken_titles:
            unique = f"{title} {suffix}"
            suffix += 1
        taken_titles.add(unique)
        model["title"] = unique
        model["uid"] = uid
        sandbox._insert_dashboard(model, folder, org)
        dashboard_folders[uid] = folder

    # Every object starts with Grafana's defaults (the admin who made it Admin; Editor and Viewer
    # at the root). Some get an ACL of their own instead, and some have every entry removed, as
    # people do to hide a dashboard from all Viewers.
    with_permissions: list[str] = []
    locked_down: list[str] = []
    if permissions:
        for uid in folder_uids:
            draw = rng.random()
            if draw < 0.3:
                sandbox.set_permissions("folder", uid, _acl(rng, users, teams, folder=True), org=org)
                with_permissions.append(uid)
            elif draw < 0.4:
                sandbox.set_permissions("folder", uid, [], org=org)
                locked_down.append(uid)
        for uid in dashboard_folders:
            draw = rng.random()
            if draw < 0.15:
                sandbox.set_permissions("dashboard", uid, _acl(rng, users, teams, folder=False), org=org)
                with_permissions.append(uid)
            elif draw < 0.2:
                sandbox.set_permissions("dashboard", uid, [], org=org)
                locked_down.append(uid)

    return Population(
        org=org,
        dashboards=list(dashboard_folders),
        folders=folder_uids,
        users=users,
        teams=teams,
        dashboard_folders=dashboard_folders,
        folder_parents=folder_parents,
        with_permissions=with_permissions,
        locked_down=locked_down,
    )
