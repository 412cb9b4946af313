"""Every aiokafka consumer of the project reads through the event layer (heterdaad/events/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("heterdaad", "schemas", "producers", "consumers", "streams")
# The layer itself (its reader of the dead-letter topics, whose records are no contract's);
# the readiness probe, which reads offsets and consumes nothing; and the worker's Faust
# transport, which seeks Faust's own consumer and makes none.
ALLOWED = {
    Path("heterdaad/events/consumer.py"),
    Path("heterdaad/events/dead_letters.py"),
    Path("heterdaad/consumption.py"),
    Path("streams/transport.py"),
}
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


def test_the_layer_imports_only_the_bottom() -> None:
    # settings, metrics, kafka, logs, the event-time rule and schemas: never producers/,
    # consumers/ or streams/.
    allowed = ("heterdaad.settings", "heterdaad.metrics", "heterdaad.kafka", "heterdaad.logs",
               "heterdaad.event_time", "heterdaad.events", "schemas")  # fmt: skip
    ours = ("heterdaad", "schemas", "producers", "consumers", "streams")
    imported: set[str] = set()
    for path in (ROOT / "heterdaad" / "events").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                if module == "heterdaad":  # `from heterdaad import metrics`
                    imported.update(f"heterdaad.{alias.name}" for alias in node.names)
                    continue
                imported.add(module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    wrong = {
        module for module in imported
        if module.split(".")[0] in ours and not module.startswith(allowed)
    }  # fmt: skip
    assert wrong == set()
    assert "heterdaad.kafka" in imported  # the walk saw the layer's imports


def test_dead_letters_are_built_in_one_place() -> None:
    # The Faust worker and the aiokafka consumers send dead letters through different
    # producers, but both build and count them with heterdaad/events/dead_letters.py.
    builders = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if {"dead_letter_headers", "dead_letter_value", "DEAD_LETTERS"} & _names(path)
    )
    # schemas/wire.py defines the two functions (a definition is not a use).
    assert builders == ["heterdaad/events/dead_letters.py", "heterdaad/metrics.py"]
