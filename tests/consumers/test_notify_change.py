"""A subscription whose webhook moves, through the notify service, real Kafka, PostgreSQL and
an HTTP receiver: what the service still routed to the old webhook before it re-read its
subscriptions (notify.directory_refresh_seconds) is sent to the new one, once; and
`follow_move` on its own, by the moves the change recorded (webhook_move)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from consumers.notify import nflog
from consumers.notify.change import SubscriptionChange, change_subscription, follow_move
from consumers.notify.route import webhook_recipient
from consumers.notify.subscriptions import (
    SubscriptionSpec,
    create_subscription,
    delete_subscription,
)
from producers.api import admin
from schemas.alerts import RecipientRole
from tests import factories
from tests.consumers.test_notify_service import FAST, _publish, _robbery, _running
from tests.consumers.test_notify_service import _subscribe as _subscribe_ah_branch
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


OLD, NEW = "https://hooks.example.nl/old", "https://hooks.example.nl/new"


async def _formed_for(
    db: asyncpg.Connection, url: str, key: str, organisation_id: str = "ah"
) -> None:
    """A notification formed (its key fixed) for `url`, as the service wrote it."""
    alert = factories.alert()
    recipient = webhook_recipient(organisation_id, url)
    row = nflog.Delivery(
        dedup_key=alert.dedup_key, recipient=recipient, alert_id=alert.alert_id,
        channel="webhook", organisation_id=organisation_id, group_key="g",
        labels={"recipient": recipient}, language="nl", summary="overval",
        alert_created_at=alert.created_at, payload={"view": {"kind": "robbery_reported"}},
        webhook_url=url, next_attempt_at=datetime.now(UTC), role=RecipientRole.BRANCH,
    )  # fmt: skip
    assert await nflog.record(db, row, datetime.now(UTC))
    await db.execute(
        "UPDATE delivery SET notification_key = $2 WHERE dedup_key = $1", alert.dedup_key, key
    )


async def _webhook_of(db: asyncpg.Connection, key: str) -> str | None:
    url: str | None = await db.fetchval(
        "SELECT webhook_url FROM delivery WHERE notification_key = $1", key
    )
    return url


async def _subscribe(db: asyncpg.Connection, url: str, organisation_id: str = "ah") -> int:
    # The police hear of units, not of a radius around branches they do not have.
    police = organisation_id.startswith("politie")
    scope = {"police_units": ["amsterdam"]} if police else {"radius_m": 1000}
    spec = SubscriptionSpec.model_validate({**scope, "webhook_url": url, "webhook_secret": SECRET})
    made = await create_subscription(db, organisation_id, spec, actor="test")
    return made.subscription_id


async def _move(db: asyncpg.Connection, subscription_id: int, url: str | None) -> None:
    change = SubscriptionChange.model_validate({"webhook_url": url})
    assert await change_subscription(db, subscription_id, change, actor="test")


async def test_a_move_is_followed_without_the_audit_trail(db: asyncpg.Connection) -> None:
    # Delivery read where a webhook went from the audit log (its own retention, free-form
    # details): with its rows gone, a row written for the old webhook was given up.
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    await _move(db, await _subscribe(db, OLD), NEW)
    await _formed_for(db, OLD, "n1")
    await db.execute("DELETE FROM audit_log")
    assert await follow_move(db, "n1", "ah", OLD) == NEW
    assert await _webhook_of(db, "n1") == NEW


async def test_moves_are_followed_to_the_webhook_held_now(db: asyncpg.Connection) -> None:
    # old -> mid -> new: a row written for `old` goes to `new`, where a subscription is.
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    subscription = await _subscribe(db, OLD)
    await _move(db, subscription, "https://hooks.example.nl/mid")
    await _move(db, subscription, NEW)
    await _formed_for(db, OLD, "n1")
    assert await follow_move(db, "n1", "ah", OLD) == NEW


async def test_a_loop_of_moves_is_not_followed(db: asyncpg.Connection) -> None:
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    # old -> new -> old, then deleted: neither is held; the guard ends the walk.
    looping = await _subscribe(db, OLD)
    await _move(db, looping, NEW)
    await _move(db, looping, OLD)
    assert await delete_subscription(db, looping, actor="test")
    await _formed_for(db, NEW, "n1")
    assert await follow_move(db, "n1", "ah", NEW) is None


async def test_a_move_is_not_followed_to_a_webhook_that_has_the_alert(
    db: asyncpg.Connection,
) -> None:
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    await _move(db, await _subscribe(db, OLD), NEW)
    await _formed_for(db, OLD, "n1")
    await db.execute(
        "INSERT INTO delivery (dedup_key, recipient, alert_id, channel, state) "
        "SELECT dedup_key, $1, alert_id, channel, 'delivered' FROM delivery "
        "WHERE notification_key = 'n1'",
        webhook_recipient("ah", NEW),
    )
    assert await follow_move(db, "n1", "ah", OLD) is None  # sent twice else
    assert await _webhook_of(db, "n1") == OLD


async def test_a_webhook_taken_away_is_not_followed(db: asyncpg.Connection) -> None:
    # Only the police may be without a webhook (the desk). A webhook moved once and later
    # taken away from another subscription went nowhere: its latest move counts.
    await admin.create_organisation(db, "politie-ams", "Politie Amsterdam", "police")
    await _move(db, await _subscribe(db, OLD, "politie-ams"), NEW)
    await _move(db, await _subscribe(db, OLD, "politie-ams"), None)
    await _formed_for(db, OLD, "n1", "politie-ams")
    assert await follow_move(db, "n1", "politie-ams", OLD) is None


async def test_the_service_routes_by_a_change_at_once(
    settings: Settings, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # Subscriptions were read only every directory_refresh_seconds: alerts of that while went
    # to the old webhook's recipient. The change now tells the service (LISTEN/NOTIFY).
    caplog.set_level(logging.INFO, logger="consumers.notify.service")
    hourly = FAST.model_copy(update={"directory_refresh_seconds": 3600})
    async with WebhookReceiver() as receiver:
        old, new = receiver.hook("old"), receiver.hook("new")
        await _subscribe_ah_branch(db, old, None)

        async def delivered_to(name: str) -> bool:
            return bool(receiver.delivered(name))

        async with _running(settings, thresholds=hourly):
            await _publish(settings, _robbery())
            await eventually(lambda: delivered_to("old"))  # the subscriptions were read
            subscription = await db.fetchval("SELECT subscription_id FROM subscription")
            await _move(db, subscription, new)

            async def told() -> bool:
                return "subscriptions changed: routing reads them again" in caplog.messages

            await eventually(told)
            later = _robbery()
            await _publish(settings, later)
            await eventually(lambda: delivered_to("new"))
        recipient = await db.fetchval(
            "SELECT recipient FROM delivery WHERE dedup_key = $1", later.dedup_key
        )
    assert recipient == webhook_recipient("ah", new)  # routed there, not followed there
    assert len(receiver.delivered("old")) == 1 and len(receiver.delivered("new")) == 1


async def test_a_new_subscription_is_heard_at_once(
    settings: Settings, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # A subscription made while the service runs waited for directory_refresh_seconds (an
    # hour here) before it heard anything; made, it now tells the service as a change does.
    caplog.set_level(logging.INFO, logger="consumers.notify.service")
    hourly = FAST.model_copy(update={"directory_refresh_seconds": 3600})
    async with WebhookReceiver() as receiver:
        await _subscribe_ah_branch(db, receiver.hook("ah"), None)

        async def delivered_to(name: str) -> bool:
            return bool(receiver.delivered(name))

        async with _running(settings, thresholds=hourly):
            await _publish(settings, _robbery())
            await eventually(lambda: delivered_to("ah"))  # the subscriptions were read
            await _subscribe(db, receiver.hook("police"), "politie-ams")

            async def told() -> bool:
                return "subscriptions changed: routing reads them again" in caplog.messages

            await eventually(told)
            await _publish(settings, _robbery())
            await eventually(lambda: delivered_to("police"))
    assert len(receiver.delivered("police")) == 1
