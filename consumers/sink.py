"""The PostgreSQL sink: every event, alert, alarm task and audit record persisted once."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from consumers import alarm_tasks
from heterdaad import metrics
from heterdaad.db import DATABASE_GONE, create_pool
from heterdaad.kafka import client_options, dead_letter, make_producer
from schemas.alerts import Alert
from schemas.events import AlarmActivation, IncidentReport, ReconSighting
from schemas.geography import police_unit_for
from schemas.tasks import AlarmTask
from schemas.topics import (
    ALARM_ACTIVATIONS,
    ALARM_TASKS,
    ALERTS,
    INCIDENT_REPORTS,
    RECON_SIGHTINGS,
)
from schemas.wire import UndecodableRecord, decode

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiokafka import AIOKafkaProducer
    from aiokafka.structs import ConsumerRecord, TopicPartition

    from heterdaad.settings import Settings
    from schemas.common import Contract
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)

SUNK = (ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS, ALERTS, ALARM_TASKS)

_UPSERT_EVENT = """
INSERT INTO event (event_id, event_type, organisation_id, occurred_at, kind, branch_type,
                   police_unit, lat, lon, payload, branch_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (event_id) DO NOTHING
"""
_UPSERT_ALERT = """
INSERT INTO alert (alert_id, dedup_key, kind, severity, police_unit, lat, lon, created_at, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (alert_id) DO NOTHING
"""


Row = tuple[str, tuple[object, ...]]
"""An upsert statement and its arguments."""


def row_of(model: Contract) -> Row:
    """The upsert that stores one model; a second write of the same id changes nothing."""
    match model:
        case AlarmActivation():
            where = model.site.location
            return _UPSERT_EVENT, (
                model.event_id, "alarm_activation", model.alarm_centre,
                model.occurred_at, model.signal.value, model.site.branch_type.value,
                police_unit_for(where).value, where.lat, where.lon, model.model_dump_json(), None,
            )  # fmt: skip
        case IncidentReport():
            where = model.branch.location
            return _UPSERT_EVENT, (
                model.event_id, "incident_report", model.reporting_org,
                model.occurred_at, model.incident_type.value, model.branch.branch_type.value,
                police_unit_for(where).value, where.lat, where.lon, model.model_dump_json(),
                model.branch.branch_id,
            )  # fmt: skip
        case ReconSighting():
            where = model.where
            branch_type = model.branch.branch_type.value if model.branch else None
            branch_id = model.branch.branch_id if model.branch else None
            return _UPSERT_EVENT, (
                model.event_id, "recon_sighting", model.reporter_org,
                model.observed_at, "voorverkenning", branch_type,
                police_unit_for(where).value, where.lat, where.lon, model.model_dump_json(),
                branch_id,
            )  # fmt: skip
        case Alert():
            center = model.area.center
            return _UPSERT_ALERT, (
                model.alert_id, model.dedup_key, model.kind.value,
                model.severity.value, model.police_unit.value, center.lat, center.lon,
                model.created_at, model.model_dump_json(),
            )  # fmt: skip
        case AlarmTask():
            return alarm_tasks.UPSERT_TASK, alarm_tasks.task_row(model)
        case _:
            raise TypeError(f"the sink does not store {type(model).__name__}")


async def settle_tasks(
    connection: asyncpg.Connection, models: Iterable[Contract], settings: Settings
) -> None:
    """End the alarm tasks that the stored verifications answer, and tell listeners (notify,
    the API's long-polls) of new ones (consumers/alarm_tasks.py)."""
    models = list(models)
    window = settings.alarms.sequential_window_seconds
    await alarm_tasks.settle(connection, alarm_tasks.sites_to_settle(models), window)
    await alarm_tasks.tell_stored(connection, models, settings.database_schema)


async def store(connection: asyncpg.Connection, model: Contract) -> None:
    """Write one model; a second write of the same id changes nothing."""
    statement, arguments = row_of(model)
    await connection.execute(statement, *arguments)


async def store_many(connection: asyncpg.Connection, models: Iterable[Contract]) -> None:
    """Write many models with one pipelined executemany per table; ids already stored are kept.

    All or nothing inside the caller's transaction: asyncpg.DataError names no row, so a caller
    that must keep the good rows of a refused batch writes them again one by one.
    """
    by_statement: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for model in models:
        statement, arguments = row_of(model)
        by_statement[statement].append(arguments)
    for statement, rows in by_statement.items():
        await connection.executemany(statement, rows)


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base
    """Counts rebalances that took partitions away: a batch fetched before one is stale."""

    def __init__(self) -> None:
        self.count = 0

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.count += 1

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass


class Sink:
    """Consumes the contract topics and writes them to PostgreSQL, committing after each write.

    Offsets are committed only after the rows are in, and every write is an upsert on the
    record's id, so a crash between the two replays records harmlessly. While PostgreSQL is
    away the batch in hand is retried, and the consumer keeps polling (its partitions paused)
    so the group does not take it for dead after `max_poll_interval_ms`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str | None = None,
        max_poll_interval_ms: int = 300_000,
    ) -> None:
        self.settings = settings
        self.group_id = group_id or f"{settings.app_id}-sink"
        self.max_poll_interval_ms = max_poll_interval_ms
        self._specs = {spec.name(settings.topic_prefix): spec for spec in SUNK}
        self._revocations = _Revocations()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> Sink:
        self._pool = await create_pool(self.settings, max_size=4)
        self._producer = make_producer(self.settings)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            **client_options(self.settings),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.max_poll_interval_ms,
        )
        self._consumer.subscribe(list(self._specs), listener=self._revocations)
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        assert self._consumer is not None, "use `async with Sink(...)`"
        stop = stop or asyncio.Event()
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=500)
            revocations = self._revocations.count
            written = True
            for records in batches.values():
                written = await self._write_until_done(records, stop, revocations)
                if not written:
                    break
            if batches and written and not stop.is_set():
                await self._commit()

    async def _write_until_done(
        self, records: list[ConsumerRecord[bytes, bytes]], stop: asyncio.Event, revocations: int
    ) -> bool:
        """Write a batch, retrying while PostgreSQL is away: its offsets commit only after.

        False when a rebalance came first: the batch is dropped, since this member may no
        longer own it and every partition it keeps is read again from its committed offset.
        """
        assert self._consumer is not None
        delay = 0.5
        try:
            while True:
                if self._revocations.count != revocations:
                    logger.warning(
                        "partitions revoked while the batch waited for the database; dropped, "
                        "it is read again from the committed offsets",
                        extra={"topic": records[0].topic, "partition": records[0].partition,
                               "first_offset": records[0].offset, "records": len(records)},
                    )  # fmt: skip
                    return False
                try:
                    await self._write(records)
                    return True
                except DATABASE_GONE as error:  # the batch is retried, not dropped
                    if stop.is_set():
                        raise
                    logger.warning(
                        "database unavailable, retrying the batch",
                        extra={"error": repr(error), "retry_in_s": delay},
                    )
                    await self._poll_paused(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            self._consumer.resume(*self._consumer.assignment())

    async def _poll_paused(self, seconds: float) -> None:
        """Wait, polling with every partition paused: the consumer stays in its group (it is
        not idle to aiokafka's heartbeat) but takes no new records while it holds a batch."""
        assert self._consumer is not None
        deadline = asyncio.get_running_loop().time() + seconds
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            self._consumer.pause(*self._consumer.assignment())
            strays = await self._consumer.getmany(timeout_ms=max(1, int(remaining * 1000)))
            # Partitions assigned during the poll were not paused yet: put their records back.
            for partition, records in strays.items():
                self._consumer.seek(partition, records[0].offset)

    async def _commit(self) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit()
        except (CommitFailedError, IllegalStateError) as error:
            # The group moved on without this member (a write that hung past
            # max_poll_interval_ms, a rebalance): the rows are in, and the records are read
            # again from the last committed offset, where the upserts keep them once.
            logger.warning("offsets not committed, records will be read again",
                           extra={"error": repr(error)})  # fmt: skip

    async def _write(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Store a poll's records in one transaction; dead-letter what cannot be stored.

        Dead letters go out only after the rows are in: a batch retried after an outage
        would otherwise send them twice.
        """
        assert self._pool is not None
        decoded: list[tuple[ConsumerRecord[bytes, bytes], Contract]] = []
        refused: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        for record in records:
            try:
                model = decode(self._specs[record.topic], record.value, list(record.headers))
            except UndecodableRecord as error:
                refused.append((record, error.reason))
            else:
                decoded.append((record, model))
        async with self._pool.acquire() as connection:
            try:
                async with connection.transaction():
                    await store_many(connection, (model for _, model in decoded))
                    await settle_tasks(connection, [m for _, m in decoded], self.settings)
            except asyncpg.DataError as error:
                # One row PostgreSQL refuses must not sink the batch: find it row by row.
                logger.warning(
                    "batch refused by PostgreSQL, writing it row by row",
                    extra={"error": repr(error), "records": len(decoded)},
                )
                refused += await self._write_one_by_one(connection, decoded)
                await settle_tasks(connection, [m for _, m in decoded], self.settings)
        for record, reason in refused:
            await self._dead_letter(self._specs[record.topic], record, reason)
        # Counted once written: a batch retried through an outage is read more than once.
        for record, _ in decoded:
            metrics.EVENTS_CONSUMED.labels(topic=self._specs[record.topic].suffix).inc()

    @staticmethod
    async def _write_one_by_one(
        connection: asyncpg.Connection,
        decoded: list[tuple[ConsumerRecord[bytes, bytes], Contract]],
    ) -> list[tuple[ConsumerRecord[bytes, bytes], str]]:
        refused: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        async with connection.transaction():
            for record, model in decoded:
                try:
                    # A savepoint: a row PostgreSQL refuses must not undo the batch around it.
                    async with connection.transaction():
                        await store(connection, model)
                except asyncpg.DataError as error:
                    refused.append((record, f"refused by PostgreSQL: {error}"))
        return refused

    async def _dead_letter(
        self, spec: TopicSpec, record: ConsumerRecord[bytes, bytes], reason: str
    ) -> None:
        assert self._producer is not None
        await dead_letter(
            self._producer, spec, record, reason, prefix=self.settings.topic_prefix, stage="sink"
        )
