"""PostgreSQL schemas of a test's own: migrated for it, dropped after it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import asyncpg

from infra.migrate import migrate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from infra.migrate import Migration


async def drop_schema(database_url: str, name: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def migrated_schema(
    database_url: str, name: str, migrations: Sequence[Migration] | None = None
) -> AsyncIterator[str]:
    """`name` with every migration (or those given) applied, dropped when the block ends."""
    await migrate(database_url, name, migrations)
    try:
        yield name
    finally:
        await drop_schema(database_url, name)
