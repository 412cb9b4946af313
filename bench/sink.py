"""The cost of the PostgreSQL sink: consumers.sink.store_many against a bare asyncpg INSERT."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from bench.common import cleanup, fresh_settings
from bench.pipeline import verified_activation
from consumers.sink import EVENT, copy_new, row_of, store_many
from infra.migrate import migrate
from schemas.geography import police_unit_for

if TYPE_CHECKING:
    from heterdaad.settings import Settings
    from schemas.events import AlarmActivation

_BARE = """
INSERT INTO bench_bare (event_id, event_type, source, occurred_at, kind, branch_type,
                        police_unit, lat, lon, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""


@dataclass(frozen=True)
class SinkRates:
    rows: int
    batch: int
    store_rows_per_s: float
    bare_rows_per_s: float
    # The same batches stored again (a redelivery after a restart): every id is held, and each
    # is compared with the stored event (consumers/event_ids.py).
    repeat_rows_per_s: float


async def run(settings: Settings, activations: list[AlarmActivation], batch: int) -> SinkRates:
    """Rows per second, each batch in one transaction as the sink writes a poll's records."""
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        # Same columns as the sink's table but no unique key: the least PostgreSQL can do.
        await connection.execute(
            "CREATE TABLE bench_bare (event_id uuid, event_type text, source text, "
            "occurred_at timestamptz, kind text, branch_type text, police_unit text, "
            "lat double precision, lon double precision, payload jsonb)"
        )
        chunks = [activations[i : i + batch] for i in range(0, len(activations), batch)]
        # Both writers look up the same police units: warm the gazetteer's cache first, or
        # whichever writer ran first would pay for it.
        for model in activations:
            police_unit_for(model.site.location)

        # The writers take turns per batch, so that a noisy neighbour on the shared cores
        # slows both alike rather than whichever ran during its spell.
        store_s = bare_s = 0.0
        for chunk in chunks:
            start = time.perf_counter()
            async with connection.transaction():
                await store_many(connection, chunk)
            store_s += time.perf_counter() - start

            start = time.perf_counter()
            # The bare path still serialises the payload: any sink has to.
            rows = [
                (a.event_id, "alarm_activation", a.alarm_centre, a.occurred_at, a.signal.value,
                 a.site.branch_type.value, police_unit_for(a.site.location).value,
                 a.site.location.lat, a.site.location.lon, a.model_dump_json())
                for a in chunk
            ]  # fmt: skip
            async with connection.transaction():
                await connection.executemany(_BARE, rows)
            bare_s += time.perf_counter() - start
        repeat_s = 0.0
        for chunk in chunks:
            start = time.perf_counter()
            async with connection.transaction():
                assert not await store_many(connection, chunk), "a repeat is no collision"
            repeat_s += time.perf_counter() - start
    finally:
        await connection.close()
    n = len(activations)
    return SinkRates(n, batch, n / store_s, n / bare_s, n / repeat_s)


# --- the ways a batch could be written, side by side (`python -m bench.sink`) ----------------

_STAGED = (
    "CREATE TEMP TABLE sink_stage (LIKE event_staged INCLUDING DEFAULTS) ON COMMIT DROP",
    f"INSERT INTO event_staged ({', '.join(EVENT.columns or ())}) "
    f"SELECT {', '.join(EVENT.columns or ())} FROM sink_stage "
    "ON CONFLICT (event_id) DO NOTHING",
)


async def variants(
    settings: Settings, activations: list[AlarmActivation], batch: int
) -> dict[str, float]:
    """Rows per second of each way to write a batch, each into its own copy of the event table
    (same indexes), taking turns per batch as `run` does; the payload encoding is left out."""
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        await connection.execute(
            "CREATE TABLE bench_bare (LIKE event INCLUDING DEFAULTS);"
            "CREATE TABLE event_upserted (LIKE event INCLUDING ALL);"
            "CREATE TABLE event_staged (LIKE event INCLUDING ALL)"
        )
        columns = EVENT.columns or ()
        upsert = EVENT.upsert.replace("INTO event ", "INTO event_upserted ")

        async def bare(rows: list[tuple[object, ...]]) -> None:
            await connection.copy_records_to_table("bench_bare", records=rows, columns=columns)

        async def executemany_bare(rows: list[tuple[object, ...]]) -> None:
            places = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            await connection.executemany(
                f"INSERT INTO bench_bare ({', '.join(columns)}) VALUES ({places})", rows
            )

        async def upserts(rows: list[tuple[object, ...]]) -> None:
            await connection.executemany(upsert, rows)

        async def staged(rows: list[tuple[object, ...]]) -> None:
            await connection.execute(_STAGED[0])
            await connection.copy_records_to_table("sink_stage", records=rows, columns=columns)
            await connection.execute(_STAGED[1])

        async def copied(rows: list[tuple[object, ...]]) -> None:
            await copy_new(connection, EVENT, rows)

        writers = {
            "bare executemany INSERT, table without keys (the baseline)": executemany_bare,
            "bare COPY, table without keys": bare,
            "executemany upsert (the sink before)": upserts,
            "COPY into a temporary staging table, one INSERT ... SELECT ... ON CONFLICT": staged,
            "look-up of the ids, COPY of the new rows (consumers.sink.store_many)": copied,
        }
        seconds = dict.fromkeys(writers, 0.0)
        for start in range(0, len(activations), batch):
            rows = [row_of(model)[1] for model in activations[start : start + batch]]
            for name, write in writers.items():
                began = time.perf_counter()
                async with connection.transaction():
                    await write(rows)
                seconds[name] += time.perf_counter() - began
    finally:
        await connection.close()
    return {name: len(activations) / spent for name, spent in seconds.items()}


async def _compare(rows: int, batch: int) -> None:
    settings = fresh_settings(Path(tempfile.mkdtemp()))
    await migrate(settings.database_url, settings.database_schema)
    try:
        rng = random.Random(5)
        activations = [verified_activation(rng) for _ in range(rows)]
        for model in activations:
            police_unit_for(model.site.location)
        rates = await variants(settings, activations, batch)
    finally:
        await cleanup(settings)
    baseline = next(iter(rates.values()))
    for name, rate in rates.items():
        print(f"| {name} | {rows} | {rate:.0f} | {rate / baseline:.2f} |")


if __name__ == "__main__":
    asyncio.run(_compare(rows=8000, batch=500))
