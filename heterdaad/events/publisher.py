"""The one Kafka producer of a process: publish-and-wait, or a clear 'broker unavailable'."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from heterdaad.kafka import make_producer, publish

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiokafka import AIOKafkaProducer
    from aiokafka.structs import RecordMetadata

    from heterdaad.settings import Settings
    from schemas.common import Contract
    from schemas.topics import TopicSpec
    from schemas.wire import Headers

logger = logging.getLogger(__name__)

# Errors after which the idempotent producer's sequence numbers no longer match the broker's,
# seen after a broker restart mid-send: every later send fails the same way, for ever. A new
# producer (a new producer id, sequences from 0) is the way out, as in the Java client.
_PRODUCER_BROKEN = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


class BrokerUnavailable(Exception):
    """No acknowledgement from the broker: the caller is told to retry, nothing is dropped."""


class BrokerLink:
    """Starts the producer, and keeps trying in the background while the broker is away.

    Its users (the API, the consumers' dead letters) see a broker outage at start-up like one
    later on: BrokerUnavailable, retry after a while. A producer that fell out of step with the
    broker is replaced, not retried for ever.

    Once a send got no acknowledgement (or a retriable error), the broker counts as away: one
    send at a time tries it, with the full timeout, and the others meanwhile get
    BrokerUnavailable at once; the first send acknowledged ends it. Without that every request
    of the API waited the whole publish timeout during an outage, holding its database
    connection, and the queues behind them outgrew what a client waits.
    """

    def __init__(self, settings: Settings, *, publish_timeout: float, retry_seconds: int) -> None:
        self._settings = settings
        self._publish_timeout = publish_timeout
        self._retry_seconds = retry_seconds
        self._producer: AIOKafkaProducer | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        # Producers being stopped after _replace: kept so the tasks are not collected early.
        self._retired: set[asyncio.Task[None]] = set()
        # The last send got no acknowledgement; while _trying, another send tries it.
        self._away = False
        self._trying = False

    @classmethod
    def of(cls, settings: Settings) -> BrokerLink:
        """A link with the deployment's publish timeout and reconnect interval."""
        limits = settings.api_limits
        return cls(
            settings,
            publish_timeout=limits.publish_timeout_seconds,
            retry_seconds=limits.broker_retry_seconds,
        )

    @property
    def connected(self) -> bool:
        return self._producer is not None

    @property
    def producer(self) -> AIOKafkaProducer | None:
        return self._producer

    async def start(self) -> None:
        try:
            await self._connect()
        except (KafkaError, OSError) as error:
            logger.warning(
                "broker unavailable at start-up, retrying in the background",
                extra={"bootstrap": self._settings.kafka_bootstrap, "error": str(error)},
            )
            self._reconnecting = asyncio.create_task(self._keep_connecting())

    async def stop(self) -> None:
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
            self._reconnecting = None
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        for retired in list(self._retired):
            with contextlib.suppress(Exception):
                await retired

    async def publish(
        self, spec: TopicSpec, model: Contract, *, source: str, data: bytes | None = None
    ) -> RecordMetadata:
        """Send one model as a CloudEvent and wait for the acknowledgement, or raise
        BrokerUnavailable (`data`: its JSON, if made already; schemas.wire.encode)."""
        prefix = self._settings.topic_prefix
        return await self._checked(
            lambda producer: publish(
                producer, spec, model, prefix=prefix, source=source, data=data
            )
        )

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Headers
    ) -> RecordMetadata:
        """Send raw bytes (a dead letter) and wait for the acknowledgement, or raise
        BrokerUnavailable."""

        async def send(producer: AIOKafkaProducer) -> RecordMetadata:
            metadata: RecordMetadata = await producer.send_and_wait(
                topic, key=key, value=value, headers=headers
            )
            return metadata

        return await self._checked(send)

    async def _checked(
        self, send: Callable[[AIOKafkaProducer], Awaitable[RecordMetadata]]
    ) -> RecordMetadata:
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("not connected to the broker")
        if self._away and self._trying:
            raise BrokerUnavailable(
                "the broker did not acknowledge the last send; another send is trying it"
            )
        trying = self._away
        self._trying = self._trying or trying
        try:
            # A record whose wait times out may still be delivered later; consumers deduplicate
            # on event id, and the caller's retry is answered from the receipt or sent again.
            async with asyncio.timeout(self._publish_timeout):
                metadata = await send(producer)
        except TimeoutError as error:
            self._away = True
            raise BrokerUnavailable(
                f"no acknowledgement within {self._publish_timeout} s"
            ) from error
        except _PRODUCER_BROKEN as error:
            self._replace(producer, error)
            raise BrokerUnavailable(f"{type(error).__name__}: {error}") from error
        except KafkaError as error:
            # A record the broker refuses (too large, say) says nothing of the broker.
            self._away = self._away or error.retriable
            raise BrokerUnavailable(f"{type(error).__name__}: {error}") from error
        finally:
            if trying:
                self._trying = False
        self._away = False
        return metadata

    def _replace(self, broken: AIOKafkaProducer, error: KafkaError) -> None:
        """Drop a producer that cannot send any more and connect a new one in the background;
        sends meanwhile get BrokerUnavailable (not connected). Only the first failing send
        does it."""
        # Another send replaced it already. (`id`: mypy would narrow `broken` by `is not`.)
        if id(broken) != id(self._producer):
            return
        logger.warning(
            "producer out of step with the broker, replacing it",
            extra={"error": f"{type(error).__name__}: {error}"},
        )
        self._producer = None
        stopping = asyncio.create_task(broken.stop())
        self._retired.add(stopping)
        stopping.add_done_callback(self._retired.discard)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._keep_connecting())

    async def _connect(self) -> None:
        producer = make_producer(self._settings)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._away = False
        logger.info("broker connected", extra={"bootstrap": self._settings.kafka_bootstrap})

    async def _keep_connecting(self) -> None:
        while self._producer is None:
            await asyncio.sleep(self._retry_seconds)
            try:
                await self._connect()
            except (KafkaError, OSError) as error:
                logger.warning("broker still unavailable", extra={"error": str(error)})
