"""The simulator writes no plate into free text: what it publishes straight to Kafka is what
the edge's free-text check would have let through unchanged (issue 11 #9)."""

from __future__ import annotations

from datetime import UTC, datetime

from producers.simulator import SimulationConfig, generate
from schemas.pseudonym import pseudonymise_free_text

KEY = b"s" * 32


def test_simulated_events_pass_the_free_text_check_unchanged() -> None:
    config = SimulationConfig(
        seed=11,
        days=14,
        end=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        branches=400,
        alarm_activations_per_day=40,
    )
    scenario = generate(config)
    assert scenario.events
    for event in scenario.events:
        assert pseudonymise_free_text(event.model, KEY, "k1") is event.model, event.model
