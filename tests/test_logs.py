"""The JSON log: one record per line, whatever the values in it."""

from __future__ import annotations

import json
import logging

import pytest

from heterdaad.logs import JsonFormatter


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
