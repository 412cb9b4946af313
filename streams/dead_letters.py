"""Decoding a Faust stream of CloudEvents; what cannot be decoded goes to the dead-letter topic."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

from schemas.wire import UndecodableRecord, dead_letter_headers, decode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from faust import StreamT

    from schemas.common import Contract
    from schemas.topics import TopicSpec
    from streams.app import Topics

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound="Contract")


async def decoded(
    stream: StreamT[bytes], spec: TopicSpec, topics: Topics, *, stage: str
) -> AsyncIterator[Contract]:
    """The stream's events as contract models; bad records are dead-lettered, never fatal."""
    async for event in stream.events():
        message = event.message
        headers = list(event.headers.items()) if event.headers else []
        try:
            yield decode(spec, event.value, headers)
        except UndecodableRecord as error:
            await topics.dead_letter(spec).send(
                key=event.key,
                value=event.value if event.value is not None else b"",
                headers=dead_letter_headers(
                    headers,
                    reason=error.reason,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    stage=stage,
                ),
            )
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
