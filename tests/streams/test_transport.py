"""The worker's producer: checked everywhere, idempotent where the broker grants it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import pytest
from faust.exceptions import ProducerSendError
from faust.types import ChannelT, FutureMessage, PendingMessage, RecordMetadata

from streams.app import create_app
from streams.transport import CheckedProducer, IdempotentProducer

if TYPE_CHECKING:
    from heterdaad.settings import Settings


@pytest.mark.parametrize(("idempotent", "kind"), [(True, IdempotentProducer),
                                                  (False, CheckedProducer)])  # fmt: skip
def test_the_app_sends_through_our_producer(
    bare_settings: Settings, idempotent: bool, kind: type[CheckedProducer]
) -> None:
    # Faust builds app.producer from the consumer's transport: all three must name ours.
    flavour = "apache" if idempotent else "tansu"
    settings = bare_settings.model_copy(update={"kafka_flavour": flavour})
    producer = create_app(settings).producer
    assert type(producer) is kind
    assert producer._settings_extra().get("enable_idempotence", False) is idempotent


class SlowChannel:
    """A topic whose publish waits `seconds` first, as a table's first write waits for the
    topic's metadata; it never completes with `seconds` None."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    async def publish_message(self, fut: FutureMessage, wait: bool = False) -> None:
        await asyncio.sleep(3600 if self.seconds is None else self.seconds)
        fut.set_result(cast(RecordMetadata, "sent"))


def buffered(channel: SlowChannel) -> FutureMessage:
    channel_t = cast("ChannelT[bytes]", channel)
    return FutureMessage(PendingMessage(channel_t, b"cell", b"state", *[None] * 6))


@pytest.mark.parametrize(("count", "seconds"), [(1, 0.05), (3, 0.5)])
async def test_a_flush_returns_only_when_every_buffered_record_is_sent(
    bare_settings: Settings, count: int, seconds: float
) -> None:
    # Faust's own buffer flush returned at once for the record it was publishing (1) and after
    # 0.1 s for those still queued (3): the commit after it passed a changelog record not yet
    # written.
    producer = create_app(bare_settings).producer
    await producer.buffer.start()
    try:
        records = [buffered(SlowChannel(seconds)) for _ in range(count)]
        for record in records:
            producer.send_soon(record)
        await asyncio.sleep(0)  # the buffer takes the first record and starts to publish it
        await producer.flush()
        assert all(record.done() for record in records)
    finally:
        await producer.buffer.stop()


async def test_a_buffered_record_never_sent_stops_the_commit(bare_settings: Settings) -> None:
    app = create_app(bare_settings)
    app.conf.producer_request_timeout = 0.3
    producer = app.producer
    await producer.buffer.start()
    try:
        producer.send_soon(buffered(SlowChannel(None)))
        with pytest.raises(ProducerSendError, match="1 buffered records not sent"):
            await producer.flush()
    finally:
        await producer.buffer.stop()


async def test_records_left_in_a_stopped_buffer_stop_the_commit_at_once(
    bare_settings: Settings,
) -> None:
    producer = create_app(bare_settings).producer
    await producer.buffer.start()
    producer.send_soon(buffered(SlowChannel(None)))
    await asyncio.sleep(0)
    await producer.buffer.stop()
    with pytest.raises(ProducerSendError, match="not sent in 0 s"):
        await asyncio.wait_for(producer.flush(), timeout=5)
