"""The cost of the PostgreSQL sink: consumers.sink.store_many against a bare asyncpg INSERT."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from consumers.sink import store_many
from heterdaad.settings import Settings
from schemas.events import AlarmActivation
from schemas.geography import police_unit_for

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
    finally:
        await connection.close()
    n = len(activations)
    return SinkRates(n, batch, n / store_s, n / bare_s)
