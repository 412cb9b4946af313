"""The event layer through real Kafka: decode once, dead-letter with the reason, commit only
after the effect."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest
from aiokafka import TopicPartition

import heterdaad.events.consumer as consumer_module
from heterdaad.events import Batch, EventConsumer, Refusal
from heterdaad.kafka import make_admin, make_producer
from schemas.alerts import Alert
from schemas.topics import ALERTS, DEAD_LETTER_PARTITIONS
from schemas.wire import DLQ_REASON, DLQ_STAGE, decode
from tests import factories
from tests.kafka_helpers import eventually, publish_all, read_topic, records_up_to_now

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from heterdaad.settings import Settings
    from schemas.common import Contract

pytestmark = pytest.mark.integration


class Away(Exception):
    """A failure that may pass, like the database being away."""


async def _garbage(settings: Settings) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(ALERTS.name(settings.topic_prefix), value=b"{not json")
    finally:
        await producer.stop()


async def _committed(settings: Settings, group_id: str) -> dict[int, int]:
    """The group's committed offset per ALERTS partition (absent: none committed)."""
    admin = make_admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    topic = ALERTS.name(settings.topic_prefix)
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def _ends(settings: Settings) -> dict[int, int]:
    topic = ALERTS.name(settings.topic_prefix)
    records = await records_up_to_now(settings.kafka_bootstrap, topic, ALERTS.partitions)
    ends: dict[int, int] = {}
    for record in records:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return ends


@contextlib.asynccontextmanager
async def _running(
    settings: Settings, handle: object, **options: object
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    options = {"stage": "test", "group_id": f"{settings.app_id}-events"} | options
    async with EventConsumer(settings, [ALERTS], Alert, **options) as reader:  # type: ignore[arg-type]
        task = asyncio.create_task(reader.run(handle, stop))  # type: ignore[arg-type]
        try:
            yield task
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await task


async def test_each_record_decoded_once_and_the_unusable_dead_lettered_with_the_reason(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, refused = factories.alert(), factories.alert()
    await publish_all(settings, kept, refused)
    await _garbage(settings)
    decoded: list[bytes | None] = []

    def counting_decode(
        spec: object, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> Contract:
        decoded.append(value)
        return decode(spec, value, headers)  # type: ignore[arg-type]

    monkeypatch.setattr(consumer_module, "decode", counting_decode)
    handed: list[object] = []

    async def handle(batch: Batch[Alert]) -> list[Refusal]:
        handed.extend(batch.models)
        return [
            Refusal(item.record, "refused by the test")
            for item in batch.received
            if item.model.alert_id == refused.alert_id
        ]

    async with _running(settings, handle) as task:
        dead = await read_topic(
            settings.kafka_bootstrap, ALERTS.dead_letter_name(settings.topic_prefix), count=2
        )
        ends = await _ends(settings)
        await eventually(
            lambda: _caught_up(settings, f"{settings.app_id}-events", ends), timeout=30
        )
        assert not task.done()

    # Typed models, each record decoded once: the handler never sees bytes.
    assert all(isinstance(model, Alert) for model in handed)
    assert sorted(str(m.alert_id) for m in handed) == sorted(  # type: ignore[attr-defined]
        [str(kept.alert_id), str(refused.alert_id)]
    )
    assert len(decoded) == 3
    reasons = sorted(dict(record.headers)[DLQ_REASON].decode() for record in dead)
    assert reasons[1] == "refused by the test"
    assert reasons[0].startswith("not a binary-mode CloudEvent")
    assert {dict(record.headers)[DLQ_STAGE] for record in dead} == {b"test"}


async def _caught_up(settings: Settings, group_id: str, ends: dict[int, int]) -> bool:
    committed = await _committed(settings, group_id)
    return all(committed.get(partition, -1) == end for partition, end in ends.items())


async def test_a_failed_handler_commits_nothing_past_the_failed_record(
    settings: Settings,
) -> None:
    group_id = f"{settings.app_id}-events"
    first = factories.alert()
    # One dedup key: one partition, in order.
    failing, after = (factories.alert(dedup_key=first.dedup_key) for _ in range(2))
    await publish_all(settings, first)

    async def fine(batch: Batch[Alert]) -> list[Refusal]:
        return []

    async with _running(settings, fine):
        ends = await _ends(settings)
        await eventually(lambda: _caught_up(settings, group_id, ends))
    [(partition, committed)] = ends.items()

    await publish_all(settings, failing, after)

    async def broken(batch: Batch[Alert]) -> list[Refusal]:
        if any(m.alert_id == failing.alert_id for m in batch.models):
            raise RuntimeError("the effect failed")
        return []

    async with _running(settings, broken) as task:
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(asyncio.shield(task), 30)
    assert (await _committed(settings, group_id))[partition] == committed

    # The next member of the group reads from the failed record on.
    seen: list[Alert] = []

    async def recording(batch: Batch[Alert]) -> list[Refusal]:
        seen.extend(batch.models)
        return []

    async with _running(settings, recording):
        await eventually(lambda: _caught_up(settings, group_id, {partition: committed + 2}))
    assert [m.alert_id for m in seen] == [failing.alert_id, after.alert_id]


async def test_a_passing_failure_reads_the_batch_again_and_dead_letters_once(
    settings: Settings,
) -> None:
    group_id = f"{settings.app_id}-events"
    alert = factories.alert()
    await publish_all(settings, alert)
    await _garbage(settings)
    calls: list[list[Alert]] = []

    async def flaky(batch: Batch[Alert]) -> list[Refusal]:
        calls.append(batch.models)
        if [models for models in calls if models] == [batch.models]:  # its first time
            raise Away("the database is away")
        return []

    async with _running(settings, flaky, retry_on=(Away,)) as task:
        ends = await _ends(settings)
        await eventually(lambda: _caught_up(settings, group_id, ends))
        assert not task.done()
    handed = [m.alert_id for models in calls for m in models]
    assert handed.count(alert.alert_id) == 2  # failed once, then done
    dead = await records_up_to_now(
        settings.kafka_bootstrap, ALERTS.dead_letter_name(settings.topic_prefix),
        DEAD_LETTER_PARTITIONS,
    )  # fmt: skip
    assert len(dead) == 1


async def test_a_reader_without_a_group_sees_new_records_only_and_commits_nothing(
    settings: Settings,
) -> None:
    old, new = factories.alert(), factories.alert()
    await publish_all(settings, old)
    seen: list[Alert] = []

    async def recording(batch: Batch[Alert]) -> list[Refusal]:
        seen.extend(batch.models)
        return []

    async with _running(settings, recording, group_id=None):
        await _garbage(settings)
        await publish_all(settings, new)
        await eventually(lambda: _has(seen, new))
    assert [m.alert_id for m in seen] == [new.alert_id]
    dead = await records_up_to_now(
        settings.kafka_bootstrap, ALERTS.dead_letter_name(settings.topic_prefix),
        DEAD_LETTER_PARTITIONS,
    )  # fmt: skip
    assert dead == []  # the grouped sink dead-letters it, once


async def _has(seen: list[Alert], alert: Alert) -> bool:
    return any(m.alert_id == alert.alert_id for m in seen)


def test_topic_partition_of_a_batch_is_kept() -> None:
    batch: Batch[Alert] = Batch(TopicPartition("t", 0), [])
    assert batch.models == []
