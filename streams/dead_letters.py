"""The worker's dead-letter writer and the decoding that uses it: a record no stage can use is
set aside once, with its reason, and counted once; it never stops the stream. The record and
its count are heterdaad.events' (`letter`, `noted`), as for every other consumer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from heterdaad import metrics
from heterdaad.events.dead_letters import letter, noted
from schemas.wire import UndecodableRecord, decode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from faust import EventT, StreamT

    from schemas.common import Contract
    from schemas.topics import TopicSpec
    from streams.app import Topics
    from streams.codec import InternalTopic

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


async def set_aside(
    topics: Topics, spec: TopicSpec, event: EventT[bytes], reason: str, *, stage: str
) -> None:
    """Send the record to the dead-letter topic of `spec`, saying where it came from and why."""
    message = event.message
    topic, partition, offset = str(message.topic), int(message.partition), int(message.offset)
    dead = letter(key=event.key, value=event.value,
                  headers=list(event.headers.items()) if event.headers else [], reason=reason,
                  topic=topic, partition=partition, offset=offset, stage=stage)  # fmt: skip
    await topics.dead_letter(spec).send(key=dead.key, value=dead.value, headers=dead.headers)
    noted(spec, reason, topic=topic, partition=partition, offset=offset, stage=stage)


async def decoded(
    stream: StreamT[bytes], spec: TopicSpec, topics: Topics, *, stage: str
) -> AsyncIterator[Contract]:
    """A source topic's records as contract models, each decoded and counted once; bad ones are
    dead-lettered. Only the intake's one agent per source topic reads them this way."""
    async for event in stream.events():
        headers = list(event.headers.items()) if event.headers else []
        try:
            model = decode(spec, event.value, headers)
        except UndecodableRecord as error:
            await set_aside(topics, spec, event, error.reason, stage=stage)
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
