"""The worker's consumer seeks back to the committed offsets, and a partition never committed
to its start: records Faust dropped during a rebalance or recovery are read again, not lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from faust.types import TP

from schemas.topics import ALARM_ACTIVATIONS
from streams.app import create_app
from streams.transport import (
    RewindingConsumer,
    RewindingConsumerThread,
    position_now,
    seek_to_committed_or_start,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from heterdaad.settings import Settings


async def read_all(consumer: AIOKafkaConsumer, count: int) -> None:
    got = 0
    async with asyncio.timeout(60):
        while got < count:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                got += len(records)
    assert got == count


def group_consumer(settings: Settings, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip


async def group_committed_at(settings: Settings, tp: TopicPartition, offset: int) -> str:
    """A new group with `offset` committed on `tp`, before any reading consumer is assigned:
    committed by the reader itself, it could land after the reader had reset to the start."""
    group = f"t-{uuid.uuid4().hex[:8]}"
    committer = group_consumer(settings, group)
    await committer.start()
    try:
        committer.assign([tp])
        await committer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await committer.stop()
    return group


@pytest.mark.integration
async def test_a_partition_never_committed_is_read_again_from_its_start(
    settings: Settings,
) -> None:
    topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    never, committed = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for tp in (never, committed):
            for n in range(3):
                await producer.send_and_wait(topic, f"r{n}".encode(), partition=tp.partition)
    finally:
        await producer.stop()
    group = await group_committed_at(settings, committed, 2)
    consumer = group_consumer(settings, group)
    await consumer.start()
    try:
        consumer.assign([never, committed])
        await read_all(consumer, 4)
        # As after a rebalance that dropped the fetched records: all were fetched.
        assert await consumer.position(never) == 3
        assert await consumer.position(committed) == 3

        await seek_to_committed_or_start(consumer, skip_topics=())

        assert await consumer.position(never) == 0
        assert await consumer.position(committed) == 2
        await read_all(consumer, 4)
        # A changelog partition is left to Faust's recovery, which seeks it itself.
        await seek_to_committed_or_start(consumer, skip_topics={topic})
        assert await consumer.position(never) == 3
    finally:
        await consumer.stop()


@pytest.mark.integration
async def test_a_partition_committed_before_its_log_start_resumes_at_the_log_start(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker down longer than the retention: its committed offset points at records that
    are gone. It resumes at the log start, takes that for its committed offset (so the commit
    checks do not wait for the missing head for ever) and says how many records it lost."""
    topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    tp = TopicPartition(topic, 2)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, f"r{n}".encode(), partition=2)
                for n in range(6)]  # fmt: skip
    finally:
        await producer.stop()
    first = sent[0].offset
    group = await group_committed_at(settings, tp, first + 1)
    # Retention, as the broker applies it: everything before the fifth record is removed.
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        starts = await admin.delete_records({tp: RecordsToDelete(first + 4)})
    finally:
        await admin.close()
    assert starts[tp] == first + 4
    consumer = group_consumer(settings, group)
    await consumer.start()
    try:
        consumer.assign([tp])
        with caplog.at_level("ERROR", logger="streams.transport"):
            committed = await seek_to_committed_or_start(consumer, skip_topics=())
        assert committed[tp] == first + 4
        assert await consumer.position(tp) == first + 4
        await read_all(consumer, 2)
        (lost,) = [r for r in caplog.records if "removed by retention" in r.getMessage()]
        assert lost.lost == 3  # type: ignore[attr-defined]
    finally:
        await consumer.stop()


def test_the_worker_consumes_through_the_rewinding_consumer(bare_settings: Settings) -> None:
    assert type(create_app(bare_settings).consumer) is RewindingConsumer


@pytest.mark.parametrize(
    ("committed", "head", "acked", "skipped", "expected"),
    [
        (10, None, [10, 11], None, 12),  # in order: committed up to the last acknowledged
        # The record at the head was dropped (or is still in flight): withheld until it is
        # read again, where Faust alone would commit 13 and lose offset 10 (issue 606).
        (10, None, [11, 12], None, None),
        (10, None, [12, 13], None, None),
        (10, None, [10, 11, 13], None, 12),  # up to the first record not acknowledged
        # Faust's read skipped from 10 to 13 (its read offset set back to 10 by a seek, a
        # record fetched before it delivered): Faust took 11-12 for a hole and committed 15,
        # past 10 as well. Our topics have no holes: nothing passes a record not acknowledged.
        (10, None, [13, 14], (11, 12), None),
        (10, None, [10, 13, 14], (11, 12), 11),
        # Never committed, sought to its log start: the same check from there, where Faust
        # alone checks nothing (it would commit 3 and lose offset 0).
        (None, 0, [1, 2], None, None),
        (None, 0, [0, 1], None, 2),
        (None, 5, [6, 7], None, None),  # the log start after retention
        (None, 5, [5, 6], None, 7),
        (None, None, [5, 6], None, 7),  # a partition not sought by the worker: Faust decides
    ],
)
async def test_a_commit_never_passes_a_record_not_acknowledged(
    bare_settings: Settings,
    committed: int | None,
    head: int | None,
    acked: list[int],
    skipped: tuple[int, int] | None,
    expected: int | None,
) -> None:
    consumer = create_app(bare_settings).consumer
    assert isinstance(consumer, RewindingConsumer)
    tp = TP("t.alarm-activations.v1", 0)
    consumer._committed_offset[tp] = committed
    if head is not None:
        consumer.uncommitted_heads = {tp: head}
    consumer._acked[tp] = list(acked)
    consumer._acked_index[tp] = set(acked)
    if skipped is not None:
        # As Faust's drain does when a record comes past its read offset.
        await consumer._add_gap(tp, *skipped)
    assert consumer._new_offset(tp) == expected


@pytest.mark.integration
async def test_the_first_commit_of_a_partition_never_committed_waits_for_its_log_start(
    settings: Settings,
) -> None:
    """A worker killed before its first commit on a partition leaves it uncommitted. Its
    successor dropped the first records it fetched around its recovery, acknowledged the ones
    after them and committed past them: on a partition without a committed offset Faust checks
    nothing (CI: a duress press lost in test_worker_supervision's killed-agent test). The seek
    now gives the worker's consumer each such partition's log start, which its first commit
    must not pass."""
    topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    never, committed, trimmed = (TopicPartition(topic, n) for n in range(3))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for tp in (never, committed, trimmed):
            for n in range(3):
                await producer.send_and_wait(topic, f"r{n}".encode(), partition=tp.partition)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({trimmed: RecordsToDelete(2)})
    finally:
        await admin.close()
    group = await group_committed_at(settings, committed, 2)
    reader = group_consumer(settings, group)
    await reader.start()
    worker = create_app(settings).consumer
    assert isinstance(worker, RewindingConsumer)
    thread = worker._thread
    assert isinstance(thread, RewindingConsumerThread)

    async def here(method: Callable[..., Awaitable[object]], *args: object) -> object:
        return await method(*args)

    # The worker's own seek, run on this loop against a consumer assigned by the test.
    thread._ensure_consumer = lambda: reader  # type: ignore[method-assign]
    thread.call_thread = here  # type: ignore[method-assign,assignment]
    try:
        reader.assign([never, committed, trimmed])
        await thread.seek_to_committed()
    finally:
        await reader.stop()
    assert worker.uncommitted_heads == {TP(topic, 0): 0, TP(topic, 2): 2}
    head = TP(topic, 0)
    # Offset 0 dropped, 1 and 2 processed: nothing is committed until 0 is read again.
    worker._acked[head], worker._acked_index[head] = [1, 2], {1, 2}
    assert worker._new_offset(head) is None
    worker._acked[head].append(0)
    worker._acked_index[head].add(0)
    assert worker._new_offset(head) == 3


async def test_a_batch_fetched_before_a_seek_is_not_delivered_for_the_partition_sought(
    bare_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-read after a rebalance seeks while Faust still delivers the batch it fetched
    before. Delivered, that batch's records moved the read offset past the offset sought, and
    Faust dropped the records read again from there as read already. The rest of the batch is
    left for the partition sought (read again from there, in order); other partitions go on."""
    consumer = create_app(bare_settings).consumer
    assert isinstance(consumer, RewindingConsumer)
    sought, other = TP("t.alarm-activations.v1", 0), TP("t.alarm-activations.v1", 1)
    positions = {sought: 30, other: 12}
    records = {
        sought: [ConsumerRecord(sought.topic, 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])
                 for offset in range(26, 30)],
        other: [ConsumerRecord(other.topic, 1, offset, 0, 0, b"k", b"v", None, 1, 1, [])
                for offset in range(10, 12)],
    }  # fmt: skip

    async def fetched(timeout: float) -> tuple[dict[TP, list[ConsumerRecord]], set[TP]]:
        consumer.fetched_at = dict(positions)
        return records, {sought, other}

    monkeypatch.setattr(consumer, "_wait_next_records", fetched)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 40)
    monkeypatch.setattr(consumer._thread, "_consumer", object())
    monkeypatch.setattr("streams.transport.position_now", lambda _, tp: positions[tp])
    delivered: list[tuple[int, int]] = []
    async for tp, message in consumer.getmany(timeout=1.0):
        delivered.append((tp.partition, message.offset))
        if delivered == [(0, 26)]:
            positions[sought] = 13  # sought back to its committed offset
    assert delivered == [(0, 26), (1, 10), (1, 11)]
    # Not sought, a batch is delivered whole.
    positions[sought] = 30
    assert [message.offset async for _, message in consumer.getmany(timeout=1.0)] == [
        26, 10, 27, 11, 28, 29,
    ]  # fmt: skip


@pytest.mark.integration
async def test_the_worker_notes_where_each_batch_left_its_partitions(settings: Settings) -> None:
    """The positions the batch filter compares, from a real consumer: taken in the fetch's
    own step, and moved by a seek."""
    topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    tp = TopicPartition(topic, 2)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic, f"r{n}".encode(), partition=tp.partition)
    finally:
        await producer.stop()
    worker = create_app(settings).consumer
    assert isinstance(worker, RewindingConsumer)
    consumer = group_consumer(settings, f"t-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        consumer.assign([tp])
        assert position_now(consumer, TopicPartition(topic, 0)) is None  # not assigned
        consumer.seek(tp, 0)
        thread = cast("RewindingConsumerThread", worker._thread)
        got = 0
        async with asyncio.timeout(30):
            while got < 3:
                fetched = await thread._fetch_records(consumer, {TP(topic, 2)}, timeout=1.0)
                got += sum(len(records) for records in fetched.values())
        assert worker.fetched_at == {tp: 3} == {tp: await consumer.position(tp)}
        consumer.seek(tp, 1)
        assert position_now(consumer, tp) == 1
    finally:
        await consumer.stop()
