"""The metric definitions: bounded labels, the reason classes, the alert age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from prometheus_client import REGISTRY

from heterdaad import metrics
from schemas.alerts import AlertKind
from streams.alarm_state import CellState
from streams.verify_alarms import Decision, outcome_of
from tests import factories

if TYPE_CHECKING:
    from collections.abc import Callable

    from streams.verify_alarms import Output


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        # schemas/wire.py's own wordings, one per class.
        ("record has no value", "no_value"),
        ("not a binary-mode CloudEvent: missing ce_id", "not_cloudevent"),
        ("ce_type 'x' does not belong on alerts.v1", "wrong_type"),
        ("location.lat: Input should be a valid number", "invalid_fields"),
        # The sink's wording for a row PostgreSQL refused still names what was wrong.
        ("refused by PostgreSQL: value too long", "invalid_fields"),
        # The sink's wording for an id another event holds (consumers/event_ids.py).
        ("event id 5f0c... is taken: another event holds it (x)", "id_taken"),
        # Anything else is one class, never the reason itself (it may quote the record).
        ("AB-123-C", "other"),
    ],
)
def test_a_reason_falls_in_a_bounded_class(reason: str, expected: str) -> None:
    assert metrics.reason_class(reason) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("heterdaad.alerts.v1", "alerts.v1"),  # the deployment's prefix is dropped
        ("t123.alarm-activations.v1", "alarm-activations.v1"),
        ("heterdaad.alerts.v1.dlq", None),  # dead letters have their own counter
        ("heterdaad-verify_alarms-changelog", None),  # Faust's internal topics are not events
    ],
)
def test_topic_label_is_the_catalogue_suffix(name: str, expected: str | None) -> None:
    assert metrics.topic_label(name) == expected


def test_count_published_skips_topics_outside_the_catalogue() -> None:
    before = _value("heterdaad_events_published_total", topic="alerts.v1")
    metrics.count_published("p.alerts.v1")
    metrics.count_published("p.alerts.v1.dlq")
    assert _value("heterdaad_events_published_total", topic="alerts.v1") == before + 1


def test_alert_age_is_observed_from_the_event_time() -> None:
    now = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
    labels = {"channel": "test", "historical": "false"}
    count = "heterdaad_alert_age_at_delivery_seconds_count"
    total = "heterdaad_alert_age_at_delivery_seconds_sum"
    metrics.observe_alert_age(now - timedelta(seconds=7), channel="test", historical=False, now=now)
    # No event time, nothing to say; a clock ahead of ours counts as age 0, not negative.
    metrics.observe_alert_age(None, channel="test", historical=False, now=now)
    metrics.observe_alert_age(now + timedelta(seconds=3), channel="test", historical=False, now=now)
    assert _value(count, **labels) == 2
    assert _value(total, **labels) == 7
    le_10 = _value("heterdaad_alert_age_at_delivery_seconds_bucket", le="10.0", **labels)
    assert le_10 == 2


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        # An unverified press: only a task for the alarm centre.
        (lambda: [factories.alarm_task()], "task"),
        # A verified hold-up with its task's end: the alert's kind names the outcome.
        (
            lambda: [
                factories.alarm_task(),
                factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS),
            ],
            "hold_up_in_progress",
        ),
        # A restore inside the grace time, or a tick with nothing due: held.
        (list, "nothing"),
    ],
)
def test_verify_alarms_outcome(outputs: Callable[[], list[Output]], expected: str) -> None:
    decision = Decision(state=CellState(partition=0), outputs=outputs())
    assert outcome_of(decision) == expected
