"""The consumer loop of every aiokafka consumer: decode once, hand typed models on, dead-letter,
then commit. The rules are in heterdaad/events/__init__.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from heterdaad import metrics
from heterdaad.event_time import ENTERING, ahead_of_clock, read_skew
from heterdaad.events.dead_letters import Refusal, dead_letter
from heterdaad.events.publisher import BrokerLink, BrokerUnavailable
from heterdaad.kafka import client_options
from schemas.common import Contract
from schemas.wire import UndecodableRecord, decode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiokafka import TopicPartition
    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=Contract)

# Back-off after a handler failure that may pass (a database or broker away): doubling, capped.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0
# After a failed fetch; aiokafka reconnects by itself, this only keeps the loop alive.
FETCH_RETRY_SECONDS = 2.0


class TopicMissing(Exception):
    """A reader without a group found no partition to read: its topic does not exist."""


@dataclass(frozen=True)
class Received(Generic[ModelT]):
    """One record and the model it carries, decoded once."""

    record: ConsumerRecord[bytes, bytes]
    model: ModelT


@dataclass(frozen=True)
class Batch(Generic[ModelT]):
    """The decoded records of one poll from one partition, in offset order."""

    partition: TopicPartition
    received: Sequence[Received[ModelT]]

    @property
    def models(self) -> list[ModelT]:
        return [item.model for item in self.received]


Handler = Callable[[Batch[ModelT]], Awaitable[Iterable[Refusal]]]
"""Does a batch's effect; returns the records it refused (dead-lettered), or raises."""


class EventConsumer(Generic[ModelT]):
    """Reads `topics` as `model`s: `async with EventConsumer(...) as c: await c.run(handle)`.

    With a `group_id` the offsets are committed after each batch's effect and undecodable
    records are dead-lettered. Without one (a desk, a terminal tail) every partition is read
    from the end, nothing is committed, and an undecodable record is only logged: the grouped
    sink reads the same topic and dead-letters it once.
    """

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[TopicSpec],
        model: type[ModelT],
        *,
        stage: str,
        group_id: str | None,
        retry_on: tuple[type[BaseException], ...] = (),
        max_poll_interval_ms: int = 300_000,
        max_records: int = 500,
        client_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.stage = stage
        self.group_id = group_id
        # A dead letter the broker did not take is retried with the batch, like the effect.
        self.retry_on: tuple[type[BaseException], ...] = (*retry_on, BrokerUnavailable)
        self.max_records = max_records
        self._specs = {spec.name(settings.topic_prefix): spec for spec in topics}
        # Held to the edges' clock rule where read: the source topics, not alerts or tasks.
        self._entering = {name for name, spec in self._specs.items() if spec in ENTERING}
        self._skew = read_skew(timedelta(seconds=settings.clock_skew_seconds))
        self._link = BrokerLink.of(settings) if group_id is not None else None
        self._options = {
            "bootstrap_servers": settings.kafka_bootstrap,
            **client_options(settings),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest" if group_id is not None else "latest",
            "max_poll_interval_ms": max_poll_interval_ms,
            "client_id": client_id or f"{settings.app_id}-{stage}",
        }
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def _reader(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "start() the consumer first"
        return self._consumer

    async def __aenter__(self) -> EventConsumer[ModelT]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._link is not None:
            await self._link.start()
        # Made here, not in __init__: an aiokafka client belongs to the running loop.
        self._consumer = AIOKafkaConsumer(*self._specs, **self._options)
        try:
            await self._consumer.start()
            if self.group_id is None:
                await self._position_at_end()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        if self._link is not None:
            await self._link.stop()

    async def _position_at_end(self) -> None:
        partitions = self._reader.assignment()
        if not partitions:
            raise TopicMissing(
                f"topics {sorted(self._specs)} do not exist: run `heterdaad topics create`"
            )
        # Resolving the positions now means a record published after start() is seen.
        for partition in partitions:
            await self._reader.position(partition)

    async def run(self, handle: Handler[ModelT], stop: asyncio.Event | None = None) -> None:
        """Poll, hand each partition's batch to `handle`, commit, until `stop` is set.

        A failure in `retry_on` (or a dead letter the broker refused) rewinds the batch and
        tries again after a back-off; any other failure rewinds it and ends the loop.
        """
        stop = stop or asyncio.Event()
        delay = RETRY_FIRST_SECONDS
        while not stop.is_set():
            try:
                batches = await self._reader.getmany(timeout_ms=500, max_records=self.max_records)
            except KafkaError as error:
                logger.error("fetch failed", extra={"stage": self.stage, "error": repr(error)})
                await _wait(stop, FETCH_RETRY_SECONDS)
                continue
            try:
                await self._take(batches, handle)
            except self.retry_on as error:
                logger.warning(
                    "batch failed, read again after a pause",
                    extra={"stage": self.stage, "error": repr(error), "retry_in_s": delay},
                )
                await self._pause(delay, stop)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            else:
                if batches:  # an empty poll proves nothing: the back-off keeps growing
                    delay = RETRY_FIRST_SECONDS

    async def _take(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        handle: Handler[ModelT],
    ) -> None:
        """Each partition's effect, then the commit of the partitions whose effect is done."""
        done: dict[TopicPartition, int] = {}
        try:
            for partition, records in batches.items():
                await self._take_partition(partition, records, handle)
                done[partition] = records[-1].offset + 1
        except BaseException as error:
            # The failed partition and those after it are read again from their first record:
            # getmany moved the position past them already.
            assignment = self._reader.assignment()
            for partition, records in batches.items():
                if partition not in done and partition in assignment:
                    self._reader.seek(partition, records[0].offset)
            if isinstance(error, Exception):  # not when cancelled: stop() leaves them uncommitted
                await self._commit(done)
            raise
        await self._commit(done)

    async def _take_partition(
        self,
        partition: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        handle: Handler[ModelT],
    ) -> None:
        received: list[Received[ModelT]] = []
        refused: list[Refusal] = []
        for record in records:
            try:
                model = decode(self._specs[record.topic], record.value, list(record.headers))
            except UndecodableRecord as error:
                refused.append(Refusal(record, error.reason))
                continue
            if not isinstance(model, self.model):
                refused.append(Refusal(record, f"{type(model).__name__} is no {self.model}"))
                continue
            if (ahead := self._ahead(record.topic, model)) is not None:
                refused.append(Refusal(record, ahead))
                continue
            received.append(Received(record, model))
        refused += await handle(Batch(partition, received))
        # After the effect: a batch read again after a failure would send them twice.
        for refusal in refused:
            await self._refuse(refusal)
        # Counted once done: a batch retried through an outage is read more than once.
        for item in received:
            metrics.EVENTS_CONSUMED.labels(topic=self._specs[item.record.topic].suffix).inc()

    def _ahead(self, topic: str, model: Contract) -> str | None:
        """Why an event of a source topic is refused for a time too far ahead of this reader's
        clock, as the edges and the worker refuse it (heterdaad/event_time.py), or None."""
        if topic not in self._entering:
            return None
        return ahead_of_clock(model, now=datetime.now(UTC), skew=self._skew)

    async def _refuse(self, refusal: Refusal) -> None:
        spec = self._specs[refusal.record.topic]
        if self._link is None:
            logger.warning(
                "undecodable record skipped",
                extra={"stage": self.stage, "topic": refusal.record.topic,
                       "offset": refusal.record.offset, "reason": refusal.reason},
            )  # fmt: skip
            return
        await dead_letter(
            self._link, spec, refusal, prefix=self.settings.topic_prefix, stage=self.stage
        )

    async def _commit(self, done: dict[TopicPartition, int]) -> None:
        """Commit exactly the offsets after each done batch, never the consumer's position:
        getmany has moved that past records whose effect may not have happened."""
        if self.group_id is None or not done:
            return
        assignment = self._reader.assignment()
        offsets = {partition: end for partition, end in done.items() if partition in assignment}
        if not offsets:
            return
        try:
            await self._reader.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group moved on without this member (an effect that hung past
            # max_poll_interval_ms, a rebalance): the records are read again from the last
            # committed offset, where the handlers' idempotent effects keep them once.
            logger.warning(
                "offsets not committed, records will be read again",
                extra={"stage": self.stage, "error": repr(error)},
            )

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        """Wait, polling with every partition paused: the consumer stays in its group (it is
        not idle past max_poll_interval_ms) but takes no new records meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while not stop.is_set() and (remaining := deadline - loop.time()) > 0:
                self._reader.pause(*self._reader.assignment())
                wait_ms = max(1, int(min(remaining, 0.5) * 1000))
                strays = await self._reader.getmany(timeout_ms=wait_ms)
                # Partitions assigned during the poll were not paused yet: put their records back.
                for partition, records in strays.items():
                    self._reader.seek(partition, records[0].offset)
        finally:
            self._reader.resume(*self._reader.assignment())


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
