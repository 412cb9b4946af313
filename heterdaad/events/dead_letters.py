"""The one dead-letter writer of the aiokafka consumers: a record it could not use, with why."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from heterdaad import metrics
from schemas.wire import dead_letter_headers, dead_letter_value

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

    from heterdaad.events.publisher import BrokerLink
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A record that cannot be used, and the reason its dead letter carries."""

    record: ConsumerRecord[bytes, bytes]
    reason: str


async def dead_letter(
    link: BrokerLink, spec: TopicSpec, refusal: Refusal, *, prefix: str, stage: str
) -> None:
    """Send the record to its topic's dead-letter topic, with the reason and where it came
    from; BrokerUnavailable if the broker does not acknowledge it."""
    record = refusal.record
    headers = dead_letter_headers(
        list(record.headers), reason=refusal.reason, topic=record.topic,
        partition=record.partition, offset=record.offset, stage=stage,
    )  # fmt: skip
    value, cut = dead_letter_value(record.value)
    await link.send(
        spec.dead_letter_name(prefix), key=record.key, value=value, headers=headers + cut
    )
    metrics.DEAD_LETTERS.labels(
        topic=spec.suffix, reason=metrics.reason_class(refusal.reason)
    ).inc()
    logger.warning(
        "record dead-lettered",
        extra={"topic": record.topic, "offset": record.offset, "stage": stage,
               "reason": refusal.reason},
    )  # fmt: skip
