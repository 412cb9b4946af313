"""The worker's consumer seeks back to the committed offsets, and a partition never committed
to its start: records Faust dropped during a rebalance or recovery are read again, not lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import OffsetAndMetadata
from faust.types import TP

from schemas.topics import ALARM_ACTIVATIONS
from streams.app import create_app
from streams.transport import RewindingConsumer, seek_to_committed_or_start

if TYPE_CHECKING:
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
    ("committed", "acked", "gap", "expected"),
    [
        (10, [10, 11], None, 12),  # in order: committed up to the last acknowledged
        # The record at the head was dropped (or is still in flight): withheld until it is
        # read again, where Faust alone would commit 13 and lose offset 10 (issue 606).
        (10, [11, 12], None, None),
        (10, [12, 13], None, None),
        (10, [11, 12], (10, 11), 13),  # a hole Faust saw while reading: passed, as before
        (None, [5, 6], None, 7),  # never committed: the log start is unknown, Faust decides
    ],
)
def test_a_commit_never_passes_a_record_not_acknowledged(
    bare_settings: Settings,
    committed: int | None,
    acked: list[int],
    gap: tuple[int, int] | None,
    expected: int | None,
) -> None:
    consumer = create_app(bare_settings).consumer
    assert isinstance(consumer, RewindingConsumer)
    tp = TP("t.alarm-activations.v1", 0)
    consumer._committed_offset[tp] = committed
    consumer._acked[tp] = list(acked)
    consumer._acked_index[tp] = set(acked)
    if gap is not None:
        consumer._gap[tp].addi(*gap)
    assert consumer._new_offset(tp) == expected
