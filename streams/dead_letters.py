"""The worker's dead-letter writer and the decoding that uses it: a record no stage can use is
set aside once, with its reason, and counted once; it never stops the stream. The record and
its count are heterdaad.events' (`letter`, `noted`), as for every other consumer.

Once means once per running worker: the re-read after a rebalance (streams/reread.py) reads
records still in flight a second time, and `SetAside` knows those it dead-lettered already.
Across a crash a record read again from its committed offset is set aside again: a reader of a
dead-letter topic keeps one per source topic, partition and offset (its `x-heterdaad-dlq-*`
headers), as docs/fault-tolerance.md says."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from heterdaad import metrics
from heterdaad.event_time import ahead_of_clock
from heterdaad.events.dead_letters import letter, noted
from schemas.wire import UndecodableRecord, decode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable
    from datetime import timedelta

    from faust import EventT, StreamT

    from schemas.common import Contract
    from schemas.topics import TopicSpec
    from streams.app import Topics
    from streams.codec import InternalTopic

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


class SetAside:
    """The records this worker has set aside, by stage and source topic, partition and offset.

    Only the newest `remembered` are kept: one older than those and read again is set aside
    again, a repeat and never a loss. (The highest offset per partition would not do: a record
    Faust skipped around a rebalance, which the re-read is for, lies below it.)
    """

    def __init__(self, remembered: int = 100_000) -> None:
        self._remembered = remembered
        self._seen: dict[tuple[str, str, int, int], None] = {}

    def first_time(self, stage: str, topic: str, partition: int, offset: int) -> bool:
        """Whether the record at `offset` is set aside now for the first time (and note it)."""
        where = (stage, topic, partition, offset)
        if where in self._seen:
            return False
        self._seen[where] = None
        if len(self._seen) > self._remembered:
            del self._seen[next(iter(self._seen))]
        return True


async def set_aside(
    topics: Topics, spec: TopicSpec, event: EventT[bytes], reason: str, *, stage: str
) -> None:
    """Send the record to the dead-letter topic of `spec`, saying where it came from and why;
    a record this worker set aside before (read again, streams/reread.py) is not sent again."""
    message = event.message
    topic, partition, offset = str(message.topic), int(message.partition), int(message.offset)
    if not topics.set_aside.first_time(stage, topic, partition, offset):
        logger.info(
            "record read again, dead-lettered before",
            extra={"topic": topic, "partition": partition, "offset": offset, "stage": stage},
        )
        return
    dead = letter(key=event.key, value=event.value,
                  headers=list(event.headers.items()) if event.headers else [], reason=reason,
                  topic=topic, partition=partition, offset=offset, stage=stage)  # fmt: skip
    await topics.dead_letter(spec).send(key=dead.key, value=dead.value, headers=dead.headers)
    noted(spec, reason, topic=topic, partition=partition, offset=offset, stage=stage)


async def decoded(
    stream: StreamT[bytes], spec: TopicSpec, topics: Topics, *, stage: str, skew: timedelta
) -> AsyncIterator[Contract]:
    """A source topic's records as contract models, each decoded and counted once; bad ones are
    dead-lettered. Only the intake's one agent per source topic reads them this way.

    Bad is also an event time further ahead of this worker's clock, when the record is read,
    than `skew`: the edges refuse it (producers/edge_policy.py), and one written straight to
    the topic would otherwise move every stage's event-time clock and raise live alerts. It
    is set aside with the edges' reason (heterdaad/event_time.py) and reaches no stage."""
    async for event in stream.events():
        headers = list(event.headers.items()) if event.headers else []
        try:
            model = decode(spec, event.value, headers)
        except UndecodableRecord as error:
            await set_aside(topics, spec, event, error.reason, stage=stage)
            continue
        if (ahead := ahead_of_clock(model, now=datetime.now(UTC), skew=skew)) is not None:
            await set_aside(topics, spec, event, ahead, stage=stage)
            continue
        metrics.EVENTS_CONSUMED.labels(topic=spec.suffix).inc()
        yield model


async def readable(
    events: Iterable[EventT[bytes]], internal: InternalTopic[ModelT], topics: Topics, *, stage: str
) -> list[tuple[EventT[bytes], ModelT]]:
    """The records of an internal topic with their models; what the codec refuses is set
    aside in the dead-letter topic of the source the internal topic was declared with."""
    found = []
    for event in events:
        try:
            found.append((event, internal.decode(event)))
        except UndecodableRecord as error:
            await set_aside(topics, internal.dead_letters, event, error.reason, stage=stage)
    return found


async def read_internal(
    stream: StreamT[bytes], internal: InternalTopic[ModelT], topics: Topics, *, stage: str
) -> AsyncIterator[tuple[EventT[bytes], ModelT]]:
    """`readable` for a stage that takes one record at a time."""
    async for event in stream.events():
        for pair in await readable((event,), internal, topics, stage=stage):
            yield pair
