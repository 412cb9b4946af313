"""What every long-running service checks before it starts: its settings, a database migrated
as far as this version needs, and, where it pseudonymises plates, that its plate key is the one
its key id named before. A service started on an older schema would run, answer every request
that meets a new table with an error, and say nothing useful at start (`heterdaad db migrate`
first; docs/operations.md); one started with a new key under an old id would make one plate
look like two (heterdaad/plate_keys.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from heterdaad import plate_keys
from heterdaad.cli_support import validated_settings
from heterdaad.db import DATABASE_GONE, create_pool
from infra.migrate import ensure_migrated

if TYPE_CHECKING:
    from heterdaad.settings import Settings


logger = logging.getLogger(__name__)


def service_settings(*, plates: bool = False) -> Settings:
    """The validated settings, once the database is known to hold every migration (else
    `SchemaBehind`, which the CLI says in one line naming `heterdaad db migrate`) and, for a
    service that pseudonymises `plates`, its key to be the one its id names (else
    `PlateKeyChanged`)."""
    settings = validated_settings()
    key = settings.require_plate_key() if plates else None
    asyncio.run(_checked(settings, key))
    return settings


async def _checked(settings: Settings, key: bytes | None) -> None:
    await ensure_migrated(settings.database_url, settings.database_schema)
    if key is None:
        return
    try:
        pool = await create_pool(settings, max_size=1)
    except DATABASE_GONE as error:  # as for the migrations: the service starts and tries again
        logger.warning("plate key not checked: database unreachable", extra={
            "error": repr(error)})  # fmt: skip
        return
    try:
        await plate_keys.claim(pool, key, settings.plate_key_id)
    finally:
        await pool.close()
