"""Dead letters: a record that could not be used, set aside with why and where it came from.

`letter` builds the record and `noted` counts and logs it, for every writer: the aiokafka
consumers send through their BrokerLink (`dead_letter` below), the Faust worker through its
own producer (streams/dead_letters.py). One format, one metric, one log line. And the one
reader of the dead-letter topics, `dead_letters_now` (heterdaad/dead_letter_replay.py lists
and replays what it reads).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from heterdaad import metrics
from heterdaad.kafka import client_options
from schemas.topics import DEAD_LETTER_PARTITIONS
from schemas.wire import dead_letter_headers, dead_letter_value

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiokafka.structs import ConsumerRecord

    from heterdaad.events.publisher import BrokerLink
    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A record that cannot be used, and the reason its dead letter carries."""

    record: ConsumerRecord[bytes, bytes]
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """The record for a dead-letter topic: the original key, the value cut and masked, and
    headers saying why and where from."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def letter(
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    stage: str,
) -> DeadLetter:
    """The dead letter of a record read from `topic` at `partition`/`offset`."""
    kept, cut = dead_letter_value(value)  # cut and plates masked, as every dead letter
    told = dead_letter_headers(list(headers), reason=reason, topic=topic, partition=partition,
                               offset=offset, stage=stage)  # fmt: skip
    return DeadLetter(key=key, value=kept, headers=told + cut)


def noted(spec: TopicSpec, reason: str, *, topic: str, partition: int, offset: int,
          stage: str) -> None:  # fmt: skip
    """Count and log a dead letter once the broker has it."""
    metrics.DEAD_LETTERS.labels(topic=spec.suffix, reason=metrics.reason_class(reason)).inc()
    logger.warning(
        "record dead-lettered",
        extra={"topic": topic, "partition": partition, "offset": offset, "stage": stage,
               "reason": reason},
    )  # fmt: skip


async def dead_letter(
    link: BrokerLink, spec: TopicSpec, refusal: Refusal, *, prefix: str, stage: str
) -> None:
    """Send the record to its topic's dead-letter topic, with the reason and where it came
    from; BrokerUnavailable if the broker does not acknowledge it."""
    record = refusal.record
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    dead = letter(key=record.key, value=record.value, headers=list(record.headers),
                  reason=refusal.reason, stage=stage, **where)  # fmt: skip
    await link.send(spec.dead_letter_name(prefix), key=dead.key, value=dead.value,
                    headers=dead.headers)  # fmt: skip
    noted(spec, refusal.reason, stage=stage, **where)


async def dead_letters_now(
    settings: Settings, spec: TopicSpec
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `spec`'s dead-letter topic up to its end now, in offset order, as kept.

    Not through EventConsumer: a dead letter is no contract's record and is never decoded
    here. No consumer group: reading commits nothing, and reading twice reads the same."""
    topic = spec.dead_letter_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **client_options(settings))  # fmt: skip
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return []
        # As `heterdaad topics create` made it (it names a topic with other counts).
        partitions = [TopicPartition(topic, number) for number in range(DEAD_LETTER_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        for partition in partitions:
            while await consumer.position(partition) < ends[partition]:
                batch = await consumer.getmany(partition, timeout_ms=1000)
                found += [r for r in batch.get(partition, []) if r.offset < ends[partition]]
        return found
    finally:
        await consumer.stop()
