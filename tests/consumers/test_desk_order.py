"""The desk's list through real Kafka and PostgreSQL: what needs action first, in the page and
for rows that arrive live."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.sink import store
from schemas.alerts import AlertKind, Severity
from tests import factories
from tests.consumers.test_desk import logged_in, served_desk, users

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


def _ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def live_list(page: str) -> list[str]:
    """The alert ids of the live list in page order (the history section after it excluded)."""
    start = page.index('id="alerts"')
    end = page.index('id="history"')
    return re.findall(r'id="alert-([0-9a-f-]{36})"', page[start:end])


async def test_list_puts_what_needs_action_first(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    hold_up = AlertKind.HOLD_UP_IN_PROGRESS
    # Named by where each must end up; created newest first, the old order (created_at DESC).
    recon_new = factories.alert(
        kind=AlertKind.RECONNAISSANCE_WARNING, severity=Severity.LOW,
        created_at=_ago(1), occurred_at=_ago(2),
    )  # fmt: skip
    robbery_high = factories.alert(severity=Severity.HIGH, created_at=_ago(3), occurred_at=_ago(30))
    robbery_critical = factories.alert(
        severity=Severity.CRITICAL, created_at=_ago(4), occurred_at=_ago(40)
    )
    robbery_high_later_event = factories.alert(
        severity=Severity.HIGH, created_at=_ago(5), occurred_at=_ago(6)
    )
    hold_up_open = factories.alert(
        kind=hold_up, severity=Severity.HIGH, created_at=_ago(7), occurred_at=_ago(7)
    )
    hold_up_acknowledged = factories.alert(
        kind=hold_up, severity=Severity.CRITICAL, created_at=_ago(8), occurred_at=_ago(8)
    )
    hold_up_resolved = factories.alert(
        kind=hold_up, severity=Severity.CRITICAL, created_at=_ago(9), occurred_at=_ago(9)
    )
    hold_up_escalated_old = factories.alert(
        kind=hold_up, severity=Severity.CRITICAL, created_at=_ago(50), occurred_at=_ago(50)
    )
    hold_up_escalated = factories.alert(
        kind=hold_up, severity=Severity.CRITICAL, created_at=_ago(10), occurred_at=_ago(10)
    )
    seeded = [
        recon_new, robbery_high, robbery_critical, robbery_high_later_event, hold_up_open,
        hold_up_acknowledged, hold_up_resolved, hold_up_escalated_old, hold_up_escalated,
    ]  # fmt: skip
    for alert in seeded:
        await store(db, alert)
    for escalated in (hold_up_escalated, hold_up_escalated_old):
        await db.execute(
            "UPDATE alert SET escalated_at = now() WHERE alert_id = $1", escalated.alert_id
        )
    await db.execute(
        "UPDATE alert SET acknowledged_at = now(), acknowledged_by = 'x' WHERE alert_id = $1",
        hold_up_acknowledged.alert_id,
    )
    await db.execute(
        "UPDATE alert SET acknowledged_at = now(), acknowledged_by = 'x', resolved_at = now(), "
        "resolved_by = 'x', outcome = 'false_alarm' WHERE alert_id = $1",
        hold_up_resolved.alert_id,
    )

    wanted = [
        hold_up_escalated,  # escalated and unacknowledged, latest event first
        hold_up_escalated_old,
        hold_up_open,  # an unacknowledged hold-up, though only "high"
        robbery_critical,  # the rest open: most severe first
        robbery_high_later_event,  # same severity: the latest event first, not the latest report
        robbery_high,
        recon_new,  # low, however new
        hold_up_acknowledged,  # someone has it
        hold_up_resolved,  # handled
    ]
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get("/")).text
    assert live_list(page) == [str(alert.alert_id) for alert in wanted]

