"""The PostgreSQL pool: one per process, created at start-up, bound to the configured schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from heterdaad.settings import Settings


async def create_pool(settings: Settings, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections resolve table names in the settings' schema."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": settings.database_schema, "application_name": "heterdaad"},
    )
    return pool
