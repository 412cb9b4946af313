"""Migrations: applied once, a second run changes nothing, an edited migration is refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from infra.migrate import Migration, MigrationError, load_migrations, migrate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "organisation", "api_key", "branch", "alarm_site", "event", "alert",
    "subscription", "delivery", "audit_log", "schema_migration",
}  # fmt: skip


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[str]:
    name = f"m_{uuid.uuid4().hex[:10]}"
    yield name
    connection = await asyncpg.connect(database_url)
    await connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    await connection.close()


async def test_applied_twice_cleanly(database_url: str, schema: str) -> None:
    first = await migrate(database_url, schema)
    second = await migrate(database_url, schema)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert second == []
    connection = await asyncpg.connect(database_url)
    try:
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        }
    finally:
        await connection.close()
    assert tables >= EXPECTED_TABLES


async def test_an_edited_migration_is_refused(database_url: str, schema: str) -> None:
    original = load_migrations()
    await migrate(database_url, schema, original)
    edited = [Migration(original[0].version, original[0].name, original[0].sql + "\n-- edit")]
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await migrate(database_url, schema, edited)


def test_migration_files_are_numbered(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)
