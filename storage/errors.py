"""The exception tree: every error dashvault raises on purpose is a `DashvaultError`.

Each error carries its one-line, user-facing `message` and the CLI `exit_code` it maps to. The root
lives here, in the lowest layer that raises; the layers above extend it:

* DashvaultError (exit 1)
  + ConfigError (exit 2): the configuration file is missing, malformed or invalid
  + NotFoundError (exit 2): a snapshot or key that was asked for does not exist
  + StoreError (exit 3): the store could not be read or written
    + StoreLockedError: another run holds the store's lock
    + CorruptDataError: stored data does not match its recorded hash or does not parse
      + MissingDataError: stored data a snapshot refers to is not there at all
  + SourceError (exit 1, `sources.errors`): a source could not be read or written
    + UnreachableError: the host could not be reached, or kept failing after every retry
    + AuthError: the source rejected the credentials (401) or the permission (403)
      + AccessDeniedError: a 403: the credentials lack the permission the request needs
    + ResponseError: an unexpected status, or a body that is not the JSON we expect
  + RunInterrupted (exit 1, `backup.run`): the run was asked to stop; nothing was written
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


class ConfigError(DashvaultError):
    """The configuration file is missing, malformed or invalid (exit code 2)."""

    exit_code = 2


class StoreError(DashvaultError):
    """The store could not be read or written (exit code 3)."""

    exit_code = 3


class StoreLockedError(StoreError):
    """Another run holds the store's lock."""


class CorruptDataError(StoreError):
    """Stored data does not match its recorded hash or does not parse."""


class MissingDataError(CorruptDataError):
    """Stored data a snapshot refers to is not there at all (a blob that is gone, not damaged)."""


class NotFoundError(DashvaultError):
    """A snapshot or key that was asked for does not exist (a usage error, exit code 2)."""

    exit_code = 2
