"""An alert too large for a record is sent with less evidence, or dropped: never a crash loop
of the stage that raised it (streams/alert_records.py)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from heterdaad import metrics
from schemas.alerts import EvidenceLink, LinkReason
from schemas.topics import ALERTS
from schemas.wire import decode_as, encode
from streams.alert_records import ALERT_MAX_RECORD_BYTES, alert_record, record_bytes
from tests import factories

if TYPE_CHECKING:
    from schemas.alerts import Alert

NOW = datetime.now(UTC)
SOURCE = "urn:test"


def _link(i: int) -> EvidenceLink:
    return EvidenceLink(
        event_id=uuid.UUID(int=i + 1),
        event_type="incident_report",
        occurred_at=NOW - timedelta(hours=5000 - i),
        distance_m=100.0,
        time_gap_s=3600.0,
        similarity={f"feature_{k}": 0.5 for k in range(12)},
        reasons=[
            LinkReason(feature=f"feature_{k}", value="x" * 20, contribution=1.0) for k in range(12)
        ],
    )


def _oversized() -> Alert:
    alert = factories.alert()
    return alert.model_copy(update={"evidence": [_link(i) for i in range(2_000)]})


def test_an_alert_too_large_is_sent_with_its_newest_evidence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alert = _oversized()
    assert record_bytes(encode(ALERTS, alert, SOURCE)) > ALERT_MAX_RECORD_BYTES
    trimmed = metrics.ALERTS_OVERSIZED.labels(stage="test", result="trimmed")
    before = trimmed._value.get()
    with caplog.at_level(logging.ERROR):
        record = alert_record(alert, SOURCE, stage="test")
    assert record is not None and record_bytes(record) <= ALERT_MAX_RECORD_BYTES
    sent = decode_as(type(alert), ALERTS, record.value, record.headers)
    assert sent.alert_id == alert.alert_id and sent.dedup_key == alert.dedup_key
    assert 0 < len(sent.evidence) < len(alert.evidence)
    assert sent.evidence == alert.evidence[-len(sent.evidence):]  # the newest, in order
    assert trimmed._value.get() == before + 1
    assert any("alert too large" in r.getMessage() for r in caplog.records)


def test_an_alert_that_cannot_fit_is_dropped_not_raised() -> None:
    dropped = metrics.ALERTS_OVERSIZED.labels(stage="test", result="dropped")
    before = dropped._value.get()
    assert alert_record(_oversized(), SOURCE, stage="test", limit=100) is None
    assert dropped._value.get() == before + 1


def test_an_alert_within_the_limit_is_sent_as_it_is() -> None:
    alert = factories.alert()
    record = alert_record(alert, SOURCE, stage="test")
    assert record is not None and record.value == encode(ALERTS, alert, SOURCE).value
