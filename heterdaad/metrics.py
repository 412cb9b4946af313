"""Every Prometheus metric of every service, defined once (docs/operations.md says what each means).

Labels are bounded on purpose: a catalogue topic, a stage, an outcome, a class of reason, a
channel. Never an event, alert or organisation id, a recipient or a free-text reason: each
distinct value is a time series kept for ever, and an id or a name may be personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from schemas.topics import CATALOGUE

NAMESPACE = "heterdaad"

EVENTS_CONSUMED = Counter(
    "events_consumed",
    "Records read from a catalogue topic and decoded into its contract model.",
    ["topic"],
    namespace=NAMESPACE,
)
EVENTS_PUBLISHED = Counter(
    "events_published",
    "Records written to a catalogue topic (the broker acknowledged them, or, in the worker, "
    "they were handed to the producer whose flush gates the commit).",
    ["topic"],
    namespace=NAMESPACE,
)
DECISIONS = Counter(
    "decisions",
    "What a stage decided about one input: its outcome, from a small fixed vocabulary.",
    ["stage", "outcome"],
    namespace=NAMESPACE,
)
DEAD_LETTERS = Counter(
    "dead_letters",
    "Records sent to a topic's dead-letter topic, by the class of the reason.",
    ["topic", "reason"],
    namespace=NAMESPACE,
)
ALERTS_OVERSIZED = Counter(
    "alerts_oversized",
    "Alerts whose record exceeded the stages' bound (streams/alert_records.py): 'trimmed' "
    "(published with less evidence) or 'dropped' (not even that fitted).",
    ["stage", "result"],
    namespace=NAMESPACE,
)
WORKER_CRASHES_IN_A_ROW = Gauge(
    "worker_crashes_in_a_row",
    "How many times in a row this worker's predecessors ended by a crashed agent (0 after a "
    "clean stop): above 0 and rising across restarts is a restart loop.",
    namespace=NAMESPACE,
)
CONSUMER_LAG = Gauge(
    "consumer_lag",
    "Records on a partition not yet committed by this service's consumer group, as the broker "
    "saw it at the last scrape.",
    ["topic", "partition"],
    namespace=NAMESPACE,
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries",
    "Webhook requests by result: delivered (2xx), failed (retried later) or dead (given up).",
    ["result"],
    namespace=NAMESPACE,
)
WEBHOOK_LATENCY = Histogram(
    "webhook_request_seconds",
    "How long one webhook request took, answered or not.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    namespace=NAMESPACE,
)
# From seconds (a hold-up in the act) to days (a late report); history is labelled apart.
ALERT_AGE = Histogram(
    "alert_age_at_delivery_seconds",
    "Event time (occurred_at) to delivery of an alert, per channel; historical alerts apart.",
    ["channel", "historical"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400),
    namespace=NAMESPACE,
)

# The classes of dead-letter reasons, in the order they are tried: schemas/wire.py words them,
# and the sink the id another event holds (consumers/event_ids.py).
ReasonClass = Literal[
    "no_value", "not_cloudevent", "wrong_type", "id_taken", "invalid_fields", "other"
]
_REASON_CLASSES: tuple[tuple[str, ReasonClass], ...] = (
    ("record has no value", "no_value"),
    ("not a binary-mode CloudEvent", "not_cloudevent"),
    ("ce_type ", "wrong_type"),
    ("event id ", "id_taken"),
)


def reason_class(reason: str) -> ReasonClass:
    """The bounded class of a dead-letter reason (the reason itself may quote the record)."""
    for start, name in _REASON_CLASSES:
        if reason.startswith(start):
            return name
    return "invalid_fields" if ": " in reason else "other"


def topic_label(name: str) -> str | None:
    """The catalogue suffix of a full topic name (prefix dropped: it differs per deployment),
    or None for a topic outside the catalogue (Faust's changelogs, dead-letter topics)."""
    for spec in CATALOGUE:
        if name.endswith(spec.suffix):
            return spec.suffix
    return None


def count_published(topic_name: str) -> None:
    """One record out to `topic_name`, counted when it is a catalogue topic."""
    label = topic_label(topic_name)
    if label is not None:
        EVENTS_PUBLISHED.labels(topic=label).inc()


def observe_alert_age(
    occurred_at: datetime | None, *, channel: str, historical: bool, now: datetime | None = None
) -> None:
    """An alert delivered now on `channel`; alerts without an event time are not observed."""
    if occurred_at is None:
        return
    age = ((now or datetime.now(UTC)) - occurred_at).total_seconds()
    ALERT_AGE.labels(channel=channel, historical=str(historical).lower()).observe(max(0.0, age))
