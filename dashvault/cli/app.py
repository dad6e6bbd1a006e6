"""The typer app every command group registers on, the global options, and how errors end a command."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from dashvault.config import Config, load_config
from dashvault.console import err, out, stdout
from dashvault.logs import setup_logging
from storage.config import open_store
from storage.errors import DashvaultError
from storage.model import Entry, SnapshotInfo
from storage.store import Store

#: The order `--help` lists the commands in (DESIGN.md section 6); plugin commands such as `demo` follow.
COMMAND_ORDER = ("check", "backup", "run", "snapshots", "log", "show", "diff", "restore", "verify", "prune")


class Commands(TyperGroup):
    """The command group: lists commands in `COMMAND_ORDER`, whichever module registered them first."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))


app = typer.Typer(
    name="dashvault",
    cls=Commands,
    help="Backup, versioning and disaster recovery for Grafana and Arduino IoT Cloud dashboards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are shown as written: `[schedule]` is a config table, not rich markup.
    rich_markup_mode=None,
)
log = logging.getLogger("dashvault.cli")

P = ParamSpec("P")
R = TypeVar("R")


class State:
    """Options given before the command."""

    config_path: Path = Path("dashvault.toml")
    config: Config | None = None
    log_format: str = "text"

    def load(self) -> Config:
        if self.config is None:
            self.config = load_config(self.config_path)
        return self.config


state = State()


def fails_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn dashvault errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DashvaultError as exc:
            say(f"error: {exc.message}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            say("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def say(message: str) -> None:
    """A line for the person at the terminal; a log record instead when logs are JSON lines."""
    if state.log_format == "json":
        level, _, text = message.partition(": ")
        lvl = logging.ERROR if level == "error" else logging.WARNING
        log.log(lvl, text if text else message, extra={"event": f"cli.{level if text else 'message'}"})
    else:
        err.print(message)


def emit_json(data: Any) -> None:
    stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"dashvault {package_version('dashvault')}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="DASHVAULT_CONFIG", help="Config file (TOML).")
    ] = Path("dashvault.toml"),
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Back up, audit and restore dashboards."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    setup_logging(log_format, verbose)
    state.config_path = config
    state.config = None
    state.log_format = log_format


def configured_store() -> Store:
    return open_store(state.load().storage)


def snapshot_json(s: SnapshotInfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "time": s.time.isoformat(),
        "run": s.run,
        "complete": s.complete,
        "sources": {name: st.model_dump() for name, st in s.sources.items()},
        "damaged": s.damaged,
    }


def when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def entry_json(e: Entry) -> dict[str, Any]:
    return e.model_dump(mode="json")
