"""Decoding a Faust stream of CloudEvents; what cannot be decoded goes to the dead-letter topic."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

from heterdaad import metrics
from schemas.wire import UndecodableRecord, dead_letter_headers, dead_letter_value, decode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from faust import StreamT

    from schemas.common import Contract
    from schemas.topics import TopicSpec
    from streams.app import Topics

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound="Contract")

# Several stages read each source topic; one of them dead-letters a bad record, so that it is
# accounted for exactly once. The others skip it (it is already in the dead-letter topic).
DEAD_LETTER_OWNER = {
    "alarm-activations.v1": "verify_alarms",
    "incident-reports.v1": "report_robberies",
    "recon-sightings.v1": "link_reconnaissance",
}


async def decoded(
    stream: StreamT[bytes], spec: TopicSpec, topics: Topics, *, stage: str
) -> AsyncIterator[Contract]:
    """The stream's events as contract models; bad records are dead-lettered, never fatal."""
    async for event in stream.events():
        message = event.message
        headers = list(event.headers.items()) if event.headers else []
        # Several stages read one topic: its owner alone counts it, as it alone dead-letters.
        owner = DEAD_LETTER_OWNER.get(spec.suffix, stage) == stage
        try:
            model = decode(spec, event.value, headers)
        except UndecodableRecord as error:
            if not owner:
                logger.debug("bad record skipped, dead-lettered by its owner", extra={
                    "topic": message.topic, "offset": message.offset, "stage": stage})  # fmt: skip
                continue
            value, cut = dead_letter_value(event.value)
            await topics.dead_letter(spec).send(
                key=event.key,
                value=value,
                headers=dead_letter_headers(
                    headers,
                    reason=error.reason,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    stage=stage,
                )
                + cut,
            )
            metrics.DEAD_LETTERS.labels(
                topic=spec.suffix, reason=metrics.reason_class(error.reason)
            ).inc()
            logger.warning(
                "record dead-lettered",
                extra={
                    "topic": message.topic,
                    "partition": message.partition,
                    "offset": message.offset,
                    "stage": stage,
                    "reason": error.reason,
                },
            )
        else:
            if owner:
                metrics.EVENTS_CONSUMED.labels(topic=spec.suffix).inc()
            yield model
