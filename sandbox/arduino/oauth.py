"""OAuth2 client credentials for the Arduino sandbox: the token endpoint, bearer-token checks, revocation."""

from __future__ import annotations

import hmac
import secrets
import time

from sandbox.arduino.core import _ArduinoBase
from sandbox.arduino.protocol import AUDIENCE, GOA_ERROR, TOKEN_PATH, _error
from sandbox.server import HTTPError, Request, RequestRecord, Response, json_response


class _TokenEndpoint(_ArduinoBase):
    """Issues and checks access tokens (``POST /iot/v1/clients/token``, then ``Authorization: Bearer``)."""

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
            expires, org = self._tokens.get(token.strip(), (0.0, ""))
            if time.monotonic() >= expires:
                return None
            wanted = (request.header("x-organization") or "").strip()
            if wanted != org:
                self.org_mismatches += 1
                if self.strict_org_tokens:
                    # node-red-contrib-arduino-iot-cloud#58: a token requested without the space gets the
                    # personal rate limit, "avoid 429 errors" by asking for it with the organization.
                    raise _error(429, "too_many_requests", "rate limit exceeded")
        return f"client:{self.client_id}"

    def unauthorized(self, request: Request) -> Response:
        """The cloud's 401 for a missing, unknown or expired token."""
        body = {"code": "unauthorized", "status": 401, "detail": "invalid or expired access token"}
        return json_response(body, 401, GOA_ERROR)

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
        # arduino-cloud-cli internal/iot/token.go: `organization_id` in the form names the space the token
        # is for (arduino-cloud-cli#164); the X-Organization header on the token request does the same.
        org = str(form.get("organization_id") or req.header("x-organization") or "").strip()
        token = secrets.token_urlsafe(32)
        with self.lock:
            now = time.monotonic()
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = (now + self.token_lifetime, org)
            self.token_spaces.append(org)
        expires_in = max(1, round(self.token_lifetime))
        return json_response({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    # -- Python API --------------------------------------------------------------------------------

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far: the next call with one gets a 401."""
        with self.lock:
            self._tokens.clear()

    def token_requests(self) -> list[RequestRecord]:
        """Logged calls to the token endpoint."""
        return [r for r in self.logged_requests() if r.path == TOKEN_PATH]
