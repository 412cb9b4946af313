"""Retention clears personal data older than the period and keeps the anonymous facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.retention import purge_personal_data
from consumers.sink import store
from tests import factories

if TYPE_CHECKING:
    import asyncpg

pytestmark = pytest.mark.integration


async def test_old_payloads_go_counts_stay(db: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    old = factories.incident_report(occurred_at=now - timedelta(days=40))
    recent = factories.incident_report(occurred_at=now - timedelta(days=3))
    old_alert = factories.alert(created_at=now - timedelta(days=30))
    for model in (old, recent, old_alert):
        await store(db, model)

    # Notification log rows: one past the alert topic's reach (28 days + a week), one within it.
    for key, age in (("old", 40), ("recent", 30)):
        await db.execute(
            "INSERT INTO delivery (dedup_key, recipient, alert_id, channel, state, created_at) "
            "VALUES ($1, 'politie-ams/desk', $2, 'desk', 'delivered', $3)",
            key, old_alert.alert_id, now - timedelta(days=age),
        )  # fmt: skip

    report = await purge_personal_data(db, 28, now=now)

    assert report.purged == {
        "event": 1, "alert": 1, "ingest_receipt": 0, "delivery": 1, "delivery_attempt": 0,
    }  # fmt: skip
    # The notification log keeps what a replay of the alerts topic could still meet.
    assert await db.fetchval("SELECT array_agg(dedup_key) FROM delivery") == ["recent"]
    rows = {
        row["event_id"]: row
        for row in await db.fetch("SELECT event_id, kind, police_unit, payload FROM event")
    }
    assert rows[old.event_id]["payload"] is None
    assert rows[old.event_id]["kind"] == "overval"  # the anonymous fact is kept
    assert rows[old.event_id]["police_unit"] == "amsterdam"
    assert rows[recent.event_id]["payload"] is not None
    assert await db.fetchval("SELECT payload FROM alert") is None
    audit = await db.fetchrow("SELECT actor, action FROM audit_log")
    assert (audit["actor"], audit["action"]) == ("system", "data_deleted")
    # A second run finds nothing more to purge.
    assert (await purge_personal_data(db, 28, now=now)).purged["event"] == 0
