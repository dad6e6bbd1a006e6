"""The shared base of the Arduino sandbox: its state, space and dashboard lookup, and the JSON it speaks.

Request bodies become the in-memory model (``_parse_widgets`` ...) and the model becomes the cloud's JSON
(``_dash_json`` ...), both as Arduino's published OpenAPI document (iot-client-go ``api/openapi.yaml``)
describes them: the request models ``dashboardv2``/``dashboardv3``, ``widget``/``widgetv3`` and
``pagepayload``, the media types ``ArduinoDashboardv2``/``ArduinoDashboardv3``, ``ArduinoWidgetv2``/``v3``,
``ArduinoLinkedvariable`` and ``ArduinoPagevariable``. The cloud is a goa service: a body is decoded into
the design's types (keys the design lacks are dropped, as Go's ``encoding/json`` does) and validated
against the design's limits (``maxLength``, ``pattern`` as an unanchored ``regexp.MatchString``,
``format: uuid``, ``required``), a violation answering 400 with a goa error. What the cloud does beyond
the document (e.g. which pages a v2 read shows) is not published; each such choice says so where made.
"""

from __future__ import annotations

import copy
import random
import re
import threading
import uuid
from typing import Any

from sandbox.arduino.protocol import GOA_ERROR, _bad_request, _error, _not_found, _now
from sandbox.arduino.state import MAIN_PAGE, _Dashboard, _Page, _Space, _Widget
from sandbox.server import Request, Response, SandboxServer, json_response

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# `dashboardv2.name`, `pagepayload.name`: maxLength 64, pattern "[a-zA-Z0-9_.@-]+" (goa: MatchString).
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.@-]+")
NAME_MAX = 64
COVER_IMAGE_MAX = 1024
PAGES_MAX = 30  # dashboardv3.pages maxItems
#: `widget` fields that are integers (format int64); the first four are required.
LAYOUT = ("x", "y", "width", "height")
MOBILE_LAYOUT = ("x_mobile", "y_mobile", "width_mobile", "height_mobile")
# Widget types that write to their variable: one linked to a READ_ONLY property is flagged
# `has_permission_incompatibility` ("True if the linked variables permissions are incompatible with
# the widget"); which types the cloud counts is not published: these are the editor's input widgets.
INPUT_WIDGETS = frozenset({"switch", "push_button", "slider", "stepper", "color", "dimmer", "text_input"})


def media(kind: str, *, collection: bool = False) -> dict[str, str]:
    """The Content-Type header the cloud answers with (`application/vnd.arduino.<kind>+json`)."""
    suffix = "; type=collection" if collection else ""
    return {"Content-Type": f"application/vnd.arduino.{kind}+json{suffix}"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_name(value: Any, what: str) -> str:
    """A `name` as the request models limit it."""
    if not isinstance(value, str):
        raise _bad_request(f"{what} must be a string")
    if len(value) > NAME_MAX:
        raise _bad_request(f"{what} length must be less or equal than {NAME_MAX}")
    if not NAME_PATTERN.search(value):
        raise _bad_request(f"{what} must match the regular expression '{NAME_PATTERN.pattern}'")
    return value


class _ArduinoBase(SandboxServer):
    """State and helpers shared by every part of ``ArduinoSandbox``; its constructor sets them."""

    client_id: str
    client_secret: str
    token_lifetime: float
    reject_tokens: bool
    serves_v3: bool
    strict_org_tokens: bool
    org_mismatches: int
    token_spaces: list[str]
    hidden_from_listing: set[str]
    lock: threading.RLock
    _id_rng: random.Random
    _value_rng: random.Random
    _tokens: dict[str, tuple[float, str]]
    _users: dict[str, str]
    owner_id: str
    _spaces: dict[str, _Space]

    # -- auth and spaces ---------------------------------------------------------------------------

    def not_found(self, request: Request) -> Response:
        """The answer for requests no route matches."""
        return json_response(
            {"code": "not_found", "status": 404, "detail": "no such endpoint"}, 404, GOA_ERROR
        )

    def _space(self, req: Request) -> _Space:
        org = (req.header("x-organization") or "").strip()
        space = self._spaces.get(org)
        if space is None:
            raise _error(403, "forbidden", f"not a member of organization {org}")
        return space

    def _dash(self, space: _Space, dashboard_id: str) -> _Dashboard:
        d = space.dashboards.get(dashboard_id)
        if d is None:
            raise _not_found(f"dashboard {dashboard_id} not found")
        return d

    # -- JSON out ----------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _user_ref(self, user_id: str) -> dict[str, Any]:
        name = self._users.get(user_id)
        return {"user_id": user_id, **({"username": name} if name is not None else {})}

    def _linked(self, space: _Space, pid: str) -> dict[str, Any]:
        p = space.properties[pid]
        thing = space.things[p.thing_id]
        # Live readings move all the time: a backup must not see them as a change.
        value: Any = round(self._value_rng.uniform(0, 100), 2) if p.type in ("FLOAT", "INT") else "on"
        return {
            "id": p.id,
            "name": p.name,
            "thing_id": thing.id,
            "thing_name": thing.name,
            "type": p.type,
            "permission": p.permission,
            "variable_name": p.variable_name,
            "last_value": value,
            "last_value_updated_at": _now(),
        }

    def _widget_json(self, space: _Space, w: _Widget, version: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": w.id, "type": w.type}
        if w.name is not None:
            out["name"] = w.name
        out.update(copy.deepcopy(w.fields))
        linked = [pid for pid in w.variables if pid in space.properties]
        out["variables"] = [self._linked(space, pid) for pid in linked]
        # Computed by the cloud on every read (ArduinoWidgetv2: not part of the `widget` request model).
        out["has_permission_incompatibility"] = w.type in INPUT_WIDGETS and any(
            space.properties[pid].permission == "READ_ONLY" for pid in linked
        )
        out["has_type_incompatibility"] = False
        out["has_unlinked_variable"] = len(linked) < len(w.variables)
        if version >= 3:
            out["page_id"] = w.page_id
        return out

    def _dash_json(self, space: _Space, d: _Dashboard, version: int = 2) -> dict[str, Any]:
        out: dict[str, Any] = {"id": d.id, "name": d.name, "updated_at": d.updated_at}
        if d.cover_image is not None:
            out["cover_image"] = d.cover_image
        out["created_by"] = self._user_ref(d.created_by)
        if space.org:
            out["organization_id"] = space.org
        out["shared_with"] = [self._user_ref(u) for u in d.shares]
        # Not published: which widgets a v2 read of a dashboard with pages shows. All of them here (v2
        # has no notion of pages), so a v2-only client sees every widget, flattened.
        out["widgets"] = [self._widget_json(space, w, version) for w in d.widgets]
        if version >= 3:
            out["pages"] = [_page_json(p) for p in sorted(d.pages, key=lambda p: (p.position, p.id))]
        return out

    # -- JSON in -----------------------------------------------------------------------------------

    def _variable_ids(self, space: _Space, raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise _bad_request("variables must be an array of property ids")
        ids: list[str] = []
        for pid in raw:
            if not isinstance(pid, str) or not UUID.match(pid):
                raise _bad_request("variables[*] must be formatted as a uuid")
            if pid not in space.properties:
                raise _bad_request(f"variable {pid} not found")
            if pid not in ids:
                ids.append(pid)
        return ids

    def _parse_widgets(
        self, space: _Space, raw: Any, existing: list[_Widget], *, version: int, pages: set[str]
    ) -> list[_Widget]:
        """Widgets of a create/update body (`widget` / `widgetv3`): the client sets their ids."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _bad_request("widgets must be an array")
        old = {w.id: w for w in existing}
        out: list[_Widget] = []
        seen: set[str] = set()
        for item in raw:
            if not isinstance(item, dict):
                raise _bad_request("a widget must be an object")
            for key in ("id", "type", "options", *LAYOUT):
                if key not in item or item[key] is None:
                    raise _bad_request(f'"{key}" is missing from widget')
            wid, wtype, options = item["id"], item["type"], item["options"]
            if not isinstance(wid, str) or not UUID.match(wid):
                raise _bad_request("widget.id must be formatted as a uuid")
            if wid in seen:
                # Not published: ids are the client's, and one dashboard cannot hold the same twice.
                raise _bad_request(f"widget {wid} appears twice")
            seen.add(wid)
            if not isinstance(wtype, str):
                raise _bad_request("widget.type must be a string")
            if not isinstance(options, dict):
                raise _bad_request("widget.options must be an object")
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                raise _bad_request("widget.name must be a string")
            fields: dict[str, Any] = {"options": copy.deepcopy(options)}
            for key in (*LAYOUT, *MOBILE_LAYOUT):
                value = item.get(key)
                if value is None:
                    continue
                if not _is_int(value):
                    raise _bad_request(f"widget.{key} must be an integer")
                fields[key] = value
            prev = old.get(wid)
            raw_vars = item.get("variables")
            if raw_vars is None:
                # Not published: a widget without `variables` in an update keeps its links here.
                variables = list(prev.variables) if prev is not None else []
            else:
                variables = self._variable_ids(space, raw_vars)
            page_id = prev.page_id if prev is not None else MAIN_PAGE
            if version >= 3 and item.get("page_id") is not None:
                page_id = item["page_id"]
                if not isinstance(page_id, str) or not (page_id == MAIN_PAGE or UUID.match(page_id)):
                    raise _bad_request("widget.page_id must match the regular expression of a uuid or 0")
            if page_id != MAIN_PAGE and page_id not in pages:
                if version < 3:
                    page_id = MAIN_PAGE  # a v2 write cannot name pages: its new widgets go to the main page
                else:
                    raise _bad_request(f"page {page_id} not found")
            out.append(_Widget(wid, wtype, name, fields, variables, page_id))
        return out

    @staticmethod
    def _parse_pages(raw: Any) -> list[_Page]:
        """`dashboardv3.pages` (`pagepayload`): the client sets their ids."""
        if not isinstance(raw, list):
            raise _bad_request("pages must be an array")
        if len(raw) > PAGES_MAX:
            raise _bad_request(f"pages length must be less or equal than {PAGES_MAX}")
        pages: list[_Page] = []
        for item in raw:
            if not isinstance(item, dict):
                raise _bad_request("a page must be an object")
            for key in ("id", "name", "position"):
                if item.get(key) is None:
                    raise _bad_request(f'"{key}" is missing from page')
            if not isinstance(item["id"], str) or not UUID.match(item["id"]):
                raise _bad_request("page.id must be formatted as a uuid")
            if any(p.id == item["id"] for p in pages):
                raise _bad_request(f"page {item['id']} appears twice")
            if not _is_int(item["position"]):
                raise _bad_request("page.position must be an integer")
            icon = item.get("icon")
            if icon is not None and (not isinstance(icon, str) or len(icon) > COVER_IMAGE_MAX):
                raise _bad_request(f"page.icon must be a string of at most {COVER_IMAGE_MAX} characters")
            pages.append(_Page(item["id"], check_name(item["name"], "page.name"), item["position"], icon))
        return pages

    def _apply_body(
        self, space: _Space, d: _Dashboard, body: dict[str, Any], *, version: int, replace: bool
    ) -> None:
        """A create, update (`replace`) or patch body on a dashboard: the fields it holds, validated whole
        before anything changes."""
        name = d.name
        if "name" in body or replace:
            if not body.get("name"):
                raise _bad_request('"name" is missing from body')
            name = check_name(body["name"], "body.name")
        cover = d.cover_image
        if body.get("cover_image") is not None:
            cover = body["cover_image"]
            if not isinstance(cover, str) or len(cover) > COVER_IMAGE_MAX:
                raise _bad_request(f"body.cover_image length must be less or equal than {COVER_IMAGE_MAX}")
        soft = body.get("soft_deleted")
        if soft is not None and not isinstance(soft, bool):
            raise _bad_request("body.soft_deleted must be a boolean")
        pages = d.pages
        if version >= 3 and body.get("pages") is not None:
            pages = self._parse_pages(body["pages"])
        widgets = d.widgets
        if "widgets" in body or replace:
            page_ids = {p.id for p in pages}
            widgets = self._parse_widgets(
                space, body.get("widgets"), d.widgets, version=version, pages=page_ids
            )
        elif pages is not d.pages:
            gone = {w.page_id for w in widgets} - {p.id for p in pages} - {MAIN_PAGE}
            if gone:
                raise _bad_request(f"page {sorted(gone)[0]} still holds widgets")
        d.name, d.cover_image, d.pages, d.widgets = name, cover, pages, widgets
        d.updated_at = _now()

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        if req.json is None:
            return {}
        if not isinstance(req.json, dict):
            raise _bad_request("the body must be a JSON object")
        return req.json

    def _create_dashboard(
        self, space: _Space, body: dict[str, Any], *, version: int, created_by: str | None = None
    ) -> _Dashboard:
        """A new dashboard from a create body; the cloud gives it its id, the client its widgets' ids."""
        d = _Dashboard(self._uuid(), "", [], created_by or self.owner_id, _now())
        self._apply_body(space, d, body, version=version, replace=True)
        space.dashboards[d.id] = d
        return d


def _page_json(p: _Page) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p.id, "name": p.name, "position": p.position}
    if p.icon is not None:
        out["icon"] = p.icon
    return out
