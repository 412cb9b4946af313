"""A subscription whose webhook moves, through the notify service, real Kafka, PostgreSQL and
an HTTP receiver: what the service still routed to the old webhook before it re-read its
subscriptions (notify.directory_refresh_seconds) is sent to the new one, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from consumers.notify import nflog
from consumers.notify.change import SubscriptionChange, change_subscription
from consumers.notify.route import webhook_recipient
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from producers.api import admin
from schemas.alerts import RecipientRole
from tests import factories
from tests.consumers.test_notify_service import _running
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_row_routed_to_the_old_webhook_follows_the_move(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with WebhookReceiver() as receiver:
        old, new = receiver.hook("old"), receiver.hook("new")
        await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
        spec = SubscriptionSpec.model_validate(
            {"radius_m": 1000, "webhook_url": old, "webhook_secret": SECRET}
        )
        made = await create_subscription(db, "ah", spec, actor="test")
        change = SubscriptionChange.model_validate({"webhook_url": new})
        assert await change_subscription(db, made.subscription_id, change, actor="test")
        # The service's directory, read before the change, still routes to the old webhook.
        alert = factories.alert()
        recipient = webhook_recipient("ah", old)
        row = nflog.Delivery(
            dedup_key=alert.dedup_key, recipient=recipient, alert_id=alert.alert_id,
            channel="webhook", organisation_id="ah", group_key="g",
            labels={"recipient": recipient}, language="nl", summary="overval",
            alert_created_at=alert.created_at, payload={"view": {"kind": "robbery_reported"}},
            webhook_url=old, next_attempt_at=datetime.now(UTC), role=RecipientRole.BRANCH,
        )  # fmt: skip
        assert await nflog.record(db, row, datetime.now(UTC))

        async def settled() -> str | None:
            state: str | None = await db.fetchval(
                "SELECT state FROM delivery WHERE dedup_key = $1", alert.dedup_key
            )
            return state if state in ("delivered", "dead") else None

        async with _running(settings):
            state = await eventually(settled)
    # Given up before ("no subscription with this webhook any more"): now sent where it went.
    assert state == "delivered"
    assert len(receiver.delivered("new")) == 1 and receiver.delivered("old") == []
    stored = await db.fetchval("SELECT webhook_url FROM delivery WHERE dedup_key = $1",
                               alert.dedup_key)  # fmt: skip
    assert stored == new
