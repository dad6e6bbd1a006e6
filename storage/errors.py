"""The exception hierarchy: every error dashvault raises on purpose is a `DashvaultError`.

It lives in `storage` because `storage` imports from no other package; `backup` and `restore`
re-export and extend it.
"""

from __future__ import annotations


class DashvaultError(Exception):
    """An error with a one-line, user-facing message and the CLI exit code it maps to."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StoreError(DashvaultError):
    """The store could not be read or written (exit code 3)."""

    exit_code = 3


class StoreLockedError(StoreError):
    """Another run holds the store's lock."""


class CorruptDataError(StoreError):
    """Stored data does not match its recorded hash or does not parse."""


class NotFoundError(DashvaultError):
    """A snapshot or key that was asked for does not exist (a usage error, exit code 2)."""

    exit_code = 2
