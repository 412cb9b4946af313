"""The notify service through real Kafka, PostgreSQL and an HTTP receiver: signed views,
retries until delivered once, dead notifications, and replays that send nothing again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.notify.service import NotifyService
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from heterdaad.kafka import make_producer, publish
from heterdaad.thresholds.notify import NotifyThresholds
from infra.local import free_port
from producers.api import admin
from schemas.alerts import Alert, alert_id_for, alert_reference
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import PersonDescription
from schemas.topics import ALERTS
from schemas.wire import DLQ_STAGE
from tests import factories
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually, read_topic
from tests.postgres_relay import PostgresRelay

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

FAST = NotifyThresholds(
    group_wait_seconds=0,
    retry_base_seconds=0.05,
    retry_max_seconds=0.2,
    poll_seconds=0.05,
    webhook_timeout_seconds=1.0,
    max_attempts=10,
    # The receivers of these tests listen on 127.0.0.1.
    allow_private_webhooks=True,
)
CLOTHING = "rode bodywarmer met wit logo"


async def _subscribe(db: asyncpg.Connection, ah_hook: str, police_hook: str | None) -> None:
    await admin.create_organisation(
        db, "politie-ams", "Politie Amsterdam", "police", police_unit=PoliceUnit.AMSTERDAM
    )
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    await admin.create_branch(db, "ah", factories.branch(branch_id="ah-1"))
    ah = SubscriptionSpec.model_validate(
        {"radius_m": 1000, "webhook_url": ah_hook, "webhook_secret": SECRET}
    )
    await create_subscription(db, "ah", ah, actor="test")
    if police_hook is not None:
        police = SubscriptionSpec.model_validate(
            {"webhook_url": police_hook, "webhook_secret": SECRET, "language": "en"}
        )
        await create_subscription(db, "politie-ams", police, actor="test")


def _robbery(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "branch_types_at_risk": [BranchType.SUPERMARKET],
        "persons": [PersonDescription(clothing=[CLOTHING])],
    }
    return factories.alert(**(fields | overrides))


async def _publish(settings: Settings, *alerts: Alert, garbage: bool = False) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for alert in alerts:
            await publish(producer, ALERTS, alert, prefix=settings.topic_prefix, source="urn:t")
        if garbage:
            await producer.send_and_wait(ALERTS.name(settings.topic_prefix), value=b"{not json")
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _running(service_settings: Settings, **options: Any) -> AsyncIterator[NotifyService]:
    stop = asyncio.Event()
    async with NotifyService(service_settings, options.pop("thresholds", FAST), **options) as s:
        task = asyncio.create_task(s.run(stop))
        try:
            yield s
        finally:
            stop.set()
            await task


async def _rows(db: asyncpg.Connection, dedup_key: str) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM delivery WHERE dedup_key = $1", dedup_key)
    return {row["recipient"].split("/")[0] + "/" + row["channel"]: row for row in rows}


async def _settled(db: asyncpg.Connection, dedup_key: str, count: int) -> dict[str, Any] | None:
    rows = await _rows(db, dedup_key)
    final = [row for row in rows.values() if row["state"] in ("delivered", "dead", "muted")]
    return rows if len(rows) == count and len(final) == count else None


async def test_each_recipient_gets_its_signed_view(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah"), receiver.hook("police"))
        report = uuid.uuid4()  # a retailer's report: its id is the dedup key's
        alert = _robbery(dedup_key=f"robbery_reported:{report}", alert_id=alert_id_for(
            f"robbery_reported:{report}"))  # fmt: skip
        await _publish(settings, alert, garbage=True)
        async with _running(settings):
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 3))
        [dead] = await read_topic(
            settings.kafka_bootstrap, ALERTS.dead_letter_name(settings.topic_prefix), count=1
        )

    assert {name: row["state"] for name, row in rows.items()} == {
        "politie-ams/desk": "delivered",
        "politie-ams/webhook": "delivered",
        "ah/webhook": "delivered",
    }
    # Sent is sent: the stored view is cleared, the summary stays for the history.
    assert all(row["payload"] is None for row in rows.values())
    assert rows["ah/webhook"]["summary"].startswith("[urgent] Overval gemeld")
    assert rows["politie-ams/webhook"]["summary"].startswith("[high] Robbery reported")
    [branch] = receiver.delivered("ah")
    [police] = receiver.delivered("police")
    # The branch never sees plates, descriptions, evidence or the report's id (which the dedup
    # key holds), in its body or its headers; the police do.
    for secret_text in (factories.PLATE_PSEUDONYM, CLOTHING, str(alert.evidence[0].event_id),
                        str(report), alert.dedup_key):  # fmt: skip
        assert secret_text.encode() not in branch.body
        assert secret_text not in json.dumps(branch.headers)
        assert secret_text.encode() in police.body
    [entry] = branch.document["alerts"]
    assert entry["view"]["role"] == "branch"
    assert entry["nearby_branches"] == [{"branch_id": "ah-1", "distance_m": 0}]
    # What it deduplicates on instead: the keyed reference, in its view and its keys.
    reference = alert_reference(alert.dedup_key, settings.require_plate_key())
    assert branch.alert_keys == [reference] and police.alert_keys == [alert.dedup_key]
    assert branch.key == f"{reference}:{rows['ah/webhook']['recipient']}"
    assert entry["idempotency_key"] == branch.key
    assert police.key == f"{alert.dedup_key}:{rows['politie-ams/webhook']['recipient']}"
    assert police.document["alerts"][0]["view"]["alert"]["vehicles"]
    assert dead.headers and dict(dead.headers)[DLQ_STAGE] == b"notify"


@pytest.mark.parametrize(
    ("behaviour", "requests"),
    [
        # Answers 500 twice, then recovers: the third attempt is delivered.
        ({"answers": [500, 503]}, 3),
        # Holds on to the first request past the sender's timeout: the retry is delivered,
        # and both requests carry the same Idempotency-Key for the receiver to deduplicate.
        ({"hang": 1}, 2),
        # Asks the sender to slow down once.
        ({"answers": [429]}, 2),
    ],
)
async def test_a_struggling_receiver_gets_it_once(
    settings: Settings, db: asyncpg.Connection, behaviour: dict[str, Any], requests: int
) -> None:
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah", **behaviour), None)
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings):
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2))
        assert len(receiver.delivered()) == 1
    row = rows["ah/webhook"]
    assert (row["state"], row["attempts"]) == ("delivered", requests)
    ah_requests = [r for r in receiver.requests if r.hook == "ah"]
    assert len(ah_requests) == requests
    assert len({r.key for r in ah_requests}) == 1
    assert len({r.body for r in ah_requests}) == 1
    attempts = await db.fetch(
        "SELECT attempt, status_code, error FROM delivery_attempt WHERE notification_key = $1 "
        "ORDER BY attempt",
        row["notification_key"],
    )
    assert [a["attempt"] for a in attempts] == list(range(1, requests + 1))
    assert attempts[-1]["status_code"] == 200
    assert all(a["error"] for a in attempts[:-1])
    # The disclosure is in the audit trail once, however many attempts it took (issue 12).
    [audited] = await db.fetch(
        "SELECT actor, subject, details FROM audit_log WHERE action = 'alert_delivered'"
    )
    assert (audited["actor"], audited["subject"]) == ("notify", row["recipient"])
    assert json.loads(audited["details"])["alert_ids"] == [str(alert.alert_id)]


async def test_a_receiver_that_is_down_gets_it_when_it_is_back(
    settings: Settings, db: asyncpg.Connection
) -> None:
    port = free_port()
    receiver = WebhookReceiver(port=port)
    await _subscribe(db, receiver.hook("ah"), None)
    alert = _robbery()
    await _publish(settings, alert)
    async with _running(settings):
        await eventually(lambda: _failed_twice(db, alert.dedup_key))
        async with receiver:
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2))
    assert rows["ah/webhook"]["state"] == "delivered"
    assert len(receiver.requests) == 1
    assert "ConnectError" in rows["ah/webhook"]["last_error"]


@pytest.mark.parametrize(
    ("answers", "requests", "error"),
    [
        # Never recovers: given up after max_attempts.
        ([500] * 10, 3, "HTTP 500"),
        # Refuses the request itself: no point in trying again.
        ([404], 1, "HTTP 404"),
    ],
)
async def test_dead_after_trying(
    settings: Settings, db: asyncpg.Connection, answers: list[int], requests: int, error: str
) -> None:
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah", answers=answers), None)
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings, thresholds=FAST.model_copy(update={"max_attempts": 3})):
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2))
    row = rows["ah/webhook"]
    assert (row["state"], row["attempts"], row["payload"]) == ("dead", requests, None)
    assert row["last_error"].startswith(error)
    assert len(receiver.requests) == requests


async def _caught_up(settings: Settings, group_id: str) -> bool:
    """Whether the group has committed every record now on ALERTS."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await reader.start()
    try:
        topic = ALERTS.name(settings.topic_prefix)
        partitions: Sequence[TopicPartition] = [
            TopicPartition(topic, p) for p in range(ALERTS.partitions)
        ]
        ends = await reader.end_offsets(list(partitions))
        for partition in partitions:
            if (await reader.committed(partition) or 0) < ends[partition]:
                return False
        return True
    finally:
        await reader.stop()


async def test_a_replay_sends_nothing_again(settings: Settings, db: asyncpg.Connection) -> None:
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah"), None)
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings):
            await eventually(lambda: _settled(db, alert.dedup_key, 2))
        # The stage emits the alert again, and a new instance reads the topic from the start
        # (as after an offset reset): both records are seen again, nothing is sent again.
        await _publish(settings, alert)
        async with _running(settings, group_id=f"{settings.app_id}-notify-replay") as again:
            await eventually(lambda: _caught_up(settings, again.group_id))
            await again.deliver_due()
        assert len(receiver.requests) == 1
    assert await db.fetchval("SELECT count(*) FROM delivery") == 2
    assert await db.fetchval("SELECT sum(attempts) FROM delivery") == 1


async def test_alerts_arriving_while_the_database_is_away_are_sent_once_it_is_back(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # The consumer of ALERTS ended the service on the first alert it could not write
    # (docs/fault-tolerance.md, finding 5); now it reads the batch again once it can.
    async with WebhookReceiver() as receiver, PostgresRelay(settings.database_url) as relay:
        await _subscribe(db, receiver.hook("ah"), None)
        before, during = _robbery(), _robbery()
        await _publish(settings, before)
        # A short group interval: the second alert is due at once, not a minute after the first.
        quick = FAST.model_copy(update={"group_interval_seconds": 0.5})
        relayed = settings.model_copy(update={"database_url": relay.url})
        async with _running(relayed, thresholds=quick):
            await eventually(lambda: _settled(db, before.dedup_key, 2))
            await relay.take_away(db)
            try:
                await _publish(settings, during)
                # The outage itself (the service polls every 0.5 s), not a wait for an effect.
                await asyncio.sleep(3.0)
            finally:
                relay.bring_back()
            rows = await eventually(lambda: _settled(db, during.dedup_key, 2))
        assert relay.refused > 0
    assert {name: row["state"] for name, row in rows.items()} == {
        "politie-ams/desk": "delivered",
        "ah/webhook": "delivered",
    }
    key = settings.require_plate_key()
    assert sorted(r.alert_keys for r in receiver.delivered("ah")) == sorted(
        [[alert_reference(before.dedup_key, key)], [alert_reference(during.dedup_key, key)]]
    )


async def test_a_disabled_organisation_gets_nothing_more_not_even_retries(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """`org disable` stops what was queued for it before, retries included (offboarding)."""
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah", answers=[500] * 100), receiver.hook("police"))
        first = _robbery()
        await _publish(settings, first)
        async with _running(settings) as service:
            passes = _pass_starts(service)
            await eventually(lambda: _failed_twice(db, first.dedup_key))
            await admin.set_organisation_disabled(db, "ah", disabled=True)
            rows = await eventually(lambda: _settled(db, first.dedup_key, 3))
            tried = len([r for r in receiver.requests if r.hook == "ah"])
            # Two passes after the next retry would have been due, and their requests ended.
            due = service.clock() + timedelta(seconds=FAST.retry_max_seconds)

            async def two_passes_after_due() -> bool:
                return len([start for start in passes if start > due]) >= 2

            await eventually(two_passes_after_due)
            await service.sends_settled()
            assert len([r for r in receiver.requests if r.hook == "ah"]) == tried
        ah = rows["ah/webhook"]
        assert (ah["state"], ah["last_error"], ah["payload"]) == ("dead", "organisation disabled",
                                                                   None)  # fmt: skip
        assert ah["attempts"] == tried  # giving up is no attempt
        # The other organisation's rows are untouched.
        assert rows["politie-ams/webhook"]["state"] == "delivered"


async def test_a_row_queued_before_the_disable_is_muted(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah"), None)
        alert = _robbery()
        await _publish(settings, alert)
        # The rows are written at once, and due only after the group wait.
        waiting = FAST.model_copy(update={"group_wait_seconds": 3})
        async with _running(settings, thresholds=waiting):
            await eventually(lambda: _rows_written(db, alert.dedup_key, 2))
            await admin.set_organisation_disabled(db, "ah", disabled=True)
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2))
    ah = rows["ah/webhook"]
    assert (ah["state"], ah["muted_by"], ah["attempts"]) == ("muted", "organisation disabled", 0)
    assert receiver.requests == []


async def _failed_twice(db: asyncpg.Connection, dedup_key: str) -> bool:
    row = (await _rows(db, dedup_key)).get("ah/webhook")
    return row is not None and row["attempts"] >= 2 and row["state"] == "failed"


def _pass_starts(service: NotifyService) -> list[datetime]:
    """When each delivery pass of `service` starts, from now on (its own clock)."""
    starts: list[datetime] = []
    deliver_due = service.deliver_due

    async def counted() -> int:
        starts.append(service.clock())
        return await deliver_due()

    service.deliver_due = counted  # type: ignore[method-assign]
    return starts


async def _rows_written(db: asyncpg.Connection, dedup_key: str, count: int) -> bool:
    return len(await _rows(db, dedup_key)) == count


async def test_a_retailer_hears_only_of_alerts_near_its_branches(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Need to know (AVG, Wet politiegegevens): a retailer's subscription without radius_m heard
    of every alert in the country, and one naming a police unit of every alert there, branch
    or no branch. Through Kafka and PostgreSQL, an Amsterdam robbery reaches the Amsterdam
    retailer, not the one in Groningen subscribed the same way, nor a row stored before the cap
    (no radius, the Amsterdam unit) of a retailer whose only branch is in Rotterdam."""
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah"), None)
        groningen = Location(lat=53.2194, lon=6.5665)
        rotterdam = Location(lat=51.9225, lon=4.4792)
        await admin.create_organisation(db, "super-gr", "Super Groningen", "retailer")
        await admin.create_branch(
            db, "super-gr", factories.branch(branch_id="gr-1", location=groningen)
        )
        await admin.create_organisation(db, "super-rdam", "Super Rotterdam", "retailer")
        await admin.create_branch(
            db, "super-rdam", factories.branch(branch_id="rdam-1", location=rotterdam)
        )
        far = SubscriptionSpec.model_validate(
            {"webhook_url": receiver.hook("far"), "webhook_secret": SECRET}
        )
        made = await create_subscription(db, "super-gr", far, actor="test")
        stored = await db.fetchval(
            "SELECT radius_m FROM subscription WHERE subscription_id = $1", made.subscription_id
        )
        assert stored == NotifyThresholds().retail_max_radius_m == 25_000
        await db.execute(
            "INSERT INTO subscription (organisation_id, police_units, webhook_url, webhook_secret)"
            " VALUES ('super-rdam', '{amsterdam}', $1, $2)",
            receiver.hook("old"), SECRET,
        )  # fmt: skip
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings):
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2))
            await asyncio.sleep(0.5)  # a later row would still come in

    assert set(rows) == {"politie-ams/desk", "ah/webhook"}
    assert set(await _rows(db, alert.dedup_key)) == {"politie-ams/desk", "ah/webhook"}
    assert receiver.delivered("far") == [] and receiver.delivered("old") == []
    [near] = receiver.delivered("ah")
    assert near.document["alerts"][0]["nearby_branches"] == [{"branch_id": "ah-1", "distance_m": 0}]


async def test_a_unit_without_an_organisation_is_warned_of_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # No police organisation for Amsterdam: each of its alerts reaches nobody. That was a
    # WARNING per alert (269 in one year's CBL import); now once per unit, the rest at debug.
    caplog.set_level(logging.DEBUG, logger="consumers.notify.service")
    alerts = [_robbery(), _robbery(), _robbery()]

    def unheard() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == "alert has no recipient"]

    async def all_said() -> bool:
        return len(unheard()) == len(alerts)

    async with _running(settings):
        await _publish(settings, *alerts)
        await eventually(all_said)
    assert [r.levelno for r in unheard()].count(logging.WARNING) == 1
    assert {getattr(r, "police_unit", None) for r in unheard()} == {"amsterdam"}
