"""Errors of talking to a source (Grafana, Arduino); the tree's root is `storage.errors.DashvaultError`."""

from __future__ import annotations

from storage.errors import DashvaultError


class SourceError(DashvaultError):
    """A source (Grafana, Arduino) could not be read or written (exit code 1)."""

    exit_code = 1


class UnreachableError(SourceError):
    """The source's host could not be reached, or kept failing after every retry."""


class AuthError(SourceError):
    """The source rejected the credentials (401) or the permission (403)."""


class AccessDeniedError(AuthError):
    """The source refused the request with 403: the credentials lack the permission it needs."""


class ResponseError(SourceError):
    """The source answered with an unexpected status or a body that is not the JSON we expect."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
