"""The sandbox Grafana's public dashboards: ``/api/dashboards/.../public-dashboards``.

Followed from Grafana's source (grafana/grafana 11.x/12.x, pkg/services/publicdashboards: ``api.go``,
``service.go``, ``validation.go``, ``models/errors.go``, ``database.go``):

- One public dashboard per dashboard. A create may choose its ``uid`` (a short uid) and its
  ``accessToken`` (anything ``uuid.Parse`` accepts; Grafana makes 32 lowercase hex), both unique
  across the whole server; unset booleans are false, an unset share is "public"; the answer is 200.
- A patch changes ``isEnabled``, ``annotationsEnabled``, ``timeSelectionEnabled`` (when given) and
  ``share`` (when not empty) only: ``uid`` and ``accessToken`` in its body are ignored.
- A GET by dashboard never checks the dashboard: an unknown one is "not found" like a dashboard
  without a public one. The list (``perpage`` 1000 unless given) is ordered by dashboard title and
  leaves out dashboards the caller cannot see, from the items and from ``totalCount``.
- Writes need ``dashboards.public:write``, held by the org Admin alone (fixed:dashboards.public:writer).
- ``[public_dashboards] enabled = false`` removes the routes: a plain 404.
- Errors are ``errutil`` public errors: ``{"statusCode", "messageId", "message"}``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sandbox.grafana.python_api import PythonApi
from sandbox.grafana.state import _now, _Org, _PublicDashboard, slugify
from sandbox.server import HTTPError, Request, Response, json_response

_SHORT_UID = re.compile(r"[a-zA-Z0-9\-_]+")


def _error(status: int, message_id: str, message: str) -> HTTPError:
    return HTTPError(
        status, {"statusCode": status, "messageId": f"publicdashboards.{message_id}", "message": message}
    )


def _valid_token(token: str) -> bool:
    try:
        uuid.UUID(token)
    except ValueError:
        return False
    return True


class PublicApi(PythonApi):
    """Handlers of the public dashboard routes and the test-side calls that set them up."""

    def add_public_dashboard(
        self,
        dashboard_uid: str,
        *,
        uid: str = "",
        access_token: str = "",
        is_enabled: bool = True,
        org: int = 1,
    ) -> dict[str, Any]:
        """Make a dashboard public, as its admin would; its settings as Grafana returns them."""
        with self.lock:
            o = self._org_by_id(org)
            if dashboard_uid not in o.dashboards:
                raise KeyError(f"dashboard {dashboard_uid!r} not found")
            p = self._new_public(
                o, dashboard_uid, {"uid": uid, "accessToken": access_token, "isEnabled": is_enabled}, 1
            )
            return self._public_json(p)

    def public_dashboard(self, dashboard_uid: str, org: int = 1) -> dict[str, Any] | None:
        """A dashboard's public dashboard as Grafana returns it; None if it has none."""
        with self.lock:
            p = self._org_by_id(org).public.get(dashboard_uid)
            return self._public_json(p) if p is not None else None

    # -- the model ---------------------------------------------------------------------------------

    def _new_public(
        self, org: _Org, dashboard_uid: str, body: dict[str, Any], user_id: int
    ) -> _PublicDashboard:
        uid = body.get("uid") or self._gen_uid(lambda u: self._public_by_uid(u) is not None)
        token = body.get("accessToken") or uuid.UUID(int=self._uid_rng.getrandbits(128)).hex
        now = _now()
        p = _PublicDashboard(
            uid=str(uid),
            dashboard_uid=dashboard_uid,
            access_token=str(token),
            is_enabled=body.get("isEnabled") is True,
            annotations_enabled=body.get("annotationsEnabled") is True,
            time_selection_enabled=body.get("timeSelectionEnabled") is True,
            share=str(body.get("share") or "public"),
            created_by=user_id,
            updated_by=user_id,
            created_at=now,
            updated_at=now,
        )
        org.public[dashboard_uid] = p
        return p

    def _public_by_uid(self, uid: str) -> _PublicDashboard | None:
        return next((p for o in self._orgs.values() for p in o.public.values() if p.uid == uid), None)

    @staticmethod
    def _public_json(p: _PublicDashboard) -> dict[str, Any]:
        return {
            "uid": p.uid,
            "dashboardUid": p.dashboard_uid,
            "accessToken": p.access_token,
            "createdBy": p.created_by,
            "updatedBy": p.updated_by,
            "createdAt": p.created_at,
            "updatedAt": p.updated_at,
            "timeSelectionEnabled": p.time_selection_enabled,
            "isEnabled": p.is_enabled,
            "annotationsEnabled": p.annotations_enabled,
            "share": p.share,
        }

    def _require_public(self) -> None:
        if not self.public_dashboards_enabled:
            raise HTTPError(404, {"message": "Not found"})

    def _public_body(self, req: Request) -> dict[str, Any]:
        body = req.json
        if not isinstance(body, dict):
            raise _error(400, "badRequest", "Bad request")
        share = body.get("share")
        if share not in (None, "", "public", "email"):
            raise _error(400, "invalidShareType", "Invalid share type")
        return body

    # -- handlers ----------------------------------------------------------------------------------

    def _list_public_dashboards(self, req: Request) -> Response:
        self._require_public()
        per_page = req.int_arg("perpage", 0)
        per_page = per_page if per_page > 0 else 1000
        page = max(1, req.int_arg("page", 1))
        with self.lock:
            org = self._org(req)
            caller = self._caller(req, org)
            rows = [
                (org.dashboards[p.dashboard_uid], p)
                for p in org.public.values()
                if p.dashboard_uid in org.dashboards
                and self._visible(org, caller, org.dashboards[p.dashboard_uid])
            ]
            rows.sort(key=lambda row: row[0].title)
            chunk = rows[(page - 1) * per_page : page * per_page]
            items = [
                {
                    "uid": p.uid,
                    "accessToken": p.access_token,
                    "title": d.title,
                    "dashboardUid": d.uid,
                    "isEnabled": p.is_enabled,
                    "slug": slugify(d.title),
                }
                for d, p in chunk
            ]
            return json_response(
                {"publicDashboards": items, "totalCount": len(rows), "page": page, "perPage": per_page}
            )

    def _get_public_dashboard(self, req: Request) -> Response:
        self._require_public()
        uid = req.params["uid"]
        if not _SHORT_UID.fullmatch(uid):
            raise _error(400, "identifierNotSet", "No Uid for public dashboard specified")
        with self.lock:
            org = self._org(req)
            self._require(req, org, "dashboards:read", org.dashboards.get(uid))
            p = org.public.get(uid)
            if p is None:
                raise _error(404, "notFound", "Public dashboard not found")
            return json_response(self._public_json(p))

    def _create_public_dashboard(self, req: Request) -> Response:
        self._require_public()
        dashboard_uid = req.params["uid"]
        if not _SHORT_UID.fullmatch(dashboard_uid):
            raise _error(400, "invalidUid", "Invalid Uid")
        body = self._public_body(req)
        uid, token = body.get("uid") or "", body.get("accessToken") or ""
        if uid and (not isinstance(uid, str) or not _SHORT_UID.fullmatch(uid)):
            raise _error(400, "invalidUid", "Invalid Uid")
        if token and (not isinstance(token, str) or not _valid_token(token)):
            raise _error(400, "invalidAccessToken", "Invalid access token")
        with self.lock:
            org = self._org(req)
            caller = self._require(req, org, "dashboards.public:write", org.dashboards.get(dashboard_uid))
            if dashboard_uid not in org.dashboards:
                raise _error(404, "dashboardNotFound", "Dashboard not found")
            if dashboard_uid in org.public:
                raise _error(400, "dashboardIsPublic", "Dashboard is already public")
            if uid and self._public_by_uid(uid) is not None:
                raise _error(400, "uidExists", "Public Dashboard Uid already exists")
            if token and any(p.access_token == token for o in self._orgs.values() for p in o.public.values()):
                raise _error(400, "accessTokenExists", "Public Dashboard Access Token already exists")
            p = self._new_public(org, dashboard_uid, body, caller.user_id)
            return json_response(self._public_json(p))

    def _patch_public_dashboard(self, req: Request) -> Response:
        self._require_public()
        body = self._public_body(req)
        with self.lock:
            org = self._org(req)
            dashboard_uid = req.params["uid"]
            caller = self._require(req, org, "dashboards.public:write", org.dashboards.get(dashboard_uid))
            if dashboard_uid not in org.dashboards:
                raise _error(404, "dashboardNotFound", "Dashboard not found")
            p = next((p for p in org.public.values() if p.uid == req.params["public"]), None)
            if p is None:
                raise _error(404, "notFound", "Public dashboard not found")
            if p.dashboard_uid != dashboard_uid:
                raise _error(400, "invalidUid", "Invalid Uid")
            for key, attr in (
                ("isEnabled", "is_enabled"),
                ("annotationsEnabled", "annotations_enabled"),
                ("timeSelectionEnabled", "time_selection_enabled"),
            ):
                if isinstance(body.get(key), bool):
                    setattr(p, attr, body[key])
            if body.get("share"):
                p.share = str(body["share"])
            p.updated_by, p.updated_at = caller.user_id, _now()
            return json_response(self._public_json(p))

    def _delete_public_dashboard(self, req: Request) -> Response:
        self._require_public()
        with self.lock:
            org = self._org(req)
            dashboard_uid = req.params["uid"]
            self._require(req, org, "dashboards.public:write", org.dashboards.get(dashboard_uid))
            p = next((p for p in org.public.values() if p.uid == req.params["public"]), None)
            if p is None:
                raise _error(404, "notFound", "Public dashboard not found")
            if p.dashboard_uid != dashboard_uid:
                raise _error(400, "invalidUid", "Invalid Uid")
            del org.public[dashboard_uid]
            return Response(status=200, raw=b"")  # response.Empty(200)
