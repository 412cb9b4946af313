"""The JSON log: one record per line, whatever the values in it."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest

from heterdaad import logs
from heterdaad.logs import ConsoleFormatter, JsonFormatter


@pytest.mark.parametrize("breaker", ["\n", "\r", "\x85", "\u2028", "\u2029", "\x1e"])
def test_no_value_splits_a_record(breaker: str) -> None:
    # A value an attacker chose (a branch name, a melding number) must not make a reader that
    # splits lines as Python does (str.splitlines) see two records.
    value = f"melding 12{breaker}{{\"level\": \"INFO\", \"event\": \"forged\"}}"
    record = logging.LogRecord("heterdaad", logging.WARNING, "", 0, "refused %s", (value,), None)
    record.branch = f"Winkel{breaker}Centrum é"
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1
    parsed = json.loads(line)
    assert parsed["event"] == f"refused {value}" and parsed["branch"] == f"Winkel{breaker}Centrum é"


@pytest.mark.parametrize(
    "control", ["\x1b[31m", "\x1b]0;title\x07", "\x9b31m", "\x85", "\u2028", "\n", "\x7f"]
)
def test_no_value_drives_the_terminal_or_splits_a_console_line(control: str) -> None:
    # On a terminal the log is read by a person, not a collector: an escape sequence in a value
    # an attacker chose (a branch name) would recolour, retitle or clear that person's screen.
    record = logging.LogRecord("heterdaad", logging.WARNING, "", 0, "refused %s", (control,), None)
    record.branch = f"Winkel{control}Centrum é"
    line = ConsoleFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), line
    assert "Winkel" in line and "Centrum é" in line
    # JSON lines escape the C1 controls as well, and read back as they were.
    entry = JsonFormatter().format(record)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", entry)
    assert json.loads(entry)["branch"] == f"Winkel{control}Centrum é"


def test_a_console_line_reads_as_the_record() -> None:
    record = logging.LogRecord("infra.migrate", logging.INFO, "", 0, "migration applied", (), None)
    record.version, record.schema, record.note, record.empty = 27, "heterdaad", "a b", ""
    # 7 December 2026, 02:15:05 UTC: Dutch time, as the alerts beside it, whatever the machine's.
    record.created = datetime(2026, 12, 7, 2, 15, 5, tzinfo=UTC).timestamp()
    line = ConsoleFormatter().format(record)
    assert line == '03:15:05 INFO migration applied version=27 schema=heterdaad note="a b" empty=""'



@pytest.mark.parametrize(("log_format", "console"), [("json", False), ("console", True)])
def test_the_setting_chooses_the_format(log_format: logs.LogFormat, console: bool) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("INFO", log_format)
        (handler,) = root.handlers
        assert isinstance(handler.formatter, ConsoleFormatter) is console
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
