"""Test helpers for reading what landed on a topic, waiting for an effect, never sleeping."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from typing import TYPE_CHECKING, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from heterdaad.kafka import make_producer, publish
from schemas.topics import CATALOGUE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings
    from schemas.common import Contract

T = TypeVar("T")


async def records_up_to_now(
    bootstrap: str, topic: str, partitions: int | Iterable[int], timeout: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record the topic holds at this moment, from these partitions (a count: all)."""
    numbers = range(partitions) if isinstance(partitions, int) else partitions
    tps = [TopicPartition(topic, p) for p in numbers]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(timeout):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for batch in (await consumer.getmany(*tps, timeout_ms=500)).values():
                    records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str, group_id: str, prefixes: Iterable[str]) -> str:
    """Each partition of the topics under `prefixes`: the group's committed offset against the
    end offset, one line each; for a test's failure message (where did the records stop?)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
        topics = [t for t in await admin.list_topics() if t.startswith(tuple(prefixes))]
        tps = [TopicPartition(d["topic"], p["partition"])
               for d in await admin.describe_topics(topics) for p in d["partitions"]]  # fmt: skip
        ends = await consumer.end_offsets(tps)
        lines = []
        for tp in sorted(tps):
            mark = committed.get(tp)
            lines.append(f"{tp.topic}[{tp.partition}]: committed "
                         f"{mark.offset if mark else None} of {ends[tp]}")  # fmt: skip
        return "\n".join(lines)
    except Exception as exc:  # a diagnostic must not hide the failure it explains
        return f"offsets not read: {exc!r}"
    finally:
        await consumer.stop()
        await admin.close()


async def publish_all(settings: Settings, *models: Contract, source: str = "urn:test") -> None:
    """Publish each model to its catalogue topic as a CloudEvent, in order, each acknowledged."""
    producer = make_producer(settings)
    await producer.start()
    try:
        for model in models:
            spec = next(spec for spec in CATALOGUE if type(model) is spec.value_model)
            await publish(producer, spec, model, prefix=settings.topic_prefix, source=source)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    timeout: float = 30.0,
    while_alive: subprocess.Popen[bytes] | None = None,
    where: Callable[[ConsumerRecord[bytes, bytes]], bool] | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The first `count` records of a topic, from the beginning, or fail after `timeout`.

    With `while_alive`, fail as soon as that process has exited: waiting on is pointless.
    With `where`, only the records it accepts are counted and returned (other stages may write
    to the same topic).
    """

    def short(records: list[ConsumerRecord[bytes, bytes]]) -> str | None:
        return f"{len(records)} of {count} records" if len(records) < count else None

    return await _read_while(bootstrap, topic, short, timeout, while_alive, where)


async def read_keys(
    bootstrap: str,
    topic: str,
    keys: Iterable[bytes],
    *,
    timeout: float = 30.0,
    while_alive: subprocess.Popen[bytes] | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of a topic keyed by one of `keys`, from the beginning, until each key came.

    Counting records would pass with a key missing where another came twice, and a worker's
    output is at least once: one restarted between its send and its commit sends again.
    """
    wanted = frozenset(keys)

    def short(records: list[ConsumerRecord[bytes, bytes]]) -> str | None:
        if missing := wanted - {r.key for r in records}:
            return f"{len(missing)} of {len(wanted)} keys missing: {sorted(missing)}"
        return None

    def ours(record: ConsumerRecord[bytes, bytes]) -> bool:
        return record.key in wanted

    return await _read_while(bootstrap, topic, short, timeout, while_alive, ours)


async def _read_while(
    bootstrap: str,
    topic: str,
    short: Callable[[list[ConsumerRecord[bytes, bytes]]], str | None],
    timeout: float,
    while_alive: subprocess.Popen[bytes] | None,
    where: Callable[[ConsumerRecord[bytes, bytes]], bool] | None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read the topic from the beginning while `short` says what is still missing."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout):
            while (missing := short(records)) is not None:
                if while_alive is not None and while_alive.poll() is not None:
                    raise AssertionError(
                        f"{topic}: the process {while_alive.args!r} exited with "
                        f"{while_alive.returncode}; {missing}"
                    )
                batch = await consumer.getmany(timeout_ms=500)
                for partition_records in batch.values():
                    records.extend(r for r in partition_records if where is None or where(r))
    except TimeoutError:
        raise AssertionError(f"{topic}: {short(records)} after {timeout} s") from None
    finally:
        await consumer.stop()
    return records


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Poll `probe` until it returns something other than None or False."""
    async with asyncio.timeout(timeout):
        while True:
            result = await probe()
            if result is not None and result is not False:
                return result
            await asyncio.sleep(interval)
