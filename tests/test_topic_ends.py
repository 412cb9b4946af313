"""Every topic of the contract has both ends in the code: something writes it, something reads it.

Issue 12 found `alarm-tasks.v1` without a reader and `audit.v1` without a writer: a topic with
one end is a feature that does not exist for its user. Each topic here names the modules that
write and read it, and the test checks that each such module really names the topic's spec in
its code (not in a comment or a string), so a new topic without both ends, or an end removed,
fails here. (The audit trail is no topic: heterdaad/audit.py writes it to PostgreSQL.)
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from schemas import topics
from schemas.topics import CATALOGUE, TopicSpec

ROOT = Path(__file__).resolve().parents[1]

# topic constant -> (writers, readers), modules relative to the project root.
ENDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ALARM_ACTIVATIONS": (
        ("producers/api/kinds.py", "producers/sia/receiver.py", "producers/api/alarm_tasks.py"),
        ("streams/verify_alarms.py", "consumers/sink.py"),
    ),
    "INCIDENT_REPORTS": (
        ("producers/api/kinds.py",),
        ("streams/report_robberies.py", "streams/link_series.py", "consumers/sink.py"),
    ),
    "RECON_SIGHTINGS": (
        ("producers/api/kinds.py",),
        ("streams/link_reconnaissance.py", "consumers/sink.py"),
    ),
    "ALERTS": (
        ("streams/report_robberies.py", "streams/link_series.py",
         "streams/link_reconnaissance.py", "streams/detect_hotspots.py",
         "streams/verify_alarms.py"),
        ("consumers/sink.py", "consumers/notify/service.py", "consumers/desk/live.py"),
    ),
    "ALARM_TASKS": (("streams/verify_alarms.py",), ("consumers/sink.py",)),
}


def _constant_of(spec: TopicSpec) -> str:
    return next(name for name, value in vars(topics).items() if value is spec)


@cache
def _names_in_code(module: str) -> frozenset[str]:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


def test_every_topic_of_the_catalogue_has_its_ends_listed() -> None:
    assert {_constant_of(spec) for spec in CATALOGUE} == set(ENDS)


@pytest.mark.parametrize("constant", sorted(ENDS))
def test_each_end_names_its_topic_in_code(constant: str) -> None:
    writers, readers = ENDS[constant]
    assert writers and readers, f"{constant} needs a writer and a reader"
    for module in (*writers, *readers):
        names = _names_in_code(module)
        # A stage raises its alerts through streams/alert_records.py, which names ALERTS.
        uses = constant in names or (constant == "ALERTS" and "alert_record" in names)
        assert uses, f"{module} does not use {constant}"
    if constant == "ALERTS":
        assert "ALERTS" in _names_in_code("streams/alert_records.py")
    # A writer is an intake or a stage, a reader a stage or a consumer: never a test or a tool.
    assert all(m.startswith(("producers/", "streams/")) for m in writers), writers
    assert all(m.startswith(("streams/", "consumers/")) for m in readers), readers

