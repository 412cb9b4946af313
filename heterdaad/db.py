"""The PostgreSQL pool: one per process, created at start-up, bound to the configured schema."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator

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


class DatabaseBusy(TimeoutError):
    """No connection of a bounded pool came free within its wait: the query was not sent."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"no database connection free within {wait:g} s")
        self.wait = wait


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg has no types
    """A pool that waits for a free connection at most `wait` seconds, else DatabaseBusy.

    Every way of taking a connection goes through `acquire`: `async with pool.acquire()`,
    `await pool.acquire()` and the shortcuts `fetch`, `fetchrow`, `fetchval`, `execute`, ...
    (asyncpg's own, which acquire through it), so code handed this pool needs no bound of its
    own. The HTTP API's: while the broker is away its requests hold connections for up to
    publish_timeout_seconds, and an unbounded wait turned 503s into hangs
    (docs/fault-tolerance.md, finding 3).
    """

    __slots__ = ("wait",)

    def __init__(self, *args: Any, wait: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait = wait

    def acquire(self, *, timeout: float | None = None) -> _BoundedAcquire:
        return _BoundedAcquire(self, self.wait if timeout is None else timeout)


class _BoundedAcquire(PoolAcquireContext):  # type: ignore[misc]  # asyncpg has no types
    """asyncpg's acquire, its timeout said as DatabaseBusy (a query's own timeout stays a
    TimeoutError of that query)."""

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            return await super().__aenter__()
        except TimeoutError:
            raise DatabaseBusy(self.timeout) from None

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self._taken().__await__()

    async def _taken(self) -> asyncpg.Connection:
        # `await pool.acquire()`: the caller releases it, not this context.
        connection = await self.__aenter__()
        self.connection, self.done = None, True
        return connection


# asyncpg.create_pool's own defaults, for a BoundedPool built without it.
_POOL_DEFAULTS: dict[str, Any] = {
    "max_queries": 50_000,
    "max_inactive_connection_lifetime": 300.0,
    "loop": None,
    "connection_class": asyncpg.Connection,
    "record_class": asyncpg.Record,
}


async def create_pool(
    settings: Settings, *, min_size: int = 1, max_size: int = 10, wait: float | None = None
) -> asyncpg.Pool:
    """A pool whose connections resolve table names in the settings' schema; with `wait`, a
    BoundedPool that waits at most that long for a free connection."""
    options: dict[str, Any] = {
        "min_size": min_size,
        "max_size": max_size,
        "server_settings": {
            "search_path": settings.database_schema,
            "application_name": "heterdaad",
        },
    }
    if wait is None:
        pool: asyncpg.Pool = await asyncpg.create_pool(settings.database_url, **options)
    else:
        pool = await BoundedPool(settings.database_url, wait=wait, **_POOL_DEFAULTS, **options)
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
