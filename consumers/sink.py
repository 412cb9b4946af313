"""The PostgreSQL sink: every event, alert, alarm task and audit record persisted once."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from consumers import alarm_tasks, event_ids
from consumers.event_ids import Arrival, Collision
from consumers.retention import Purge
from heterdaad.db import DATABASE_GONE, create_pool
from heterdaad.events import Batch, EventConsumer, Received, Refusal
from schemas.alerts import Alert
from schemas.common import Contract
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

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

SUNK = (ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS, ALERTS, ALARM_TASKS)


@dataclass(frozen=True)
class Table:
    """Where one kind of model is stored: the upsert of one row, and the columns a batch is
    copied into (the key first), or None where a batch is written with the upsert."""

    name: str
    upsert: str
    columns: tuple[str, ...] | None = None


def _copied(name: str, columns: tuple[str, ...]) -> Table:
    names = ", ".join(columns)
    places = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    upsert = (
        f"INSERT INTO {name} ({names}) VALUES ({places}) ON CONFLICT ({columns[0]}) DO NOTHING"
    )
    return Table(name, upsert, columns)


EVENT = _copied("event", (
    "event_id", "event_type", "organisation_id", "occurred_at", "kind", "branch_type",
    "police_unit", "lat", "lon", "payload", "branch_id",
))  # fmt: skip
ALERT = _copied("alert", (
    "alert_id", "dedup_key", "kind", "severity", "police_unit", "lat", "lon", "created_at",
    "payload", "payload_purged_at", "occurred_at",
))  # fmt: skip
# A few tasks per press, and their columns are the task store's: upserted as they come.
TASK = Table("alarm_task", alarm_tasks.UPSERT_TASK)


Row = tuple[Table, tuple[object, ...]]
"""The table of one model and its row, in the order of the table's columns."""


def row_of(model: Contract, purge: Purge | None = None) -> Row:
    """Where and as what one model is stored; with `purge`, an alert about what happened
    before its cutoff is stored without its personal data, as the retention pass leaves it
    (an event is stored whole, for the next pass: consumers/retention.Purge)."""
    match model:
        case AlarmActivation():
            where = model.site.location
            return EVENT, (
                model.event_id, event_ids.EVENT_TYPE[AlarmActivation], model.alarm_centre,
                model.occurred_at, model.signal.value, model.site.branch_type.value,
                police_unit_for(where).value, where.lat, where.lon, model.model_dump_json(), None,
            )  # fmt: skip
        case IncidentReport():
            where = model.branch.location
            return EVENT, (
                model.event_id, event_ids.EVENT_TYPE[IncidentReport], model.reporting_org,
                model.occurred_at, model.incident_type.value, model.branch.branch_type.value,
                police_unit_for(where).value, where.lat, where.lon, model.model_dump_json(),
                model.branch.branch_id,
            )  # fmt: skip
        case ReconSighting():
            where = model.where
            branch_type = model.branch.branch_type.value if model.branch else None
            branch_id = model.branch.branch_id if model.branch else None
            return EVENT, (
                model.event_id, event_ids.EVENT_TYPE[ReconSighting], model.reporter_org,
                model.observed_at, "voorverkenning", branch_type,
                police_unit_for(where).value, where.lat, where.lon, model.model_dump_json(),
                branch_id,
            )  # fmt: skip
        case Alert():
            center = model.area.center
            kept, purged_at = purge.kept(model) if purge else (model.model_dump_json(), None)
            return ALERT, (
                model.alert_id, model.dedup_key, model.kind.value,
                model.severity.value, model.police_unit.value, center.lat, center.lon,
                model.created_at, kept, purged_at, model.occurred_at,
            )  # fmt: skip
        case AlarmTask():
            return TASK, alarm_tasks.task_row(model)
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


async def store(
    connection: asyncpg.Connection, model: Contract, *, purge: Purge | None = None
) -> str | None:
    """Write one model; a second write of the same id changes nothing, except that one past
    `purge`'s cutoff purges what was stored with its payload. Returns why it was not stored
    when another event holds its id (`store_many`)."""
    table, row = row_of(model, purge)
    if table is not EVENT:
        await connection.execute(table.upsert, *row)
        if purge is not None:
            await purge_stored(connection, purge, table, [row])
        return None
    if await connection.fetchval(f"{table.upsert} RETURNING event_id", *row) is not None:
        return None
    held = await _stored(connection, table, [row[0]])
    collisions = event_ids.collisions([_arrival(0, model, row)], held)
    return collisions[0].reason if collisions else None


def _arrival(index: int, model: Contract, row: tuple[object, ...]) -> Arrival:
    """An event of a batch as event_ids compares it: the type and organisation of its row."""
    return Arrival(index, model, event_type=str(row[1]), organisation_id=str(row[2]))


async def store_many(
    connection: asyncpg.Connection, models: Iterable[Contract], *, purge: Purge | None = None
) -> list[Collision]:
    """Write many models, one COPY per table of the ids not stored yet; ids stored are kept,
    but with `purge`, those past its cutoff lose their payload as the new ones are written.

    An event whose id is held (stored, or earlier in the batch) by the same event is a repeat
    and changes nothing; one held by another event is returned as a Collision, for the caller
    to dead-letter (consumers/event_ids.py).

    All or nothing inside the caller's transaction: asyncpg.DataError names no row, so a caller
    that must keep the good rows of a refused batch writes them again one by one.
    """
    by_table: dict[Table, list[tuple[object, ...]]] = defaultdict(list)
    events: list[Arrival] = []
    for index, model in enumerate(models):
        table, row = row_of(model, purge)
        by_table[table].append(row)
        if table is EVENT:
            events.append(_arrival(index, model, row))
    collisions: list[Collision] = []
    for table, rows in by_table.items():
        if table.columns is None:
            await connection.executemany(table.upsert, rows)
        else:
            held = await copy_new(connection, table, rows)
            if table is EVENT:
                collisions += event_ids.collisions(events, held)
        if purge is not None:
            await purge_stored(connection, purge, table, rows)
    return collisions


async def purge_stored(
    connection: asyncpg.Connection, purge: Purge, table: Table, rows: list[tuple[object, ...]]
) -> None:
    """Strip the stored alerts of those that `row_of` stripped, where a row of the same key was
    there already with its payload (an alert stored before this rule, or twice in a batch)."""
    if table is not ALERT:
        return
    assert table.columns is not None
    stripped = table.columns.index("payload_purged_at")
    keys = [row[0] for row in rows if row[stripped] is not None]
    if keys:
        await purge.alerts(connection, keys)


async def copy_new(
    connection: asyncpg.Connection, table: Table, rows: list[tuple[object, ...]]
) -> dict[object, asyncpg.Record]:
    """COPY the rows whose keys are not stored yet, the first of a key twice in the batch, as
    the upsert would keep it; returns the rows stored before under the batch's keys (for
    events, what event_ids.collisions compares: `event_ids.HELD`).

    Why not the upserts or a staging table (bench/RESULTS.md, "the sink's batch write"): most
    of a batch's time is PostgreSQL's, and a COPY straight into the table does the least of it;
    a look-up of the keys by the primary key costs a fraction of that.
    """
    columns = table.columns
    assert columns is not None, f"{table.name} is written with its upsert"
    stored = await _stored(connection, table, [row[0] for row in rows])
    new: dict[object, tuple[object, ...]] = {}
    for row in rows:
        new.setdefault(row[0], row)
    for key in stored:
        new.pop(key, None)
    if not new:
        return stored
    try:
        async with connection.transaction():  # a savepoint inside the caller's transaction
            await connection.copy_records_to_table(
                table.name, records=new.values(), columns=columns
            )
    except asyncpg.UniqueViolationError:
        # Another writer (the desk taking in an alert, a second sink in a rebalance) stored
        # one of these keys since the look-up: the upserts wait for it and keep its rows.
        logger.info("batch raced another writer, upserting it", extra={"table": table.name})
        await connection.executemany(table.upsert, new.values())
        # Which rows are the other writer's is not told: all are compared, ours as repeats.
        return await _stored(connection, table, list(new)) | stored
    return stored


async def _stored(
    connection: asyncpg.Connection, table: Table, keys: list[object]
) -> dict[object, asyncpg.Record]:
    """The stored rows of these keys: for events what a repeat is told by, else the key."""
    columns = table.columns
    assert columns is not None
    key = columns[0]
    what = event_ids.HELD if table is EVENT else key
    records = await connection.fetch(
        f"SELECT {what} FROM {table.name} WHERE {key} = ANY($1::uuid[])", keys
    )
    return {record[0]: record for record in records}


class Sink:
    """Consumes the contract topics and writes them to PostgreSQL, a transaction per batch.

    The loop is the event layer's (heterdaad/events/): offsets are committed only after the
    rows are in, and every write is an upsert on the record's id, so a crash between the two
    replays records harmlessly. While PostgreSQL is away the batch is read again after a
    back-off, the consumer polling meanwhile (its partitions paused) so the group does not
    take it for dead after `max_poll_interval_ms`.
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
        self._events = EventConsumer(
            settings, SUNK, Contract, stage="sink", group_id=self.group_id,
            retry_on=DATABASE_GONE, max_poll_interval_ms=max_poll_interval_ms,
        )  # fmt: skip
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> Sink:
        self._pool = await create_pool(self.settings, max_size=4)
        try:
            await self._events.start()
        except BaseException:
            await self._pool.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._events.stop()
        if self._pool is not None:
            await self._pool.close()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        assert self._pool is not None, "use `async with Sink(...)`"
        await self._events.run(self._write, stop)

    async def _write(self, batch: Batch[Contract]) -> list[Refusal]:
        """Store a batch in one transaction; returns the rows PostgreSQL refused."""
        assert self._pool is not None
        models = batch.models
        if not models:  # only undecodable records: the layer dead-letters them
            return []
        # A history import, or a replay, brings alerts about events past the retention period:
        # stored as the retention pass would leave them (consumers/retention.Purge).
        purge = Purge.after(self.settings.personal_data_retention_days)
        async with self._pool.acquire() as connection:
            try:
                async with connection.transaction():
                    collisions = await store_many(connection, models, purge=purge)
                    await settle_tasks(connection, models, self.settings)
            except asyncpg.DataError as error:
                # One row PostgreSQL refuses must not sink the batch: find it row by row.
                logger.warning(
                    "batch refused by PostgreSQL, writing it row by row",
                    extra={"error": repr(error), "records": len(models)},
                )
                refused = await self._write_one_by_one(connection, batch.received, purge)
                await settle_tasks(connection, models, self.settings)
                return refused
        # Another event under a stored id is not stored: dead-lettered, never dropped unsaid.
        return [Refusal(batch.received[c.index].record, c.reason) for c in collisions]

    @staticmethod
    async def _write_one_by_one(
        connection: asyncpg.Connection, received: Sequence[Received[Contract]], purge: Purge
    ) -> list[Refusal]:
        refused: list[Refusal] = []
        async with connection.transaction():
            for item in received:
                try:
                    # A savepoint: a row PostgreSQL refuses must not undo the batch around it.
                    async with connection.transaction():
                        taken = await store(connection, item.model, purge=purge)
                except asyncpg.DataError as error:
                    refused.append(Refusal(item.record, f"refused by PostgreSQL: {error}"))
                else:
                    if taken is not None:
                        refused.append(Refusal(item.record, taken))
        return refused
