"""Every aiokafka consumer of the project reads through the event layer (heterdaad/events/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("heterdaad", "schemas", "producers", "consumers", "streams")
# The layer itself, and the readiness probe, which reads offsets and consumes nothing.
ALLOWED = {Path("heterdaad/events/consumer.py"), Path("heterdaad/consumption.py")}
CONSUMERS = (
    "consumers/sink.py",
    "consumers/notify/service.py",
    "consumers/desk/live.py",
    "consumers/desk/tail.py",
)
# What the layer does once for everyone: the loop, the decode, the dead letter, the commit.
PLUMBING = {"AIOKafkaConsumer", "getmany", "decode", "decode_as", "dead_letter", "commit"}


def _names(path: Path) -> set[str]:
    """Every name and attribute the module uses (calls, imports, references)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names)
    return names


def test_no_consumer_is_made_outside_the_event_layer() -> None:
    makers = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.relative_to(ROOT) not in ALLOWED and "AIOKafkaConsumer" in _names(path)
    )
    assert makers == []


@pytest.mark.parametrize("module", CONSUMERS)
def test_each_consumer_reads_through_the_layer_and_has_no_plumbing_of_its_own(
    module: str,
) -> None:
    names = _names(ROOT / module)
    assert "EventConsumer" in names or "open_alert_reader" in names
    assert names & PLUMBING == set()
