"""Arduino IoT Cloud wire conventions: endpoint paths, the token audience, goa-style errors, timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sandbox.server import HTTPError

TOKEN_PATH = "/iot/v1/clients/token"  # noqa: S105 - an endpoint, not a credential
AUDIENCE = "https://api2.arduino.cc/iot"
DASHBOARDS = "/iot/v2/dashboards"
DASHBOARDS_V3 = "/iot/v3/dashboards"
#: goa's error media type, the Content-Type of every error the cloud's services answer.
GOA_ERROR = {"Content-Type": "application/vnd.goa.error+json"}
_SEG = "[^/]+"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, code: str, detail: str) -> HTTPError:
    """A goa-style error body, as the cloud answers."""
    body = {"id": uuid.uuid4().hex[:8], "code": code, "status": status, "detail": detail}
    return HTTPError(status, body, GOA_ERROR)


def _bad_request(detail: str) -> HTTPError:
    return _error(400, "bad_request", detail)


def _not_found(detail: str) -> HTTPError:
    return _error(404, "not_found", detail)
