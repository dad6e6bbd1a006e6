"""Log output: readable text by default, one JSON object per line with ``--log-format json``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from storage import redaction

# Attributes every LogRecord has; anything else was passed through `extra=` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """time, level, source, event, message and the record's extra fields, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "source": fields.pop("source", None),
            "event": fields.pop("event", record.name),
            "message": record.getMessage(),
        }
        if fields:
            doc["fields"] = fields
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return redaction.scrub(json.dumps(doc, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00Z warning grafana-prod: item failed key=1/abc``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        fields.pop("event", None)
        source = fields.pop("source", None)
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        text = f"{when} {record.levelname.lower()} {source + ': ' if source else ''}{record.getMessage()}"
        text = f"{text} {extra}" if extra else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redaction.scrub(text)


def setup_logging(fmt: str = "text", verbose: int = 0) -> None:
    """Send dashvault's logs to stderr in the chosen format; -v shows info, -vv debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("dashvault")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))
    root.propagate = False
