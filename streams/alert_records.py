"""Alerts as records the broker takes: an alert too large is trimmed, never a crash loop."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from heterdaad import metrics
from schemas.topics import ALERTS
from schemas.wire import encode

if TYPE_CHECKING:
    from schemas.alerts import Alert, EvidenceLink
    from schemas.wire import WireRecord

logger = logging.getLogger(__name__)

# The broker takes records of up to about 1 MiB (message.max.bytes 1,048,588) and the Faust
# producer requests of up to 1,000,000 bytes (producer_max_request_size); a record refused
# for its size is refused on every retry, and the agent's crash replays the same input into
# the same refusal. Bounded well below both; the stages' own bounds keep alerts far below
# this (a series' at most ~300 kB: docs/series-linkage.md, "Bounded").
ALERT_MAX_RECORD_BYTES = 900_000


def record_bytes(record: WireRecord) -> int:
    """The record's size as the broker counts it, near enough: key, value and headers."""
    return (
        len(record.key)
        + len(record.value)
        + sum(len(name) + len(value) for name, value in record.headers)
    )


def alert_record(
    alert: Alert, source: str, *, stage: str, limit: int = ALERT_MAX_RECORD_BYTES
) -> WireRecord | None:
    """The alert's record, at most `limit` bytes.

    A larger one is a bug upstream (a stage's bound that did not hold): logged as an error,
    counted (`heterdaad_alerts_oversized_total`), and published with its newest evidence only,
    halved until it fits, then without vehicles and descriptions. None, logged and counted,
    when not even that fits: one alert lost, rather than every alert after it.
    """
    record = encode(ALERTS, alert, source)
    size = record_bytes(record)
    if size <= limit:
        return record
    trimmed = alert
    while record_bytes(record) > limit:
        if trimmed.evidence:
            evidence = _newest(trimmed.evidence, len(trimmed.evidence) // 2)
            trimmed = trimmed.model_copy(update={"evidence": evidence})
        elif trimmed.vehicles or trimmed.persons:
            trimmed = trimmed.model_copy(update={"vehicles": [], "persons": []})
        else:
            break
        record = encode(ALERTS, trimmed, source)
    fits = record_bytes(record) <= limit
    metrics.ALERTS_OVERSIZED.labels(stage=stage, result="trimmed" if fits else "dropped").inc()
    logger.error(
        "alert too large for a record: " + ("trimmed" if fits else "dropped"),
        extra={
            "stage": stage,
            "alert_id": str(alert.alert_id),
            "dedup_key": alert.dedup_key,
            "bytes": size,
            "limit": limit,
            "evidence": len(alert.evidence),
            "evidence_sent": len(trimmed.evidence) if fits else 0,
        },
    )
    return record if fits else None


def _newest(evidence: list[EvidenceLink], count: int) -> list[EvidenceLink]:
    """The `count` newest links by event time (undated ones count as oldest), in order."""
    ranked = sorted(
        range(len(evidence)),
        key=lambda i: (evidence[i].occurred_at is not None, evidence[i].occurred_at or 0, i),
    )
    keep = set(ranked[len(evidence) - count :])
    return [link for i, link in enumerate(evidence) if i in keep]
