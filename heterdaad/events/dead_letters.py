"""Dead letters: a record that could not be used, set aside with why and where it came from.

`letter` builds the record and `noted` counts and logs it, for every writer: the aiokafka
consumers send through their BrokerLink (`dead_letter` below), the Faust worker through its
own producer (streams/dead_letters.py). One format, one metric, one log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from heterdaad import metrics
from schemas.wire import dead_letter_headers, dead_letter_value

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiokafka.structs import ConsumerRecord

    from heterdaad.events.publisher import BrokerLink
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
