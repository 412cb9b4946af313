"""What every long-running service checks before it starts: its settings, and a database
migrated as far as this version needs. A service started on an older schema would run, answer
every request that meets a new table with an error, and say nothing useful at start
(`heterdaad db migrate` first; docs/operations.md)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from heterdaad.cli_support import validated_settings
from infra.migrate import ensure_migrated

if TYPE_CHECKING:
    from heterdaad.settings import Settings


def service_settings() -> Settings:
    """The validated settings, once the database is known to hold every migration (else
    `SchemaBehind`, which the CLI says in one line naming `heterdaad db migrate`)."""
    settings = validated_settings()
    asyncio.run(ensure_migrated(settings.database_url, settings.database_schema))
    return settings
