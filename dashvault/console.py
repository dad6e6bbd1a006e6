"""Terminal output: the one place that decides how text reaches the terminal.

Every string dashvault prints (help texts, titles, table cells, progress labels, and whatever a server,
a store or a library said) is shown as written: these consoles never read rich markup, so a dashboard
titled ``[red]x`` or an error body holding ``[/]`` cannot restyle or break the output. Styling is
applied explicitly with `styled`, never by embedding markup in a string.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from storage import redaction


class _Scrubbed:
    """The process's stdout or stderr (looked up at each write, as tests swap them), every write
    scrubbed of the registered secrets (storage/redaction.py)."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def _stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self._name)
        return stream

    def write(self, text: str) -> int:
        return self._stream.write(redaction.scrub(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"


stdout = _Scrubbed("stdout")
# Piped output (cron mails, log files) gets wide tables instead of rich's 80-column default.
out = Console(
    file=stdout,  # type: ignore[arg-type]  # a write/flush/isatty stream, as rich uses it
    markup=False,
    highlight=False,
    soft_wrap=True,
    width=None if sys.stdout.isatty() else 160,
)
err = Console(file=_Scrubbed("stderr"), markup=False, highlight=False, soft_wrap=True)  # type: ignore[arg-type]


def styled(text: str, style: str) -> Text:
    """`text` exactly as written, shown in `style` (a rich style such as ``"bold cyan"``)."""
    return Text(text, style=style)


def progress() -> Progress:
    """A transient progress display on stderr whose task labels are shown as written."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TextColumn("{task.completed} items", markup=False),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
