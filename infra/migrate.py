"""Versioned SQL migrations (infra/migrations/NNNN_name.sql), applied once each, in order."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from heterdaad.db import DATABASE_GONE, SchemaBehind

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every process migrating one database.
_ADVISORY_LOCK = 0x68657464


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(Exception):
    pass


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return migrations


async def migrate(
    dsn: str, schema: str, migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply what is not applied yet in `schema`; returns what was applied now."""
    _plain(schema)
    pending_from = list(load_migrations() if migrations is None else migrations)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK)
        try:
            return await _apply(connection, schema, pending_from)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK)
    finally:
        await connection.close()


def _plain(schema: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise MigrationError(f"schema name {schema!r} is not a plain lower-case identifier")


async def _apply(
    connection: asyncpg.Connection, schema: str, migrations: list[Migration]
) -> list[Migration]:
    await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await connection.execute(f"SET search_path TO {schema}")
    await connection.execute(
        """CREATE TABLE IF NOT EXISTS schema_migration (
               version integer PRIMARY KEY,
               name text NOT NULL,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied = {
        row["version"]: row["checksum"]
        for row in await connection.fetch("SELECT version, checksum FROM schema_migration")
    }
    done = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it "
                    "was applied; add a new migration instead"
                )
            continue
        async with connection.transaction():
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        logger.info(
            "migration applied",
            extra={"version": migration.version, "migration": migration.name, "schema": schema},
        )
        done.append(migration)
    return done


async def not_applied(
    dsn: str, schema: str, migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """The migrations `schema` lacks (all of them where nothing was ever migrated), read only."""
    _plain(schema)
    connection = await asyncpg.connect(dsn)
    try:
        table = await connection.fetchval(
            "SELECT to_regclass(quote_ident($1) || '.schema_migration')", schema
        )
        rows = [] if table is None else await connection.fetch(
            f"SELECT version FROM {schema}.schema_migration"
        )
    finally:
        await connection.close()
    applied = {row["version"] for row in rows}
    wanted = load_migrations() if migrations is None else migrations
    return [migration for migration in wanted if migration.version not in applied]


async def ensure_migrated(dsn: str, schema: str) -> None:
    """Refuse to start a service on a schema that lacks a migration of this version. A database
    that cannot be reached now is no refusal: the service starts, says so on /readyz and tries
    again, as it does when the database goes away later."""
    try:
        missing = await not_applied(dsn, schema)
    except DATABASE_GONE as error:
        logger.warning("migration level not checked: database unreachable", extra={
            "error": repr(error)})  # fmt: skip
        return
    if missing:
        first = missing[0]
        raise SchemaBehind(
            f"{len(missing)} migration(s) not applied, from {first.version:04d}_{first.name}"
        )
