"""Structured logging: one JSON object per line, with the ids passed in `extra`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Characters that some readers take for a line's end although JSON need not escape them (NEL,
# the Unicode line and paragraph separators: str.splitlines() splits on them): escaped, so that
# a value an attacker chose cannot split one record into two.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

# Attributes every LogRecord has; anything else was passed through `extra` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False).translate(_LINE_BREAKS)


def configure(level: str = "INFO") -> None:
    # The caller's file and line, the thread and the process are never written (JsonFormatter
    # leaves them out): not looking them up makes a busy worker's log line a third cheaper
    # (the logging HOWTO, "Optimization"; bench/RESULTS.md, the alarm path's flood).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every reconnect at WARNING; keep them but not the per-request chatter.
    logging.getLogger("aiokafka").setLevel("WARNING")
