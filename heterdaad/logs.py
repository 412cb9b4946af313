"""Structured logging: one JSON object per line, with the ids passed in `extra`; on a terminal,
one readable line per record."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from heterdaad.notation import DUTCH_TIME

# Characters JSON need not escape that a reader may act on: NEL and the Unicode line and
# paragraph separators (str.splitlines() splits on them), DEL and the other C1 controls (a
# terminal may take U+009B for the start of an escape sequence). Escaped, so that a value an
# attacker chose can neither split one record into two nor drive the terminal of whoever reads
# the log.
_UNESCAPED_BY_JSON = str.maketrans(
    {chr(c): f"\\u{c:04x}" for c in [*range(0x7F, 0xA0), 0x2028, 0x2029]}
)

# The same and C0 (ESC among them): what the console format escapes.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Attributes every LogRecord has; anything else was passed through `extra` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"at": datetime.fromtimestamp(record.created, UTC).isoformat(), **_entry(record)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False).translate(_UNESCAPED_BY_JSON)


class ConsoleFormatter(logging.Formatter):
    """`12:03:44 INFO migration applied version=27 schema=heterdaad`, for a person at a terminal.

    Control characters are escaped as JSON escapes them, so that no value an attacker chose can
    split a record or send the terminal an escape sequence (ESC is written as \\u001b).
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record)
        # Dutch time, as the alerts beside it on the demo's terminal, whatever the machine's zone.
        at = datetime.fromtimestamp(record.created, DUTCH_TIME).strftime("%H:%M:%S")
        level, event = entry.pop("level"), escaped(entry.pop("event"))
        del entry["logger"]
        fields = " ".join(f"{key}={_field(value)}" for key, value in entry.items())
        line = " ".join(part for part in (at, level, event, fields) if part)
        if not record.exc_info:
            return line
        # The traceback keeps its lines, each of them escaped.
        exception = self.formatException(record.exc_info)
        return "\n".join([line, *map(escaped, exception.splitlines())])


def _entry(record: logging.LogRecord) -> dict[str, Any]:
    """The record's level, logger and message, and every field passed through `extra`."""
    entry: dict[str, Any] = {
        "level": record.levelname,
        "logger": record.name,
        "event": record.getMessage(),
    }
    entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
    return entry


def escaped(text: str) -> str:
    """`text` with each control character (C0, DEL, C1, the Unicode line and paragraph
    separators) written as an escape: `\\n`, `\\u001b`."""
    return _CONTROL.sub(lambda c: json.dumps(c[0])[1:-1], text)


def _field(value: Any) -> str:
    """A field's value as JSON writes it; a string without quotes unless it is empty or has
    a blank or a quote. A value JSON has no type for (an id, a moment) is written as a string."""
    if not isinstance(value, str | int | float | bool | list | tuple | dict | None):
        value = str(value)
    if isinstance(value, str) and value and not any(c in value for c in ' "'):
        return escaped(value)
    return escaped(json.dumps(value, default=str, ensure_ascii=False))


LogFormat = Literal["auto", "json", "console"]


def configure(level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Log at `level` to stderr, as JSON lines or as readable lines (`auto`: readable on a
    terminal, JSON to a file, a pipe or a log collector)."""
    # The caller's file and line, the thread and the process are never written (JsonFormatter
    # leaves them out): not looking them up makes a busy worker's log line a third cheaper
    # (the logging HOWTO, "Optimization"; bench/RESULTS.md, the alarm path's flood).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    handler.setFormatter(ConsoleFormatter() if console else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every reconnect at WARNING; keep them but not the per-request chatter.
    logging.getLogger("aiokafka").setLevel("WARNING")
