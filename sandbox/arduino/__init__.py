"""A stand-in for the Arduino IoT Cloud API on loopback: OAuth2 client credentials and dashboards v2.

State lives in memory, guarded by one re-entrant lock, per space: the personal space (no
``X-Organization`` header, or an empty one) and each organization added with ``add_organization``.
Ids (dashboards, widgets, users, things, properties) are uuids the server generates, as in the cloud.
Tests set the state up through the Python API (``add_thing``, ``add_property``, ``add_dashboard`` ...)
and steer tokens and faults through plain attributes (``token_lifetime``, ``reject_tokens``, ``latency``,
``rate_429`` ...).
"""

from __future__ import annotations

import copy
import hmac
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.server import HTTPError, Request, RequestRecord, Response, SandboxServer, json_response

__all__ = ["AUDIENCE", "DASHBOARDS", "TOKEN_PATH", "ArduinoSandbox"]

TOKEN_PATH = "/iot/v1/clients/token"  # noqa: S105 - an endpoint, not a credential
AUDIENCE = "https://api2.arduino.cc/iot"
DASHBOARDS = "/iot/v2/dashboards"
_SEG = "[^/]+"
# Widget keys the server owns or interprets; every other key a client sends is stored as given.
_WIDGET_MANAGED = frozenset({"id", "type", "name", "variables"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, code: str, detail: str) -> HTTPError:
    """A goa-style error body, as the cloud answers."""
    return HTTPError(status, {"id": uuid.uuid4().hex[:8], "code": code, "status": status, "detail": detail})


def _bad_request(detail: str) -> HTTPError:
    return _error(400, "bad_request", detail)


def _not_found(detail: str) -> HTTPError:
    return _error(404, "not_found", detail)


# -- state --------------------------------------------------------------------------------------


@dataclass
class _Property:
    id: str
    thing_id: str
    name: str
    type: str
    permission: str
    variable_name: str


@dataclass
class _Thing:
    id: str
    name: str
    properties: dict[str, _Property] = field(default_factory=dict)


@dataclass
class _Widget:
    id: str
    type: str
    name: str | None
    # options, layout and whatever else the client sent: never mutated in place.
    fields: dict[str, Any]
    variables: list[str]


@dataclass
class _Dashboard:
    id: str
    name: str
    widgets: list[_Widget]
    created_by: str
    created_at: str
    updated_at: str
    shares: dict[str, None] = field(default_factory=dict)


@dataclass
class _Space:
    org: str
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    things: dict[str, _Thing] = field(default_factory=dict)
    properties: dict[str, _Property] = field(default_factory=dict)
    share_requests: list[tuple[str, str]] = field(default_factory=list)


# -- the sandbox --------------------------------------------------------------------------------


class ArduinoSandbox(SandboxServer):
    """Arduino IoT Cloud stand-in: the token endpoint, every dashboards v2 endpoint, spaces, shares."""

    logged_headers = ("X-Organization", "Content-Type", "Accept", "User-Agent")

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",  # noqa: S107 - a fixed test credential
        token_lifetime: float = 300.0,
        organizations: Iterable[str] = (),
        owner: str = "sandbox-owner",
        latency: float = 0.0,
        rate_429: float = 0.0,
        retry_after: int = 1,
        rate_503: float = 0.0,
        seed: int | None = 0,
        log_bodies: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            latency=latency,
            rate_429=rate_429,
            retry_after=retry_after,
            rate_503=rate_503,
            seed=seed,
            host=host,
            port=port,
            log_bodies=log_bodies,
        )
        self.client_id = client_id
        self.client_secret = client_secret
        #: Seconds an access token stays valid (the cloud gives 300).
        self.token_lifetime = token_lifetime
        #: When true every API call is answered 401, whatever the token (the token endpoint still works).
        self.reject_tokens = False
        self.lock = threading.RLock()
        self._id_rng = random.Random(seed)
        self._value_rng = random.Random(seed)
        self._tokens: dict[str, float] = {}
        self._users: dict[str, str] = {}
        self.owner_id = self.add_user(owner)
        self._spaces: dict[str, _Space] = {"": _Space("")}
        for org in organizations:
            self.add_organization(org)
        self._register_routes()

    # -- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self.route
        one = rf"{DASHBOARDS}/(?P<id>{_SEG})"
        r("POST", TOKEN_PATH, self._issue_token)
        r("GET", DASHBOARDS, self._list)
        r("POST", DASHBOARDS, self._create)
        r("GET", one, self._show)
        r("PUT", one, self._update)
        r("PATCH", one, self._patch)
        r("DELETE", one, self._delete)
        r("PUT", rf"{one}/clone", self._clone)
        r("PUT", rf"{one}/share_request", self._share_request)
        r("GET", rf"{one}/shares", self._list_shares)
        r("PUT", rf"{one}/shares", self._share)
        r("DELETE", rf"{one}/shares/(?P<user>{_SEG})", self._unshare)
        r("GET", rf"{one}/template", self._template)
        r("PUT", rf"{one}/widgets/(?P<widget>{_SEG})/variables", self._link)

    # -- auth and spaces ---------------------------------------------------------------------------

    def authenticate(self, request: Request) -> str | None:
        """The token endpoint is open; everything else needs a live bearer token it issued."""
        if request.path == TOKEN_PATH:
            return "anonymous"
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self.lock:
            if self.reject_tokens:
                return None
            expires = self._tokens.get(token.strip())
            if expires is None or time.monotonic() >= expires:
                return None
        return f"client:{self.client_id}"

    def unauthorized(self, request: Request) -> Response:
        """The cloud's 401 for a missing, unknown or expired token."""
        body = {"code": "unauthorized", "status": 401, "detail": "invalid or expired access token"}
        return json_response(body, 401)

    def not_found(self, request: Request) -> Response:
        """The answer for requests no route matches."""
        return json_response({"code": "not_found", "status": 404, "detail": "no such endpoint"}, 404)

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

    # -- helpers -----------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _user_ref(self, user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "username": self._users.get(user_id)}

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

    def _widget_json(self, space: _Space, w: _Widget) -> dict[str, Any]:
        out: dict[str, Any] = {"id": w.id, "type": w.type, "name": w.name}
        out.update(copy.deepcopy(w.fields))
        out["variables"] = [self._linked(space, pid) for pid in w.variables if pid in space.properties]
        return out

    def _dash_json(self, space: _Space, d: _Dashboard) -> dict[str, Any]:
        return {
            "id": d.id,
            "name": d.name,
            "widgets": [self._widget_json(space, w) for w in d.widgets],
            "organization_id": space.org or None,
            "created_by": self._user_ref(d.created_by),
            "shared_by": None,
            "shared_with": [self._user_ref(u) for u in d.shares],
            "created_at": d.created_at,
            "updated_at": d.updated_at,
            "deleted_at": None,
        }

    def _variable_ids(self, space: _Space, raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise _bad_request("variables must be a list of property ids")
        ids: list[str] = []
        for v in raw:
            # Linked-variable objects, as a GET returns them, are taken by their id.
            pid = v.get("id") if isinstance(v, dict) else v
            if not isinstance(pid, str):
                raise _bad_request("variables must be a list of property ids")
            if pid not in space.properties:
                raise _bad_request(f"variable {pid} not found")
            if pid not in ids:
                ids.append(pid)
        return ids

    def _parse_widgets(self, space: _Space, raw: Any, existing: list[_Widget]) -> list[_Widget]:
        """Widgets of a create/update body: a current widget's id is kept, any other id is replaced."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _bad_request("widgets must be a list")
        old = {w.id: w for w in existing}
        out: list[_Widget] = []
        for item in raw:
            if not isinstance(item, dict):
                raise _bad_request("a widget must be an object")
            wtype = item.get("type")
            if not isinstance(wtype, str) or not wtype:
                raise _bad_request("widget type is required")
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                raise _bad_request("widget name must be a string")
            options = item.get("options", {})
            if options is not None and not isinstance(options, dict):
                raise _bad_request("widget options must be an object")
            wid = item.get("id")
            prev = old.pop(wid, None) if isinstance(wid, str) else None
            raw_vars = item.get("variables")
            if raw_vars is None:
                variables = list(prev.variables) if prev is not None else []
            else:
                variables = self._variable_ids(space, raw_vars)
            fields = {k: copy.deepcopy(v) for k, v in item.items() if k not in _WIDGET_MANAGED}
            fields["options"] = copy.deepcopy(options) if options is not None else {}
            out.append(_Widget(prev.id if prev else self._uuid(), wtype, name, fields, variables))
        return out

    @staticmethod
    def _name(body: dict[str, Any], *, required: bool) -> str | None:
        name = body.get("name")
        if name is None and not required:
            return None
        if not isinstance(name, str) or not name.strip():
            raise _bad_request("name is required")
        return name

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        if req.json is None:
            return {}
        if not isinstance(req.json, dict):
            raise _bad_request("the body must be a JSON object")
        return req.json

    def _new_dashboard(
        self, space: _Space, name: str, widgets: list[_Widget], created_by: str | None = None
    ) -> _Dashboard:
        dashboard_id = self._uuid()
        now = _now()
        d = _Dashboard(dashboard_id, name, widgets, created_by or self.owner_id, now, now)
        space.dashboards[dashboard_id] = d
        return d

    # -- token -------------------------------------------------------------------------------------

    def _issue_token(self, req: Request) -> Response:
        form = req.json if isinstance(req.json, dict) else req.form
        if form.get("grant_type") != "client_credentials":
            raise HTTPError(400, {"error": "unsupported_grant_type", "error_description": "grant_type"})
        if form.get("audience") != AUDIENCE:
            raise HTTPError(400, {"error": "invalid_request", "error_description": "unknown audience"})
        id_ok = hmac.compare_digest(str(form.get("client_id", "")).encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(
            str(form.get("client_secret", "")).encode(), self.client_secret.encode()
        )
        if not (id_ok and secret_ok):
            body = {"error": "invalid_client", "error_description": "Invalid client credentials"}
            return json_response(body, 401)
        token = secrets.token_urlsafe(32)
        with self.lock:
            now = time.monotonic()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self.token_lifetime
        expires_in = max(1, round(self.token_lifetime))
        return json_response({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    # -- dashboards --------------------------------------------------------------------------------

    def _list(self, req: Request) -> Response:
        name = (req.arg("name") or "").lower()
        user = req.arg("user_id")
        with self.lock:
            space = self._space(req)
            found = [
                self._dash_json(space, d)
                for d in space.dashboards.values()
                if (not name or name in d.name.lower())
                and (user is None or user == d.created_by or user in d.shares)
            ]
        return json_response(found)

    def _create(self, req: Request) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            name = self._name(body, required=True)
            assert name is not None
            widgets = self._parse_widgets(space, body.get("widgets"), [])
            d = self._new_dashboard(space, name, widgets)
            return json_response(self._dash_json(space, d), 201)

    def _show(self, req: Request) -> Response:
        with self.lock:
            space = self._space(req)
            return json_response(self._dash_json(space, self._dash(space, req.params["id"])))

    def _write(self, req: Request, *, replace: bool) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            name = self._name(body, required=replace)
            if "widgets" in body or replace:
                d.widgets = self._parse_widgets(space, body.get("widgets"), d.widgets)
            if name is not None:
                d.name = name
            d.updated_at = _now()
            return json_response(self._dash_json(space, d))

    def _update(self, req: Request) -> Response:
        return self._write(req, replace=True)

    def _patch(self, req: Request) -> Response:
        return self._write(req, replace=False)

    def _delete(self, req: Request) -> Response:
        force = (req.arg("force") or "false").lower()
        if force not in ("true", "false"):
            raise _bad_request("force must be true or false")
        with self.lock:
            space = self._space(req)
            self._dash(space, req.params["id"])
            del space.dashboards[req.params["id"]]
        return Response(200, raw=b"")

    def _clone(self, req: Request) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            source = self._dash(space, req.params["id"])
            name = self._name(body, required=False) or f"{source.name} (copy)"
            moves: dict[str, str] = {}
            for o in body.get("overwrites") or []:
                if not isinstance(o, dict) or not isinstance(o.get("old_thing_id"), str):
                    raise _bad_request("overwrites must be objects with old_thing_id and new_thing_id")
                new = o.get("new_thing_id")
                if not isinstance(new, str) or new not in space.things:
                    raise _bad_request(f"thing {new} not found")
                moves[o["old_thing_id"]] = new
            widgets = []
            for w in source.widgets:
                widgets.append(
                    _Widget(self._uuid(), w.type, w.name, w.fields, self._moved(space, w.variables, moves))
                )
            d = self._new_dashboard(space, name, widgets)
            return json_response(self._dash_json(space, d), 201)

    @staticmethod
    def _moved(space: _Space, variables: list[str], moves: dict[str, str]) -> list[str]:
        """Links of a clone: a property of a moved thing becomes the new thing's property of that name."""
        out: list[str] = []
        for pid in variables:
            p = space.properties.get(pid)
            if p is None:
                continue
            if p.thing_id not in moves:
                out.append(pid)
                continue
            target = space.things[moves[p.thing_id]]
            out.extend(q.id for q in target.properties.values() if q.variable_name == p.variable_name)
        return out

    def _share_request(self, req: Request) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            user = body.get("user_id") or self.owner_id
            space.share_requests.append((d.id, str(user)))
        return Response(200, raw=b"")

    def _list_shares(self, req: Request) -> Response:
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            return json_response([self._user_ref(u) for u in d.shares])

    def _share(self, req: Request) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            user = body.get("user_id")
            if user is None and isinstance(body.get("username"), str):
                user = next((u for u, n in self._users.items() if n == body["username"]), None)
            if not isinstance(user, str) or user not in self._users:
                raise _bad_request(f"user {user} not found")
            if user == d.created_by:
                raise _bad_request("a dashboard cannot be shared with its owner")
            d.shares[user] = None
        return Response(200, raw=b"")

    def _unshare(self, req: Request) -> Response:
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            user = req.params["user"]
            if user not in d.shares:
                raise _not_found(f"dashboard is not shared with user {user}")
            del d.shares[user]
        return Response(200, raw=b"")

    def _template(self, req: Request) -> Response:
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            widgets = []
            for w in d.widgets:
                entry: dict[str, Any] = {"type": w.type, "name": w.name, **copy.deepcopy(w.fields)}
                entry["variables"] = [
                    {
                        "thing_id": space.properties[pid].thing_id,
                        "variable_id": space.properties[pid].variable_name,
                    }
                    for pid in w.variables
                    if pid in space.properties
                ]
                widgets.append(entry)
            return json_response({"name": d.name, "widgets": widgets, "organization_id": space.org or None})

    def _link(self, req: Request) -> Response:
        body = self._body(req)
        with self.lock:
            space = self._space(req)
            d = self._dash(space, req.params["id"])
            widget = next((w for w in d.widgets if w.id == req.params["widget"]), None)
            if widget is None:
                raise _not_found(f"widget {req.params['widget']} not found")
            ids = self._variable_ids(space, body.get("variables", []))
            widget.variables = ids
            d.updated_at = _now()
            return json_response({"variables": ids})

    # -- Python API --------------------------------------------------------------------------------

    def _space_of(self, org: str) -> _Space:
        space = self._spaces.get(org)
        if space is None:
            raise KeyError(f"organization {org!r} not found")
        return space

    def add_organization(self, org: str | None = None) -> str:
        """Add a shared space (its id is generated if not given); returns its id."""
        with self.lock:
            org_id = org or self._uuid()
            self._spaces.setdefault(org_id, _Space(org_id))
            return org_id

    def organizations(self) -> list[str]:
        """Ids of the shared spaces (the personal space, "", is not listed)."""
        with self.lock:
            return sorted(o for o in self._spaces if o)

    def add_user(self, username: str) -> str:
        """A user dashboards can be shared with (reused by username); returns its id."""
        with self.lock:
            for user_id, name in self._users.items():
                if name == username:
                    return user_id
            user_id = self._uuid()
            self._users[user_id] = username
            return user_id

    def add_thing(self, name: str, org: str = "") -> str:
        """Add a thing to a space; returns its id."""
        with self.lock:
            space = self._space_of(org)
            thing = _Thing(self._uuid(), name)
            space.things[thing.id] = thing
            return thing.id

    def add_property(
        self,
        thing_id: str,
        name: str,
        *,
        type: str = "FLOAT",
        permission: str = "READ_WRITE",
        variable_name: str | None = None,
    ) -> str:
        """Add a property (a cloud variable) to a thing; returns its id."""
        with self.lock:
            space = next((s for s in self._spaces.values() if thing_id in s.things), None)
            if space is None:
                raise KeyError(f"thing {thing_id!r} not found")
            prop = _Property(self._uuid(), thing_id, name, type, permission, variable_name or name)
            space.things[thing_id].properties[prop.id] = prop
            space.properties[prop.id] = prop
            return prop.id

    def delete_property(self, property_id: str) -> None:
        """Delete a property: widgets linked to it lose that link, as in the cloud."""
        with self.lock:
            for space in self._spaces.values():
                prop = space.properties.pop(property_id, None)
                if prop is None:
                    continue
                space.things[prop.thing_id].properties.pop(property_id, None)
                for d in space.dashboards.values():
                    for w in d.widgets:
                        if property_id in w.variables:
                            w.variables = [p for p in w.variables if p != property_id]
                return
            raise KeyError(f"property {property_id!r} not found")

    def delete_thing(self, thing_id: str) -> None:
        """Delete a thing and its properties."""
        with self.lock:
            for space in self._spaces.values():
                thing = space.things.get(thing_id)
                if thing is None:
                    continue
                for pid in list(thing.properties):
                    self.delete_property(pid)
                del space.things[thing_id]
                return
            raise KeyError(f"thing {thing_id!r} not found")

    def property_exists(self, property_id: str) -> bool:
        """Whether a property exists in any space."""
        with self.lock:
            return any(property_id in s.properties for s in self._spaces.values())

    def add_dashboard(
        self,
        name: str,
        widgets: Iterable[dict[str, Any]] = (),
        org: str = "",
        shares: Iterable[str] = (),
    ) -> str:
        """Create a dashboard from widgets in the create-body shape (`variables` = property ids); its id."""
        with self.lock:
            space = self._space_of(org)
            try:
                parsed = self._parse_widgets(space, list(widgets), [])
            except HTTPError as exc:
                raise ValueError(str(exc.response.body.get("detail"))) from None
            d = self._new_dashboard(space, name, parsed)
            for user in shares:
                if user not in self._users:
                    raise KeyError(f"user {user!r} not found")
                d.shares[user] = None
            return d.id

    def get_dashboard(self, dashboard_id: str, org: str = "") -> dict[str, Any] | None:
        """The dashboard as `GET /dashboards/{id}` returns it, or None."""
        with self.lock:
            space = self._space_of(org)
            d = space.dashboards.get(dashboard_id)
            return self._dash_json(space, d) if d is not None else None

    def update_dashboard(self, dashboard_id: str, changes: dict[str, Any], org: str = "") -> None:
        """Apply `name` and/or `widgets` (create-body shape; widget ids kept when they match) as a save."""
        with self.lock:
            space = self._space_of(org)
            d = space.dashboards[dashboard_id]
            if "widgets" in changes:
                d.widgets = self._parse_widgets(space, changes["widgets"], d.widgets)
            if "name" in changes:
                d.name = str(changes["name"])
            d.updated_at = _now()

    def delete_dashboard(self, dashboard_id: str, org: str = "") -> None:
        """Delete a dashboard and its shares."""
        with self.lock:
            space = self._space_of(org)
            if dashboard_id not in space.dashboards:
                raise KeyError(f"dashboard {dashboard_id!r} not found")
            del space.dashboards[dashboard_id]

    def set_share(self, dashboard_id: str, user_id: str, org: str = "") -> None:
        """Share a dashboard with a user."""
        with self.lock:
            if user_id not in self._users:
                raise KeyError(f"user {user_id!r} not found")
            self._space_of(org).dashboards[dashboard_id].shares[user_id] = None

    def remove_share(self, dashboard_id: str, user_id: str, org: str = "") -> None:
        """Stop sharing a dashboard with a user."""
        with self.lock:
            del self._space_of(org).dashboards[dashboard_id].shares[user_id]

    def shares(self, dashboard_id: str, org: str = "") -> list[str]:
        """Ids of the users a dashboard is shared with, in the order they were added."""
        with self.lock:
            return list(self._space_of(org).dashboards[dashboard_id].shares)

    def share_requests(self, org: str = "") -> list[tuple[str, str]]:
        """(dashboard id, user id) of every access request received."""
        with self.lock:
            return list(self._space_of(org).share_requests)

    def dashboards(self, org: str = "") -> list[str]:
        """Sorted ids of a space's dashboards."""
        with self.lock:
            return sorted(self._space_of(org).dashboards)

    def dashboards_named(self, name: str, org: str = "") -> list[str]:
        """Ids of a space's dashboards called exactly `name`, oldest first."""
        with self.lock:
            return [d.id for d in self._space_of(org).dashboards.values() if d.name == name]

    def wipe(self, org: str = "") -> None:
        """Delete every dashboard of a space; things, properties and users stay."""
        with self.lock:
            self._space_of(org).dashboards.clear()

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far: the next call with one gets a 401."""
        with self.lock:
            self._tokens.clear()

    def token_requests(self) -> list[RequestRecord]:
        """Logged calls to the token endpoint."""
        return [r for r in self.logged_requests() if r.path == TOKEN_PATH]

    def write_requests(self) -> list[RequestRecord]:
        """Logged API calls that were not GET or HEAD (token requests excluded)."""
        return [r for r in self.logged_requests() if r.method not in ("GET", "HEAD") and r.path != TOKEN_PATH]
