"""Faust's aiokafka transport, made to stop at a lost send and, where the broker allows it,
with an idempotent producer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Collection, Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.exceptions import ProducerSendError
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, FutureMessage, HeadersArg, Message, RecordMetadata

from heterdaad import metrics

logger = logging.getLogger(__name__)

CHECKED_SCHEME = "kafka-checked"
IDEMPOTENT_SCHEME = "kafka-idempotent"


class CheckedProducer(driver.Producer):
    """A producer whose flush fails once any send has failed.

    Faust commits a source offset after flushing the producer, but a record the broker refused
    (after aiokafka's retries) only marks its own future: the offset is committed all the same
    and the alert is gone. Faust flushes before every commit, so failing the flush stops the
    commit; the worker stops, and its successor reads again from the last good offset.
    Its flush also waits for the records of Faust's own buffer, which Faust's flush may leave.
    """

    failed: BaseException | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Records handed to Faust's buffer (table changelog writes) until the broker has them.
        self._buffered: set[asyncio.Future[RecordMetadata]] = set()

    def send_soon(self, fut: FutureMessage) -> None:
        self._buffered.add(fut)
        fut.add_done_callback(self._buffered.discard)
        super().send_soon(fut)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> Awaitable[RecordMetadata]:
        sent = await super().send(topic, key, value, partition, timestamp, headers,
                                  transactional_id=transactional_id)  # fmt: skip
        if isinstance(sent, asyncio.Future):
            sent.add_done_callback(self._note_failure)
        # Counted when handed over: a send that fails stops the commit (flush), so the worker
        # stops and its successor sends and counts again.
        metrics.count_published(topic)
        return sent

    def _note_failure(self, sent: asyncio.Future[RecordMetadata]) -> None:
        if sent.cancelled() or sent.exception() is None:
            return
        if self.failed is None:
            self.failed = sent.exception()
            logger.critical(
                "the broker refused a record: no offset is committed from now on",
                extra={"error": repr(self.failed)},
            )

    async def flush(self) -> None:
        await self._deliver_buffered()
        await super().flush()
        # The futures' callbacks run after the batches complete: give them their turn.
        await asyncio.sleep(0)
        if self.failed is not None:
            raise ProducerSendError(f"a send failed, offsets stay uncommitted: {self.failed!r}")

    async def _deliver_buffered(self) -> None:
        """Wait until the broker has every record handed to the buffer, or has refused it.

        Faust's own buffer flush returns once its queue is empty, though the record it took
        last may still wait for the topic's metadata (a table's first write), and after 0.1 s
        without a send even while records wait. A commit then passed a cell's input whose
        changelog record was not yet written; killed at that moment, the worker came back
        without the episode and opened it again (docs/fault-tolerance.md, finding 11).
        """
        if not self._buffered:
            return
        # A stopped buffer sends nothing more: its records are lost to this worker, not late.
        limit = 0 if self.buffer.should_stop else self.app.conf.producer_request_timeout
        _, pending = await asyncio.wait(set(self._buffered), timeout=limit)
        if pending:
            raise ProducerSendError(
                f"{len(pending)} buffered records not sent in {limit} s, offsets stay uncommitted"
            )


class IdempotentProducer(CheckedProducer):
    def _settings_extra(self) -> Mapping[str, Any]:
        # Faust asks for idempotence only inside transactions (exactly_once). With at_least_once
        # processing, an idempotent producer still keeps a retried send from being written twice.
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


async def seek_to_committed_or_start(
    consumer: AIOKafkaConsumer,
    skip_topics: Collection[str],
    heads: dict[TopicPartition, int] | None = None,
) -> dict[TopicPartition, int | None]:
    """Seek every assigned partition to its committed offset, one never committed (or
    committed at 0) to its start, and one committed before its log start to the log start.

    aiokafka's `seek_to_committed` leaves a partition without a committed offset where the
    fetcher is. Faust drops records fetched while its flow is stopped (a rebalance, table
    recovery) and seeks back to the committed offsets to read them again: on a partition that
    was never committed the records it dropped were never read again. A new worker lost the
    activations published while no worker ran (tests/streams/test_transport_seek.py). Our
    offset reset is "earliest", so the start is where such a partition is read from anyway.

    A worker down for longer than a topic's retention finds its committed offset pointing at
    records that are gone. The consumer resets to the log start, but the commit checks (ours in
    `head_unacked`, Faust's own) take the missing head for records not yet processed and never
    commit that partition again: every restart read it again from there. So such a partition
    is sought to its log start and the log start returned as its committed offset; the records
    retention removed unread are logged.

    `heads`, if given, gets the log start of every partition sought to its start (never
    committed, or committed at 0): the first record its first commit must not pass
    (`head_unacked`). Faust keeps no committed offset for such a partition and checks nothing
    there.

    Changelog partitions (`skip_topics`) have no committed offsets by design: Faust's table
    recovery seeks them itself.
    """
    committed: dict[TopicPartition, int | None] = await consumer.seek_to_committed()
    ours = [tp for tp in committed if tp.topic not in skip_topics]
    starts: dict[TopicPartition, int] = await consumer.beginning_offsets(ours) if ours else {}
    for tp, offset in committed.items():
        if tp.topic in skip_topics:
            continue
        if not offset:
            # Not seek_to_beginning: that waits for the fetch in flight (up to its 1.5 s long
            # poll) while Faust keeps delivering. Offset 0, once removed by retention, is out of
            # range and reset to the earliest offset (the consumer's reset policy).
            consumer.seek(tp, 0)
            if heads is not None:
                heads[tp] = starts[tp]
        elif starts[tp] > offset:
            logger.error(
                "records removed by retention before the worker read them",
                extra={"topic": tp.topic, "partition": tp.partition, "committed": offset,
                       "log_start": starts[tp], "lost": starts[tp] - offset},
            )  # fmt: skip
            consumer.seek(tp, starts[tp])
            committed[tp] = starts[tp]
    return committed


def position_now(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The consumer's fetch position of `tp` as it is (None: not assigned, or to be reset),
    without waiting, as `AIOKafkaConsumer.position` would for a reset."""
    subscription = consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    state = assignment.state_value(tp) if assignment is not None else None
    return None if state is None or not state.has_valid_position else state.position


class RewindingConsumerThread(driver.AIOKafkaConsumerThread):
    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 (Faust's signature)
        max_records: int | None = None,
    ) -> Mapping[TP, list[Any]]:
        records: Mapping[TP, list[Any]] = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        # In the step that moved them: a seek can only come before or after.
        cast("RewindingConsumer", self.consumer).fetched_at = {
            tp: position_now(consumer, tp) for tp in records
        }
        return records

    async def seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        changelogs = self.app.tables.changelog_topics
        heads: dict[TopicPartition, int] = {}
        committed = await self.call_thread(seek_to_committed_or_start, consumer, changelogs, heads)
        # Sought again for the current assignment: the heads of the last seek are void.
        cast("RewindingConsumer", self.consumer).uncommitted_heads = {
            TP(tp.topic, tp.partition): offset for tp, offset in heads.items()
        }
        # Faust's own signature (a partition without a commit maps to None all the same).
        return cast("Mapping[TP, int]", committed)


def head_unacked(committed: int | None, lowest_acked: int) -> bool:
    """Whether the record a partition's commit would pass first was never acknowledged.

    `committed` is the next offset to read: as last committed or, on a partition never
    committed, the log start it was sought to (None: unknown). Faust's own check
    (`Consumer._new_offset`) lets one missing offset at the head pass, taking it for a hole
    left by compaction or a transaction marker, and none at all on a partition committed at
    None or 0. But a record Faust dropped around a rebalance, or one still in flight, sits
    exactly there, and committing past it loses it for good: the re-read after the rebalance
    (streams/reread.py) seeks to the committed offset, already beyond it. Seen in CI: a
    hold-up press published while the worker was down, dropped at its restart while the press
    after it was processed (faust-streaming issue 606). Our topics have no such holes (no
    compaction, no transactions), so a missing record at the head is one not yet processed.
    A partition never committed has the same head, its log start: a worker killed before its
    first commit there left it so, and its successor, dropping the first records around its
    recovery, committed past them (tests/streams/test_worker_supervision.py, CI).
    """
    return committed is not None and lowest_acked > committed


class RewindingConsumer(driver.Consumer):
    # The log start of each assigned partition that was sought to its start, from the last
    # seek to the committed offsets (`seek_to_committed_or_start`).
    uncommitted_heads: Mapping[TP, int] = {}

    # Each partition's fetch position just after the batch being delivered was fetched.
    fetched_at: Mapping[TP, int | None] = {}

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(
        self, timeout: float  # noqa: ASYNC109 (Faust's signature)
    ) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's batch, without the records of a partition sought since it was fetched.

        A seek to the committed offsets (the re-read after a rebalance, `streams/reread.py`)
        runs while Faust goes on delivering the batch it fetched before. Those records moved
        the read offset past the offset sought, so Faust dropped the records read again from
        there as already read ("DROPPED MESSAGE ROFF"), among them any the re-read was for
        (fault-tolerance finding 14). They are read again from where the partition was sought,
        in their order.
        """
        batch = cast("AsyncGenerator[tuple[TP, Message], None]", super().getmany(timeout))
        thread = cast("RewindingConsumerThread", self._thread)
        try:
            async for tp, message in batch:
                fetched_at = self.fetched_at.get(tp)
                if fetched_at is not None and thread._consumer is not None and (
                    position_now(thread._consumer, tp) != fetched_at
                ):
                    continue
                yield tp, message
        finally:
            await batch.aclose()

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Record no hole where Faust's reading skipped offsets: our topics have none.

        Faust records one when a record comes more than one offset past its read offset, and
        its commit then passes the skipped offsets as if they were compaction's. On our topics
        such a jump is records Faust skipped: its read offset is set back to the committed
        offset at every seek, while records fetched before the seek, or passed over while the
        flow was suspended, go on moving it. Committing past them lost them; now the commit
        waits at the first of them until the re-read after the rebalance delivers it.
        """
        logger.warning(
            "offsets skipped while reading: the commit waits until they are read",
            extra={"topic": tp.topic, "partition": tp.partition, "first": offset_from,
                   "last": offset_to},
        )  # fmt: skip

    def _new_offset(self, tp: TP) -> int | None:
        """Faust's next offset to commit, never past a record that was not acknowledged."""
        acked, committed = self._acked[tp], self._committed_offset[tp]
        # Faust keeps None for a partition never committed (and for one committed at 0).
        head = committed if committed else self.uncommitted_heads.get(tp)
        if acked and head_unacked(head, min(acked)):
            return None
        offset: int | None = super()._new_offset(tp)
        return offset


class CheckedTransport(driver.Transport):
    Consumer = RewindingConsumer
    Producer = CheckedProducer


class IdempotentTransport(driver.Transport):
    Consumer = RewindingConsumer
    Producer = IdempotentProducer


def broker_scheme(idempotent: bool) -> str:
    """The URL scheme of Faust's producer setting: checked, and idempotent where the broker
    allows it."""
    TRANSPORTS.aliases.setdefault(CHECKED_SCHEME, f"{__name__}:CheckedTransport")
    TRANSPORTS.aliases.setdefault(IDEMPOTENT_SCHEME, f"{__name__}:IdempotentTransport")
    return IDEMPOTENT_SCHEME if idempotent else CHECKED_SCHEME
