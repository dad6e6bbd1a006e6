"""Terminal output: the one place that decides how text reaches the terminal.

Every string dashvault prints (help texts, titles, table cells, progress labels, and whatever a server,
a store or a library said) is shown as written: these consoles never read rich markup, so a dashboard
titled ``[red]x`` or an error body holding ``[/]`` cannot restyle or break the output. Styling is
applied explicitly with `styled`, never by embedding markup in a string.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

# Piped output (cron mails, log files) gets wide tables instead of rich's 80-column default.
out = Console(markup=False, highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


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
