"""Historical alerts through the notify service (real Kafka, PostgreSQL, an HTTP receiver): to a
webhook only where its subscription asks for history; every body says when it happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from consumers.notify import notices
from consumers.notify.dispatch import dispatch
from consumers.notify.route import Route
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.retention import Purge
from consumers.sink import store
from heterdaad.db import create_pool
from producers.api import admin
from schemas.alerts import RecipientRole, alert_reference_id
from schemas.common import PoliceUnit
from streams.report_robberies import robbery_alert
from tests import factories
from tests.consumers.test_notify_service import FAST, _publish, _running, _settled
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings
    from schemas.alerts import Alert
    from tests.consumers.test_notify_webhook import Received

pytestmark = pytest.mark.integration

# 14:05 in Amsterdam on 12 March 2025.
MARCH_2025 = datetime(2025, 3, 12, 13, 5, tzinfo=UTC)


async def test_history_reaches_only_the_webhooks_that_ask_and_says_when(
    settings: Settings, db: asyncpg.Connection
) -> None:
    now = datetime.now(UTC)
    old = robbery_alert(factories.incident_report(occurred_at=MARCH_2025), settings, now)
    fresh_report = factories.incident_report(occurred_at=now - timedelta(minutes=3))
    fresh = robbery_alert(fresh_report, settings, now)
    assert (old.historical, fresh.historical) == (True, False)
    async with WebhookReceiver() as receiver:
        await admin.create_organisation(
            db, "politie-ams", "Politie Amsterdam", "police", police_unit=PoliceUnit.AMSTERDAM
        )
        await admin.create_organisation(db, "cbl", "CBL", "trade_association")
        await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
        await admin.create_branch(db, "ah", factories.branch(branch_id="ah-1"))
        # The CBL hears of alerts near its members' branches (need to know, docs/notify.md).
        await admin.add_association_member(db, "cbl", "ah")
        branch_history = SubscriptionSpec.model_validate({
            "radius_m": 1000, "webhook_url": receiver.hook("ah"), "webhook_secret": SECRET,
            "include_historical": True,
        })  # fmt: skip
        await create_subscription(db, "ah", branch_history, actor="test")
        analysts = SubscriptionSpec.model_validate({
            "webhook_url": receiver.hook("police"), "webhook_secret": SECRET,
            "include_historical": True,
        })  # fmt: skip
        await create_subscription(db, "politie-ams", analysts, actor="test")
        live_only = SubscriptionSpec.model_validate(
            {"webhook_url": receiver.hook("cbl"), "webhook_secret": SECRET, "language": "en"}
        )
        await create_subscription(db, "cbl", live_only, actor="test")
        await _publish(settings, old, fresh)
        async with _running(settings):
            old_rows = await eventually(lambda: _settled(db, old.dedup_key, 3))
            fresh_rows = await eventually(lambda: _settled(db, fresh.dedup_key, 4))

    # History: the unit's desk (its history view) and the webhooks that asked; not the CBL's.
    assert set(old_rows) == {"politie-ams/desk", "politie-ams/webhook", "ah/webhook"}
    assert set(fresh_rows) == {
        "politie-ams/desk", "politie-ams/webhook", "ah/webhook", "cbl/webhook"
    }  # fmt: skip
    bodies = {entry["view"]["alert"]["alert_id"]: entry
              for delivered in receiver.delivered("police")
              for entry in delivered.document["alerts"]}  # fmt: skip
    old_body = bodies[str(old.alert_id)]
    assert old_body["view"]["alert"]["occurred_at"].startswith("2025-03-12T13:05:00")
    assert old_body["view"]["alert"]["historical"] is True
    assert "[middel · historie]" in old_body["summary"]
    assert "gebeurd 12-03-2025 14:05 (" in old_body["summary"]
    key = settings.require_plate_key()
    assert_sent_without_personal_data(old_body, old_rows, receiver.delivered("ah"), old, key)
    # What happened within the period is sent whole: the police see persons and vehicles, a
    # branch what to look out for.
    fresh_body = bodies[str(fresh.alert_id)]["view"]["alert"]
    assert fresh_body["persons"][0]["clothing"] == ["zwarte jas"]
    assert fresh_body["vehicles"][0]["plate_pseudonym"] == factories.PLATE_PSEUDONYM
    assert fresh_body["lookout"]["clothing"] == ["zwarte jas"]
    [ah_fresh] = [entry for d in receiver.delivered("ah") for entry in d.document["alerts"]
                  if entry["view"]["alert_id"] == _branch_id(fresh, key)]  # fmt: skip
    assert ah_fresh["view"]["lookout"]["clothing"] == ["zwarte jas"]
    assert "zwarte jas" in ah_fresh["summary"]
    [cbl] = [entry for d in receiver.delivered("cbl") for entry in d.document["alerts"]]
    assert cbl["view"]["alert_id"] == _branch_id(fresh, key)
    assert cbl["view"]["occurred_at"] is not None and cbl["view"]["historical"] is False
    assert "happened " in cbl["summary"] and "min ago), reported " in cbl["summary"]


@pytest.mark.parametrize("days_ago", [27, 29])
async def test_the_log_holds_no_personal_data_past_the_period(
    settings: Settings, db: asyncpg.Connection, days_ago: int
) -> None:
    # The view to send and the summary are written to the notification log before anything
    # is sent: past the period (28 days of event time) they are the stripped alert's, for the
    # police as for a branch; a day within it, whole.
    now = datetime.now(UTC)
    report = factories.incident_report(occurred_at=now - timedelta(days=days_ago))
    alert = robbery_alert(report, settings, now)
    routes = [
        Route("politie-ams/webhook/p", "politie-ams", RecipientRole.POLICE, "webhook", "nl",
              webhook_url="https://politie.example/hook"),
        Route("ah/webhook/a", "ah", RecipientRole.BRANCH, "webhook", "nl",
              webhook_url="https://ah.example/hook"),
    ]  # fmt: skip
    purge = Purge.after(settings.personal_data_retention_days, now)

    assert await dispatch(db, alert, routes, FAST, now, b"k" * 32, purge) == 2

    rows = {row["organisation_id"]: row for row in await db.fetch(
        "SELECT organisation_id, payload::text, summary FROM delivery")}  # fmt: skip
    police = json.loads(rows["politie-ams"]["payload"])["view"]["alert"]
    branch = json.loads(rows["ah"]["payload"])["view"]
    if days_ago > settings.personal_data_retention_days:
        assert (police["persons"], police["vehicles"], police["lookout"]["clothing"]) == (
            [], [], []
        )
        assert branch["lookout"]["clothing"] == []
        for row in rows.values():
            assert "zwart" not in row["payload"] and "zwart" not in row["summary"]
            assert factories.PLATE_PSEUDONYM not in row["payload"]
    else:
        assert police["persons"][0]["clothing"] == ["zwarte jas"]
        assert branch["lookout"]["clothing"] == ["zwarte jas"]
        assert all("zwarte jas" in row["summary"] for row in rows.values())


async def test_a_resolved_notice_past_the_period_holds_no_personal_data(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # The notice builds the recipient's view again from the stored alert, which the retention
    # pass (every retention_every_hours) may not have stripped yet: it is stripped by the rule.
    now = datetime.now(UTC)
    report = factories.incident_report(occurred_at=now - timedelta(days=29))
    alert = robbery_alert(report, settings, now)
    police = Route("politie-ams/webhook/p", "politie-ams", RecipientRole.POLICE, "webhook", "nl",
                   webhook_url="https://politie.example/hook")  # fmt: skip
    await dispatch(db, alert, [police], FAST, now, b"k" * 32, Purge.after(10_000, now))
    await db.execute("UPDATE delivery SET state = 'delivered', payload = NULL")
    await store(db, alert)  # whole, as stored within the period, before the next pass
    await db.execute(
        "UPDATE alert SET resolved_at = $1, outcome = 'arrested', resolved_by = 'agent'", now
    )
    purge = Purge.after(settings.personal_data_retention_days, now)

    pool = await create_pool(settings, max_size=1)
    try:
        assert await notices.dispatch_resolved(pool, now, FAST, b"k" * 32, purge) == 1
    finally:
        await pool.close()

    payload = await db.fetchval(
        "SELECT payload::text FROM delivery WHERE dedup_key = $1", alert.dedup_key + "#resolved"
    )
    view = json.loads(payload)["view"]["alert"]
    assert (view["persons"], view["vehicles"], view["lookout"]["clothing"]) == ([], [], [])
    assert "zwart" not in payload and factories.PLATE_PSEUDONYM not in payload


def _branch_id(alert: Alert, key: bytes) -> str:
    """The alert's id as recipients other than the police see it (docs/notify.md)."""
    return str(alert_reference_id(alert.dedup_key, key))


def assert_sent_without_personal_data(
    police: dict[str, Any], rows: dict[str, Any], branch: list[Received], alert: Alert,
    key: bytes,
) -> None:
    """A tester's: the police's webhook of a robbery past the retention period carried
    persons[].clothing, while the sink had stored the alert stripped. Notify strips it by the
    same rule (consumers/retention.Purge) before it builds any view: police and branch alike,
    in body and summary, and in the notification log."""
    assert police["view"]["alert"] == json.loads(alert.without_personal_data().model_dump_json())
    assert police["view"]["alert"]["persons"] == [] and police["view"]["alert"]["vehicles"] == []
    [entry] = [e for d in branch for e in d.document["alerts"]
               if e["view"]["alert_id"] == _branch_id(alert, key)]  # fmt: skip
    assert entry["view"]["lookout"]["clothing"] == []
    assert entry["view"]["lookout"]["getaway_mode"] == "scooter"  # the kind stays
    for text in ("zwarte jas", "zwart", factories.PLATE_PSEUDONYM):
        assert text not in json.dumps(police) and text not in json.dumps(entry)
        for row in rows.values():
            assert text not in row["summary"] and text not in (row["payload"] or "")
