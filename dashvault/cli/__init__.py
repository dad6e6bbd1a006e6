"""The `dashvault` command line (DESIGN.md section 6): one module per command group, on one typer app.

Exit codes: 0 ok, 1 partial, 2 usage or configuration error, 3 store error.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

# The command modules register themselves on `app` when imported.
from dashvault.cli import audit, backup, integrity, restore
from dashvault.cli.app import app

__all__ = ["app", "main"]

_COMMAND_GROUPS = (backup, audit, restore, integrity)
log = logging.getLogger("dashvault.cli")


def _load_plugins() -> None:
    """Commands other installed packages add (the sandbox adds `demo`) through the entry point group."""
    for ep in entry_points(group="dashvault.commands"):
        try:
            ep.load()(app)
        except Exception as exc:  # a broken plugin must not take the backup commands down with it
            log.warning("command plugin %s failed to load: %s", ep.name, exc)


_load_plugins()


def main() -> None:
    """Console-script entry point."""
    app()
