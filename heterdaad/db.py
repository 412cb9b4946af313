"""The PostgreSQL pool: one per process, created at start-up, bound to the configured schema."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from heterdaad.settings import Settings


# What a lost or refusing database looks like to asyncpg: the connection cut or refused
# (class 08, and OSError from the socket), the server shutting down or starting up (57P01,
# 57P02, 57P03), and a cut connection failing its reset when the pool takes it back
# (InternalClientError, "cannot switch to state ..."). Work that meets one is retried later.
DATABASE_GONE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
)


class SchemaBehind(Exception):
    """The database's schema lacks migrations this version needs (`heterdaad db migrate`): a
    service started on it would answer every request that meets a new table with an error."""


async def create_pool(settings: Settings, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections resolve table names in the settings' schema."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": settings.database_schema, "application_name": "heterdaad"},
    )
    return pool


@contextlib.asynccontextmanager
async def transaction(
    db: asyncpg.Connection | asyncpg.Pool,
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction on a connection of the pool, or on the connection given (nested there,
    as a savepoint, if it is already in one): a change and its audit row go together."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as connection, connection.transaction():
            yield connection
    else:
        async with db.transaction():
            yield db
