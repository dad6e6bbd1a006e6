"""The Arduino sandbox's dashboards v2 HTTP handlers: list, create, show, update, patch, delete, clone,
share requests, shares, template and widget variable links.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.arduino.core import _ArduinoBase
from sandbox.arduino.protocol import _bad_request, _not_found, _now
from sandbox.arduino.state import _Space, _Widget
from sandbox.server import Request, Response, json_response


class _DashboardRoutes(_ArduinoBase):
    """Handlers for every ``/iot/v2/dashboards`` route :class:`~sandbox.arduino.ArduinoSandbox` registers."""

    # -- dashboards --------------------------------------------------------------------------------

    def _list(self, req: Request) -> Response:
        name = (req.arg("name") or "").lower()
        user = req.arg("user_id")
        with self.lock:
            space = self._space(req)
            found = [
                self._dash_json(space, d)
                for d in space.dashboards.values()
                if d.id not in self.hidden_from_listing
                and (not name or name in d.name.lower())
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
