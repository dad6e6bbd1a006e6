"""OAuth2 client credentials for the Arduino sandbox: the token endpoint, bearer-token checks, revocation."""

from __future__ import annotations

import hmac
import secrets
import time

from sandbox.arduino.core import _ArduinoBase
from sandbox.arduino.protocol import AUDIENCE, TOKEN_PATH
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
            expires = self._tokens.get(token.strip())
            if expires is None or time.monotonic() >= expires:
                return None
        return f"client:{self.client_id}"

    def unauthorized(self, request: Request) -> Response:
        """The cloud's 401 for a missing, unknown or expired token."""
        body = {"code": "unauthorized", "status": 401, "detail": "invalid or expired access token"}
        return json_response(body, 401)

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

    # -- Python API --------------------------------------------------------------------------------

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far: the next call with one gets a 401."""
        with self.lock:
            self._tokens.clear()

    def token_requests(self) -> list[RequestRecord]:
        """Logged calls to the token endpoint."""
        return [r for r in self.logged_requests() if r.path == TOKEN_PATH]
