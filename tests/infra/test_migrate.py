"""Migrations: applied once, a second run changes nothing, an edited migration is refused."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from consumers.sink import store
from infra.migrate import Migration, MigrationError, load_migrations, migrate
from schemas.alerts import AlertKind, DetectionBasis, EvidenceLink, LinkReason
from tests import factories

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


async def test_judgements_stored_before_0024_take_what_their_alert_stated(
    database_url: str, schema: str
) -> None:
    """The stated chances and the fit read the judgement; older ones get it from the alert."""
    await migrate(database_url, schema, [m for m in load_migrations() if m.version < 24])
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        partner = uuid.uuid4()
        link = EvidenceLink(event_id=uuid.uuid4(), event_type="incident_report", reasons=[
            LinkReason(feature="linked_with", value=str(partner), contribution=0.0),
            LinkReason(feature="time_gap_days", value=2.5, contribution=0.3),
            LinkReason(feature="getaway_mode", value="scooter", contribution=1.1)])  # fmt: skip
        series = factories.alert(kind=AlertKind.SERIES, evidence=[link], basis=DetectionBasis(
            model_version="series-x", probability=0.77))  # fmt: skip
        hotspot = factories.alert(kind=AlertKind.HOTSPOT, basis=DetectionBasis(
            model_version="hotspot-x", recurrence_days=400))  # fmt: skip
        for alert in (series, hotspot):
            await store(connection, alert)
        # The third alert's payload is gone (retention) before the migration: nothing stated.
        for alert_id, kind in ((series.alert_id, "series"), (hotspot.alert_id, "hotspot"),
                               (uuid.uuid4(), "series")):  # fmt: skip
            await connection.execute(
                "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at) "
                "VALUES ($1, $2, 'p', 'confirmed', 'analist', now())", alert_id, kind,
            )  # fmt: skip
        assert [m.version for m in await migrate(database_url, schema)] == [24]
        rows = await connection.fetch(
            "SELECT model_version, stated_probability, stated_recurrence_days, evidence "
            "FROM judgement ORDER BY judgement_id"
        )
    finally:
        await connection.close()
    assert [tuple(r)[:3] for r in rows] == [
        ("series-x", 0.77, None), ("hotspot-x", None, 400.0), (None, None, None),
    ]
    assert [r["evidence"] for r in rows[1:]] == [None, None]
    # The series' links with numbers only, as the desk keeps them now.
    [kept] = json.loads(rows[0]["evidence"])
    assert [(r["feature"], r["value"]) for r in kept["reasons"]] == [
        ("linked_with", str(partner)), ("time_gap_days", 2.5), ("getaway_mode", None),
    ]
    assert kept["event_id"] == str(link.event_id)
