"""Historical alerts through the notify service (real Kafka, PostgreSQL, an HTTP receiver): to a
webhook only where its subscription asks for history; every body says when it happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from producers.api import admin
from schemas.common import PoliceUnit
from streams.report_robberies import robbery_alert
from tests import factories
from tests.consumers.test_notify_service import _publish, _running, _settled
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

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
            old_rows = await eventually(lambda: _settled(db, old.dedup_key, 2))
            fresh_rows = await eventually(lambda: _settled(db, fresh.dedup_key, 3))

    # History: the unit's desk (its history view) and the webhook that asked; not the CBL's.
    assert set(old_rows) == {"politie-ams/desk", "politie-ams/webhook"}
    assert set(fresh_rows) == {"politie-ams/desk", "politie-ams/webhook", "cbl/webhook"}
    bodies = {entry["view"]["alert"]["alert_id"]: entry
              for delivered in receiver.delivered("police")
              for entry in delivered.document["alerts"]}  # fmt: skip
    old_body = bodies[str(old.alert_id)]
    assert old_body["view"]["alert"]["occurred_at"].startswith("2025-03-12T13:05:00")
    assert old_body["view"]["alert"]["historical"] is True
    assert "[middel · historie]" in old_body["summary"]
    assert "gebeurd 12-03-2025 14:05 (" in old_body["summary"]
    [cbl] = [entry for d in receiver.delivered("cbl") for entry in d.document["alerts"]]
    assert cbl["view"]["alert_id"] == str(fresh.alert_id)
    assert cbl["view"]["occurred_at"] is not None and cbl["view"]["historical"] is False
    assert "happened " in cbl["summary"] and "min ago), reported " in cbl["summary"]
