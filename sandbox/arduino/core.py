"""The shared base of the Arduino sandbox: its state, space and dashboard lookup, and the JSON it speaks.

Request bodies become the in-memory model (``_parse_widgets`` ...) and the model becomes the cloud's JSON
(``_dash_json`` ...). The token endpoint (``oauth``), the dashboard routes (``routes``) and the Python API
(``api``) build on it; ``server.ArduinoSandbox`` puts them together.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from typing import Any

from sandbox.arduino.protocol import _bad_request, _error, _not_found, _now
from sandbox.arduino.state import _Dashboard, _Space, _Widget
from sandbox.server import Request, Response, SandboxServer, json_response

# Widget keys the server owns or interprets; every other key a client sends is stored as given.
_WIDGET_MANAGED = frozenset({"id", "type", "name", "variables"})


class _ArduinoBase(SandboxServer):
    """State and helpers shared by every part of ``ArduinoSandbox``; its constructor sets them."""

    client_id: str
    client_secret: str
    token_lifetime: float
    reject_tokens: bool
    hidden_from_listing: set[str]
    lock: threading.RLock
    _id_rng: random.Random
    _value_rng: random.Random
    _tokens: dict[str, float]
    _users: dict[str, str]
    owner_id: str
    _spaces: dict[str, _Space]

    # -- auth and spaces ---------------------------------------------------------------------------

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
