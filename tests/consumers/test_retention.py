"""Retention clears personal data older than the period and keeps the anonymous facts."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.retention import Purge, purge_personal_data, run_retention_schedule
from consumers.sink import store
from heterdaad.db import create_pool
from schemas.alerts import Alert
from tests import factories
from tests.kafka_helpers import eventually
from tests.processes import running

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


async def test_old_payloads_go_counts_stay(db: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    old = factories.incident_report(occurred_at=now - timedelta(days=40))
    recent = factories.incident_report(occurred_at=now - timedelta(days=3))
    old_alert = factories.alert(
        created_at=now - timedelta(days=30), occurred_at=now - timedelta(days=30)
    )
    old_task = factories.alarm_task(created_at=now - timedelta(days=30))
    recent_task = factories.alarm_task(created_at=now - timedelta(days=3))
    for model in (old, recent, old_alert, old_task, recent_task):
        await store(db, model)

    # Notification log rows: one past the alert topic's reach (28 days + a week), one within it.
    for key, age in (("old", 40), ("recent", 30)):
        await db.execute(
            "INSERT INTO delivery (dedup_key, recipient, alert_id, channel, state, created_at) "
            "VALUES ($1, 'politie-ams/desk', $2, 'desk', 'delivered', $3)",
            key, old_alert.alert_id, now - timedelta(days=age),
        )  # fmt: skip

    report = await purge_personal_data(db, 28, audit_retention_days=1826, now=now)

    assert report.purged == {
        "event": 1, "alert": 1, "ingest_receipt": 0, "alarm_task": 1, "delivery": 1,
        "delivery_attempt": 0, "webhook_move": 0, "meld_code": 0, "meld_session": 0,
        "desk_login_failure": 0, "audit_log": 0,
    }  # fmt: skip
    assert await db.fetchval("SELECT array_agg(task_id) FROM alarm_task") == [recent_task.task_id]
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
    assert_without_personal_data(await db.fetchval("SELECT payload FROM alert"), old_alert)
    audit = await db.fetchrow("SELECT actor, action FROM audit_log")
    assert (audit["actor"], audit["action"]) == ("system", "data_deleted")
    # A second run finds nothing more to purge.
    again = await purge_personal_data(db, 28, audit_retention_days=1826, now=now)
    assert again.purged["event"] == 0


def assert_without_personal_data(stored: str | None, alert: Alert) -> None:
    """What stays of an alert past retention: what happened, where, and its evidence's ids and
    times (the desk's history and the digest read them), no vehicles, persons, pseudonyms, no
    descriptions in its lookout."""
    assert stored is not None and factories.PLATE_PSEUDONYM not in stored
    kept = Alert.model_validate_json(stored)
    assert kept.vehicles == [] and kept.persons == []
    assert kept.lookout == alert.lookout.without_descriptions()
    assert not kept.lookout.clothing and kept.lookout.vehicle_colour is None
    assert (kept.kind, kept.area, kept.occurred_at) == (alert.kind, alert.area, alert.occurred_at)
    assert [(e.event_id, e.occurred_at) for e in kept.evidence] == [
        (e.event_id, e.occurred_at) for e in alert.evidence
    ]


async def test_an_alert_is_purged_by_when_its_event_happened(db: asyncpg.Connection) -> None:
    # The tester's finding: a monthly CBL import raises alerts today about robberies of one or
    # two months ago; dated by created_at, their descriptions were kept a full period again.
    now = datetime.now(UTC)
    about_old = factories.alert(created_at=now, occurred_at=now - timedelta(days=40))
    about_recent = factories.alert(created_at=now, occurred_at=now - timedelta(days=3))
    # Written before alerts carried their event time: dated by when it was raised.
    undated = factories.alert(created_at=now - timedelta(days=30), occurred_at=None)
    for alert in (about_old, about_recent, undated):
        await store(db, alert)  # as the desk takes one in, or as stored before the fix

    report = await purge_personal_data(db, 28, audit_retention_days=1826, now=now)

    assert report.purged["alert"] == 2
    rows = {
        row["alert_id"]: row
        for row in await db.fetch("SELECT alert_id, kind, payload, payload_purged_at FROM alert")
    }
    for purged in (about_old, undated):
        assert_without_personal_data(rows[purged.alert_id]["payload"], purged)
        assert rows[purged.alert_id]["payload_purged_at"] == now
        assert rows[purged.alert_id]["kind"] == "robbery_reported"  # the anonymous fact stays
    kept = json.loads(rows[about_recent.alert_id]["payload"])
    assert kept["vehicles"][0]["plate_pseudonym"] == factories.PLATE_PSEUDONYM
    assert rows[about_recent.alert_id]["payload_purged_at"] is None


async def test_alerts_are_stripped_page_by_page(db: asyncpg.Connection) -> None:
    # The first pass over a year of imported alerts read them all in one query; now a page at
    # a time. Five due in pages of two: every one stripped, the recent one and the keys not
    # asked for untouched.
    now = datetime.now(UTC)
    due = [
        factories.alert(created_at=now, occurred_at=now - timedelta(days=40 + i)) for i in range(5)
    ]
    recent = factories.alert(created_at=now, occurred_at=now - timedelta(days=3))
    for alert in (*due, recent):
        await store(db, alert)
    purge = Purge.after(28, now)

    asked = [due[0].alert_id, due[3].alert_id, recent.alert_id]
    assert await purge.alerts(db, asked, batch=1) == 2
    assert await purge.alerts(db, batch=2) == 3
    assert await purge.alerts(db, batch=2) == 0

    rows = {row["alert_id"]: row for row in await db.fetch("SELECT * FROM alert")}
    for alert in due:
        assert_without_personal_data(rows[alert.alert_id]["payload"], alert)
        assert rows[alert.alert_id]["payload_purged_at"] == now
    assert rows[recent.alert_id]["payload_purged_at"] is None


async def test_webhook_moves_go_a_day_after_the_log_they_serve(db: asyncpg.Connection) -> None:
    # The moves of webhooks (notify/change.py) were never purged; they serve rows of the
    # notification log (28 days + a week here) written up to an hour after them.
    await db.execute(
        "INSERT INTO organisation (organisation_id, name, role) VALUES ('ah', 'AH', 'retailer')"
    )
    for days_old, url in ((36.5, "https://old.example.nl"), (35.5, "https://kept.example.nl")):
        await db.execute(
            "INSERT INTO webhook_move (organisation_id, old_url, new_url, moved_at) "
            "VALUES ('ah', $1, 'https://new.example.nl', now() - make_interval(secs => $2))",
            url, days_old * 86400,
        )  # fmt: skip
    report = await purge_personal_data(db, 28, audit_retention_days=1826)
    assert report.purged["webhook_move"] == 1
    assert await db.fetchval("SELECT array_agg(old_url) FROM webhook_move") == [
        "https://kept.example.nl"
    ]


async def _audit_row(db: asyncpg.Connection, days_old: float, subject: str) -> None:
    await db.execute(
        "INSERT INTO audit_log (audit_id, at, actor, action, subject, details) "
        "VALUES ($1, now() - make_interval(secs => $2), 'retail-a', 'event_accepted', $3, '{}')",
        uuid.uuid4(), days_old * 86400, subject,
    )  # fmt: skip


async def _subjects(db: asyncpg.Connection) -> set[str]:
    rows = await db.fetch("SELECT subject FROM audit_log WHERE actor = 'retail-a'")
    return {row["subject"] for row in rows}


async def test_the_audit_log_is_purged_after_its_own_period(db: asyncpg.Connection) -> None:
    # Issue 11, finding 10: the audit log was never purged.
    await _audit_row(db, 1827, "old")
    await _audit_row(db, 1825, "within")
    await _audit_row(db, 40, "recent")  # older than the personal data, still kept
    report = await purge_personal_data(db, 28, audit_retention_days=1826)
    assert report.purged["audit_log"] == 1
    assert await _subjects(db) == {"within", "recent"}
    row = await db.fetchrow("SELECT details FROM audit_log WHERE action = 'data_deleted'")
    assert json.loads(row["details"])["purged"]["audit_log"] == 1


async def test_the_schedule_runs_retention_again_and_again(
    settings: Settings, db: asyncpg.Connection
) -> None:
    quick = settings.model_copy(update={"retention_every_hours": 0.5 / 3600})
    pool = await create_pool(quick, max_size=1)
    stop = asyncio.Event()
    schedule = asyncio.create_task(run_retention_schedule(pool, quick, stop))
    try:
        for n in range(2):
            await _audit_row(db, 5 * 365 + 10, f"old-{n}")

            async def purged(subject: str = f"old-{n}") -> bool:
                return subject not in await _subjects(db)

            await eventually(purged, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(schedule, 30)
        await pool.close()


async def test_the_sink_runs_retention_on_its_own(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # Issue 11, finding 10: nothing scheduled retention; it ran only when typed by hand.
    await _audit_row(db, 5 * 365 + 10, "old")
    old = factories.incident_report(occurred_at=datetime.now(UTC) - timedelta(days=40))
    await store(db, old)
    with running(settings, "sink", log=tmp_path / "sink.log"):

        async def purged() -> bool:
            payload = await db.fetchval("SELECT payload FROM event")
            return payload is None and "old" not in await _subjects(db)

        await eventually(purged, timeout=60)
