"""Prometheus textfile-collector output, written atomically after each run.

node_exporter reads every ``*.prom`` file of its textfile directory on each scrape; writing a
temporary file and renaming it over the old one means a scrape never sees half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from backup.run import RunReport

# name -> (type, help); every series carries a `source` label.
SERIES: dict[str, tuple[str, str]] = {
    "dashvault_last_run_timestamp_seconds": ("gauge", "Unix time the last backup run of the source ended."),
    "dashvault_last_success_timestamp_seconds": (
        "gauge",
        "Unix time of the last run in which the source was backed up completely.",
    ),
    "dashvault_last_run_duration_seconds": ("gauge", "Wall time of the last backup run."),
    "dashvault_last_run_success": (
        "gauge",
        "1 if the source's last run was complete with no failed item, else 0.",
    ),
    "dashvault_items": ("gauge", "Items of the source in the snapshot the last run left."),
    "dashvault_items_added": ("gauge", "Items added by the last run."),
    "dashvault_items_changed": ("gauge", "Items changed by the last run."),
    "dashvault_items_deleted": ("gauge", "Items recorded as deleted by the last run."),
    "dashvault_items_failed": ("gauge", "Items that could not be read in the last run."),
    "dashvault_source_failures": (
        "gauge",
        "1 if the source's listing failed or was cut short in the last run.",
    ),
}

_SAMPLE = re.compile(r'^dashvault_last_success_timestamp_seconds\{source="((?:[^"\\]|\\.)*)"\} (\S+)$')


def _number(value: float) -> str:
    # repr keeps every digit of a Unix timestamp; %g would round it to six.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _previous_successes(path: Path) -> dict[str, float]:
    """Last-success times from the file we wrote last, so a failing source keeps its old value."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            try:
                out[m.group(1).replace('\\"', '"').replace("\\\\", "\\")] = float(m.group(2))
            except ValueError:
                continue
    return out


def render(report: RunReport, *, ended: float, previous_success: dict[str, float]) -> str:
    """The textfile for one run (sources not in this run keep their last-success time)."""
    values: dict[str, dict[str, float]] = {name: {} for name in SERIES}
    for name, r in report.sources.items():
        st = r.status
        ok = st.complete and not r.failures
        values["dashvault_last_run_timestamp_seconds"][name] = ended
        values["dashvault_last_run_duration_seconds"][name] = report.duration
        values["dashvault_last_run_success"][name] = 1.0 if ok else 0.0
        values["dashvault_items"][name] = st.items
        values["dashvault_items_added"][name] = st.added
        values["dashvault_items_changed"][name] = st.changed
        values["dashvault_items_deleted"][name] = st.deleted
        values["dashvault_items_failed"][name] = st.failed
        values["dashvault_source_failures"][name] = 0.0 if st.complete else 1.0
        if ok:
            values["dashvault_last_success_timestamp_seconds"][name] = ended
    for name, when in previous_success.items():
        values["dashvault_last_success_timestamp_seconds"].setdefault(name, when)
    lines: list[str] = []
    for metric, (kind, help_text) in SERIES.items():
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for source, value in sorted(values[metric].items()):
            lines.append(f'{metric}{{source="{_label(source)}"}} {_number(value)}')
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, report: RunReport, *, ended: float) -> None:
    """Replace `path` atomically with the metrics of `report`."""
    text = render(report, ended=ended, previous_success=_previous_successes(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dashvault-", suffix=".prom.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # node_exporter usually runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
