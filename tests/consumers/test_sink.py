"""The PostgreSQL sink stores each record once and dead-letters what it cannot read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from consumers.retention import Purge
from consumers.sink import Sink, store, store_many
from heterdaad.kafka import make_producer, publish
from schemas.events import AlarmActivation, ValueBand
from schemas.topics import (
    ALARM_ACTIVATIONS,
    ALERTS,
    DEAD_LETTER_PARTITIONS,
    INCIDENT_REPORTS,
    RECON_SIGHTINGS,
    TopicSpec,
)
from schemas.wire import DLQ_REASON, DLQ_STAGE
from tests import factories
from tests.consumers.test_retention import assert_without_personal_data
from tests.kafka_helpers import eventually, publish_all, read_topic, records_up_to_now

if TYPE_CHECKING:
    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


async def test_every_record_stored_once_and_garbage_dead_lettered(
    settings: Settings, db: asyncpg.Connection
) -> None:
    report = factories.incident_report()
    published = [
        (ALARM_ACTIVATIONS, factories.alarm_activation()),
        (INCIDENT_REPORTS, report),
        (INCIDENT_REPORTS, report),  # a replay must not make a second row
        (RECON_SIGHTINGS, factories.recon_sighting()),
        (ALERTS, factories.alert()),
    ]
    producer = make_producer(settings)
    await producer.start()
    try:
        for spec, model in published:
            await publish(producer, spec, model, prefix=settings.topic_prefix, source="urn:t")
        await producer.send_and_wait(RECON_SIGHTINGS.name(settings.topic_prefix), value=b"\xff")
    finally:
        await producer.stop()

    stop = asyncio.Event()
    async with Sink(settings) as sink:
        running = asyncio.create_task(sink.run(stop))

        async def all_stored() -> bool:
            events = await db.fetchval("SELECT count(*) FROM event")
            alerts = await db.fetchval("SELECT count(*) FROM alert")
            return (events, alerts) == (3, 1)

        await eventually(all_stored, timeout=60)
        [dead] = await read_topic(
            settings.kafka_bootstrap, RECON_SIGHTINGS.dead_letter_name(settings.topic_prefix),
            count=1,
        )  # fmt: skip
        stop.set()
        await running

    row = await db.fetchrow("SELECT * FROM event WHERE event_id = $1", report.event_id)
    assert row["event_type"] == "incident_report"
    assert row["police_unit"] == "amsterdam"
    assert row["kind"] == "overval"
    assert dead.value == b"\xff"
    assert dict(dead.headers)[DLQ_REASON].startswith(b"not a binary-mode CloudEvent")


async def test_a_batch_keeps_one_row_per_id_whatever_was_stored_before(
    db: asyncpg.Connection,
) -> None:
    stored_before = factories.incident_report()
    await store(db, stored_before)
    alarm, alert = factories.alarm_activation(), factories.alert()
    # Ids already stored, and ids twice in one batch: the batch keeps one row of each.
    batch = [alarm, stored_before, alert, alarm, alert, stored_before]
    async with db.transaction():
        await store_many(db, batch)
    async with db.transaction():
        await store_many(db, batch)  # the whole poll again, as after a crash before the commit

    counts = await db.fetchrow(
        "SELECT (SELECT count(*) FROM event) AS events, (SELECT count(*) FROM alert) AS alerts"
    )
    assert tuple(counts) == (2, 1)


async def test_a_replayed_batch_leaves_a_purged_payload_purged(db: asyncpg.Connection) -> None:
    batch = [factories.alarm_activation(), factories.alert()]
    async with db.transaction():
        await store_many(db, batch)
    # Retention clears the personal data (consumers/retention.py); the poll is then replayed.
    await db.execute("UPDATE event SET payload = NULL, payload_purged_at = now()")
    await db.execute("UPDATE alert SET payload = NULL, payload_purged_at = now()")
    async with db.transaction():
        await store_many(db, batch)

    kept = await db.fetch(
        "SELECT payload FROM event UNION ALL SELECT payload FROM alert"
    )
    assert [row["payload"] for row in kept] == [None, None]


async def test_a_copied_batch_stores_the_rows_one_by_one_upserts_store(
    db: asyncpg.Connection,
) -> None:
    batch = [
        factories.alarm_activation(), factories.incident_report(), factories.recon_sighting(),
        factories.alert(),
    ]  # fmt: skip
    compared = (
        "SELECT to_jsonb(e) - 'received_at' AS row FROM event e ORDER BY event_id",
        "SELECT to_jsonb(a) AS row FROM alert a ORDER BY alert_id",
    )
    async with db.transaction():
        await store_many(db, batch)
    copied = [await db.fetch(query) for query in compared]
    await db.execute("DELETE FROM event; DELETE FROM alert")
    for model in batch:
        await store(db, model)
    upserted = [await db.fetch(query) for query in compared]

    assert [len(rows) for rows in copied] == [3, 1]
    assert copied == upserted


async def test_a_batch_racing_another_writer_keeps_one_row_per_id(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # A second sink (during a rebalance) writes the same alarm: its row is not yet committed
    # when this batch looks its keys up, so the COPY meets it in the primary key.
    alarm, report = factories.alarm_activation(), factories.incident_report()
    other = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        racing = other.transaction()
        await racing.start()
        await store(other, alarm)

        async def batch() -> None:
            async with db.transaction():
                await store_many(db, [report, alarm])

        writing = asyncio.create_task(batch())

        async def waiting_for_the_other() -> bool:
            if writing.done():
                raise AssertionError(f"the batch did not wait: {writing.exception()!r}")
            state = await other.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                db.get_server_pid(),
            )
            return bool(state == "Lock")

        await eventually(waiting_for_the_other, timeout=30)
        await racing.commit()
        await asyncio.wait_for(writing, timeout=30)
    finally:
        await other.close()

    stored = await db.fetch("SELECT event_id FROM event")
    assert sorted(row["event_id"] for row in stored) == sorted([alarm.event_id, report.event_id])


async def test_another_event_under_a_stored_id_is_dead_lettered_and_a_redelivery_is_not(
    settings: Settings, db: asyncpg.Connection
) -> None:
    press = factories.alarm_activation()
    # A retailer read the press id off a hold-up alert's dedup key (hold_up:<site>:<press id>)
    # and posted a report under it: the API has no receipt of a press, so it took it in.
    report = factories.incident_report(event_id=press.event_id)
    # At least once: the press again as it was, and as a panel's retransmission re-stamps it.
    retransmitted = press.model_copy(
        update={"received_at": press.received_at + timedelta(seconds=4)}
    )
    taken = {"topic": INCIDENT_REPORTS.suffix, "reason": "id_taken"}
    counted_before = REGISTRY.get_sample_value("heterdaad_dead_letters_total", taken) or 0.0

    stop = asyncio.Event()
    async with Sink(settings) as sink:
        running = asyncio.create_task(sink.run(stop))
        await publish_all(settings, press)

        async def press_stored() -> bool:
            if running.done():
                raise AssertionError(f"the sink stopped: {running.exception()!r}")
            return bool(await db.fetchval("SELECT count(*) FROM event") == 1)

        await eventually(press_stored, timeout=60)
        await publish_all(settings, press, retransmitted, report)
        [dead] = await read_topic(
            settings.kafka_bootstrap, INCIDENT_REPORTS.dead_letter_name(settings.topic_prefix),
            count=1,
        )  # fmt: skip

        async def all_committed() -> bool:
            return await _committed_to_the_end(settings, sink.group_id, ALARM_ACTIVATIONS)

        # Committed after the batch's dead letters: none of the repeats' can come later.
        await eventually(all_committed, timeout=60)
        stop.set()
        await running

    repeats_dead = await records_up_to_now(
        settings.kafka_bootstrap, ALARM_ACTIVATIONS.dead_letter_name(settings.topic_prefix),
        DEAD_LETTER_PARTITIONS,
    )  # fmt: skip
    assert repeats_dead == []
    stored = await db.fetch("SELECT event_type, organisation_id, payload::text FROM event")
    assert [tuple(row) for row in stored] == [
        ("alarm_activation", "pac-noord", stored[0]["payload"])
    ]
    assert AlarmActivation.model_validate_json(stored[0]["payload"]) == press  # the first kept
    assert dict(dead.headers)[DLQ_REASON].decode() == (
        f"event id {press.event_id} is taken: another event holds it "
        "(alarm_activation of pac-noord; this is incident_report of cbl)"
    )
    counted = REGISTRY.get_sample_value("heterdaad_dead_letters_total", taken)
    assert counted == counted_before + 1


async def test_a_batch_stores_the_first_event_of_an_id_and_returns_every_other_one(
    db: asyncpg.Connection,
) -> None:
    report = factories.incident_report()
    await store(db, report)
    purged = factories.incident_report()
    await store(db, purged)
    await db.execute("UPDATE event SET payload = NULL WHERE event_id = $1", purged.event_id)
    fresh = factories.alarm_activation()
    batch = [
        report,  # 0: stored already, the same: a repeat
        report.model_copy(update={"occurred_at": report.occurred_at + timedelta(minutes=1)}),
        factories.alarm_activation(event_id=report.event_id),  # 2: another type
        factories.incident_report(event_id=report.event_id, reporting_org="ah"),  # 3: org
        report.model_copy(update={"loot_value": ValueBand.OVER_50K}),  # 4: other content
        fresh,  # 5: new
        fresh.model_copy(update={"received_at": fresh.received_at + timedelta(seconds=3)}),
        factories.recon_sighting(event_id=fresh.event_id),  # 7: earlier in the batch
        purged.model_copy(update={"loot_value": ValueBand.OVER_50K}),  # 8: only type and org left
        factories.alarm_activation(event_id=purged.event_id),  # 9
    ]
    async with db.transaction():
        collisions = await store_many(db, batch)
    one_by_one = [await store(db, model) for model in batch]

    assert [collision.index for collision in collisions] == [2, 3, 4, 7, 9]
    assert [reason is not None for reason in one_by_one] == [
        index in (2, 3, 4, 7, 9) for index in range(len(batch))
    ]
    reasons = {collision.index: collision.reason for collision in collisions}
    assert reasons[4] == (
        f"event id {report.event_id} is taken: another event holds it "
        "(incident_report of cbl with other content)"
    )
    assert reasons[7].endswith("(alarm_activation of pac-noord; this is recon_sighting of ah)")
    assert await db.fetchval("SELECT count(*) FROM event") == 3


async def _committed_to_the_end(settings: Settings, group_id: str, spec: TopicSpec) -> bool:
    """Whether the group committed every record of the topic's partitions."""
    partitions = [TopicPartition(spec.name(settings.topic_prefix), p)
                  for p in range(spec.partitions)]  # fmt: skip
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await reader.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
        await admin.close()
    return all(
        end == 0 or (tp in committed and committed[tp].offset == end) for tp, end in ends.items()
    )


async def test_a_time_too_far_ahead_of_the_readers_clock_is_dead_lettered_not_stored(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # Written straight to the topics, past the edges that refuse them (producers/edge_policy.py):
    # a robbery 200 days ahead was stored and listed first in /v1/history/events, and an alarm
    # received 13 minutes ahead is beyond the readers' 12 minutes (the edges' 2-minute skew
    # and READ_MARGIN). The sink refuses them as the worker's intake does
    # (heterdaad/event_time.py), by its clock when it reads.
    now = datetime.now(UTC)
    future = factories.incident_report(occurred_at=now + timedelta(days=200))
    alarm = factories.alarm_activation(occurred_at=now, received_at=now + timedelta(minutes=13))
    # Ahead within it: the writer's clock 5 minutes ahead of ours, beyond the edges' skew by
    # this clock, but the edge judged the time when the event came in. Stored.
    within = factories.incident_report(occurred_at=now + timedelta(minutes=5))
    after = factories.incident_report()
    await publish_all(settings, future, alarm, within, after, source="t")

    stop = asyncio.Event()
    async with Sink(settings) as sink:
        running = asyncio.create_task(sink.run(stop))

        async def caught_up() -> bool:
            if running.done():
                raise AssertionError(f"the sink stopped: {running.exception()!r}")
            return all([await _committed_to_the_end(settings, sink.group_id, spec)
                        for spec in (INCIDENT_REPORTS, ALARM_ACTIVATIONS)])  # fmt: skip

        await eventually(caught_up, timeout=60)
        stop.set()
        await running

    stored = await db.fetch("SELECT event_id FROM event")
    assert {row["event_id"] for row in stored} == {within.event_id, after.event_id}
    letters = [
        *await records_up_to_now(settings.kafka_bootstrap,
                                 INCIDENT_REPORTS.dead_letter_name(settings.topic_prefix), 1),
        *await records_up_to_now(settings.kafka_bootstrap,
                                 ALARM_ACTIVATIONS.dead_letter_name(settings.topic_prefix), 1),
    ]  # fmt: skip
    reason = "lies in the future by more than the allowed clock skew (12 minutes)"
    assert {(dict(d.headers)[DLQ_STAGE], dict(d.headers)[DLQ_REASON]) for d in letters} == {
        (b"sink", f"occurred_at: {reason}".encode()),
        (b"sink", f"received_at: {reason}".encode()),
    }
    assert [str(future.event_id).encode() in d.value for d in letters].count(True) == 1


async def test_an_alert_about_what_happened_before_the_retention_period_is_stored_stripped(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # A history import (CBL rows of months back) or a replay: no alert past the retention
    # period is stored with its personal data, not even until the next retention pass.
    assert settings.personal_data_retention_days == 28
    old = datetime.now(UTC) - timedelta(days=40)
    report = factories.incident_report(occurred_at=old)
    sighting = factories.recon_sighting(observed_at=old)
    about_old = factories.alert(occurred_at=old)  # raised now, about the old robbery
    about_recent = factories.alert()
    recent_report = factories.incident_report()
    producer = make_producer(settings)
    await producer.start()
    try:
        for spec, model in (
            (INCIDENT_REPORTS, report), (RECON_SIGHTINGS, sighting), (ALERTS, about_old),
            (ALERTS, about_recent), (INCIDENT_REPORTS, recent_report),
        ):  # fmt: skip
            await publish(producer, spec, model, prefix=settings.topic_prefix, source="urn:t")
    finally:
        await producer.stop()

    stop = asyncio.Event()
    async with Sink(settings) as sink:
        running = asyncio.create_task(sink.run(stop))

        async def all_stored() -> bool:
            if running.done():
                raise AssertionError(f"the sink stopped: {running.exception()!r}")
            events = await db.fetchval("SELECT count(*) FROM event")
            alerts = await db.fetchval("SELECT count(*) FROM alert")
            return (events, alerts) == (3, 2)

        await eventually(all_stored, timeout=60)
        stop.set()
        await running

    rows = await db.fetch(
        "SELECT event_id AS id, kind, payload, payload_purged_at FROM event "
        "UNION ALL SELECT alert_id, kind, payload, payload_purged_at FROM alert"
    )
    stored = {row["id"]: row for row in rows}
    # An event is stored whole, for the next retention pass: an import can still be matched
    # the day it arrives (solved cases for `heterdaad model fit`).
    for whole in (report.event_id, sighting.event_id):
        assert stored[whole]["payload"] is not None
        assert stored[whole]["payload_purged_at"] is None
    # An alert, what people read, is stored as the pass leaves it: what a branch may see.
    assert_without_personal_data(stored[about_old.alert_id]["payload"], about_old)
    assert stored[about_old.alert_id]["payload_purged_at"] is not None
    # The anonymous facts stay.
    assert stored[report.event_id]["kind"] == "overval"
    assert stored[about_old.alert_id]["kind"] == "robbery_reported"
    for kept in (about_recent.alert_id, recent_report.event_id):
        assert stored[kept]["payload"] is not None
        assert stored[kept]["payload_purged_at"] is None


async def test_an_old_alert_the_desk_stored_first_is_purged_by_the_sink(
    db: asyncpg.Connection,
) -> None:
    # The desk takes an alert in from the topic as the sink does, and may be first; it stores
    # it without the retention period (consumers/desk/alerts.py).
    now = datetime.now(UTC)
    about_old = factories.alert(occurred_at=now - timedelta(days=40))
    about_recent = factories.alert()
    for alert in (about_old, about_recent):
        await store(db, alert)
    purge = Purge.after(28, now)
    async with db.transaction():
        await store_many(db, [about_old, about_recent], purge=purge)

    expected = {about_old.alert_id: (True, now), about_recent.alert_id: (False, None)}
    assert await _purged_alerts(db) == expected
    # One by one, as the sink writes a batch PostgreSQL refused, the same.
    for alert in (about_old, about_recent):
        await db.execute(
            "UPDATE alert SET payload = $2::jsonb, payload_purged_at = NULL WHERE alert_id = $1",
            alert.alert_id, alert.model_dump_json(),
        )  # fmt: skip
    for alert in (about_old, about_recent):
        await store(db, alert, purge=purge)
    assert await _purged_alerts(db) == expected


async def _purged_alerts(db: asyncpg.Connection) -> dict[object, tuple[bool, object]]:
    """Per alert: whether its personal data is gone, and when it was purged."""
    rows = await db.fetch("SELECT alert_id, payload, payload_purged_at FROM alert")
    return {row["alert_id"]: (factories.PLATE_PSEUDONYM not in row["payload"],
                              row["payload_purged_at"]) for row in rows}  # fmt: skip
