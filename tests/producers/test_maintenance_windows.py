"""Maintenance windows of alarm sites: set with a start, kept as a history, ended, carried over."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import pytest

from infra.migrate import load_migrations, migrate
from producers.api import admin

if TYPE_CHECKING:
    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


async def _site(db: asyncpg.Connection, site_id: str = "site-1") -> None:
    await admin.create_organisation(db, "pac", "Alarmcentrale", "alarm_centre")
    await admin.create_alarm_site(db, site_id, "pac", "acct-1")


async def _windows(db: asyncpg.Connection) -> list[tuple[datetime, datetime]]:
    rows = await db.fetch("SELECT starts_at, ends_at FROM alarm_site_maintenance ORDER BY 1")
    return [(row["starts_at"], row["ends_at"]) for row in rows]


async def test_windows_are_kept_as_a_history_and_ended(db: asyncpg.Connection) -> None:
    await _site(db)
    now = datetime.now(UTC).replace(microsecond=0)
    # Last night's window, entered afterwards; one from now (the default start); one planned.
    last_night = await admin.set_maintenance(
        db, "site-1", now - timedelta(hours=6), starts_at=now - timedelta(hours=8)
    )
    current = await admin.set_maintenance(db, "site-1", now + timedelta(hours=1))
    await admin.set_maintenance(db, "site-1", now + timedelta(days=2),
                                starts_at=now + timedelta(days=1))  # fmt: skip
    assert now <= current.starts_at <= datetime.now(UTC)
    assert len(await _windows(db)) == 3
    # Ending: the current window ends now, the planned one goes, the past one stays.
    assert await admin.end_maintenance(db, "site-1") == 2
    [past, ended] = await _windows(db)
    assert past == (last_night.starts_at, last_night.ends_at)
    assert ended[0] == current.starts_at and ended[1] <= datetime.now(UTC)
    audited = await db.fetch("SELECT action FROM audit_log ORDER BY 1")
    assert [row["action"] for row in audited] == [
        "alarm_site_maintenance_ended", *["alarm_site_maintenance_set"] * 3
    ]


async def test_windows_nobody_reads_any_more_are_forgotten(db: asyncpg.Connection) -> None:
    await _site(db)
    now = datetime.now(UTC)
    await admin.set_maintenance(db, "site-1", now - timedelta(days=70),
                                starts_at=now - timedelta(days=71))  # fmt: skip
    await admin.set_maintenance(db, "site-1", now + timedelta(hours=1),
                                forget_before=now - timedelta(days=62))  # fmt: skip
    assert [ends for _, ends in await _windows(db)] == [now + timedelta(hours=1)]


@pytest.mark.parametrize(
    ("starts", "ends", "forget", "refusal"),
    [
        # Without a zone a moment is ambiguous by an hour or two.
        (None, datetime(2030, 1, 1), None, "until needs a time zone"),
        (datetime(2030, 1, 1), datetime(2030, 1, 2, tzinfo=UTC), None, "from needs a time zone"),
        # An end at or before its start.
        (datetime(2030, 1, 2, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC), None,
         "must lie after from"),
        # A window the worker would never read.
        (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC),
         datetime(2020, 3, 1, tzinfo=UTC), "no longer judged against maintenance"),
    ],
)  # fmt: skip
async def test_a_window_that_cannot_be_meant_is_refused(
    db: asyncpg.Connection,
    starts: datetime | None,
    ends: datetime,
    forget: datetime | None,
    refusal: str,
) -> None:
    await _site(db)
    with pytest.raises(admin.AdminError, match=refusal):
        await admin.set_maintenance(db, "site-1", ends, starts_at=starts, forget_before=forget)
    with pytest.raises(admin.AdminError, match="alarm site site-9 does not exist"):
        await admin.set_maintenance(db, "site-9", datetime(2030, 1, 1, tzinfo=UTC))
    assert await _windows(db) == []


async def test_the_command_sets_and_lists_windows(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await _site(db)
    environment = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    environment |= {"HETERDAAD_DATABASE_URL": settings.database_url,
                    "HETERDAAD_DATABASE_SCHEMA": settings.database_schema}  # fmt: skip

    def heterdaad(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assembly.cli", "org", "maintenance",
                               *arguments], env=environment, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip

    set_ = heterdaad("site-1", "--from", "2030-01-01T08:00:00+01:00",
                     "--until", "2030-01-01T12:00:00+01:00")  # fmt: skip
    assert set_.returncode == 0, set_.stderr
    assert "from 2030-01-01T08:00:00+01:00 until 2030-01-01T12:00:00+01:00" in set_.stdout
    listed = heterdaad("site-1")
    assert listed.stdout.startswith("2030-01-01T07:00:00+00:00\t2030-01-01T11:00:00+00:00\tset ")
    both = heterdaad("site-1", "--end", "--until", "2030-01-01T12:00:00+01:00")
    assert both.returncode == 2 and "not both" in both.stderr


async def test_a_window_set_before_0028_begins_at_the_migration(database_url: str) -> None:
    """Only `maintenance_until` was kept: the window's start is unknown, so it begins at the
    migration, and a press made before it still counts. An ended one has nothing to judge."""
    schema = f"m_{uuid.uuid4().hex[:10]}"
    await migrate(database_url, schema, [m for m in load_migrations() if m.version <= 27])
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        await _site(connection)
        await admin.create_alarm_site(connection, "site-2", "pac", "acct-2")
        await connection.execute(
            "UPDATE alarm_site SET maintenance_until = now() + CASE site_id "
            "WHEN 'site-1' THEN interval '1 hour' ELSE interval '-1 hour' END"
        )
        before = datetime.now(UTC)
        await migrate(database_url, schema, [m for m in load_migrations() if m.version <= 28])
        rows = await connection.fetch("SELECT site_id, starts_at FROM alarm_site_maintenance")
        columns = await connection.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'alarm_site'",
            schema,
        )
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()
    assert [row["site_id"] for row in rows] == ["site-1"]
    assert rows[0]["starts_at"] >= before - timedelta(seconds=5)
    assert "maintenance_until" not in {row["column_name"] for row in columns}
