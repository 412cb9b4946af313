"""Migrations: applied once, a second run changes nothing, an edited migration is refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from infra.migrate import Migration, MigrationError, load_migrations, migrate
from schemas.alerts import Alert, AlertKind, DetectionBasis, EvidenceLink, LinkReason
from tests import factories
from tests.databases import drop_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "organisation", "api_key", "branch", "alarm_site", "event", "alert",
    "subscription", "delivery", "audit_log", "schema_migration", "webhook_move",
}  # fmt: skip


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[str]:
    name = f"m_{uuid.uuid4().hex[:10]}"
    yield name
    await drop_schema(database_url, name)


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


def _up_to(version: int) -> list[Migration]:
    return [m for m in load_migrations() if m.version <= version]


async def _store_before_0025(connection: asyncpg.Connection, alert: Alert) -> None:
    """An alert as the sink stored it before 0025: its event time only in its payload."""
    await connection.execute(
        "INSERT INTO alert (alert_id, dedup_key, kind, severity, police_unit, lat, lon, "
        "created_at, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        alert.alert_id, alert.dedup_key, alert.kind.value, alert.severity.value,
        alert.police_unit.value, alert.area.center.lat, alert.area.center.lon, alert.created_at,
        alert.model_dump_json(),
    )  # fmt: skip


async def test_alerts_stored_before_0025_take_their_event_time_from_their_payload(
    database_url: str, schema: str
) -> None:
    """Retention dates an alert by its event time; older alerts have it in their payload."""
    await migrate(database_url, schema, _up_to(24))
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        dated = factories.alert(occurred_at=datetime.now(UTC) - timedelta(days=40))
        undated = factories.alert(occurred_at=None)
        for alert in (dated, undated):
            await _store_before_0025(connection, alert)
        assert [m.version for m in await migrate(database_url, schema, _up_to(25))] == [25]
        rows = await connection.fetch("SELECT alert_id, occurred_at FROM alert")
    finally:
        await connection.close()
    assert {row["alert_id"]: row["occurred_at"] for row in rows} == {
        dated.alert_id: dated.occurred_at, undated.alert_id: None,
    }  # fmt: skip


async def test_judgements_stored_before_0024_take_what_their_alert_stated(
    database_url: str, schema: str
) -> None:
    """The stated chances and the fit read the judgement; older ones get it from the alert."""
    await migrate(database_url, schema, _up_to(23))
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
            await _store_before_0025(connection, alert)
        # The third alert's payload is gone (retention) before the migration: nothing stated.
        for alert_id, kind in ((series.alert_id, "series"), (hotspot.alert_id, "hotspot"),
                               (uuid.uuid4(), "series")):  # fmt: skip
            await connection.execute(
                "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at) "
                "VALUES ($1, $2, 'p', 'confirmed', 'analist', now())", alert_id, kind,
            )  # fmt: skip
        applied = await migrate(database_url, schema, _up_to(24))
        assert [m.version for m in applied] == [24]
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


async def test_link_judgements_stored_before_0026_are_refiled_as_links(
    database_url: str, schema: str
) -> None:
    """A robbery linked back to reconnaissance was judged as if it were a pattern named after
    the robbery; 0026 files it as its own kind, by its alert's dedup key or by its name."""
    await migrate(database_url, schema, _up_to(25))
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        robbery, gone = uuid.uuid4(), uuid.uuid4()
        recon = AlertKind.RECONNAISSANCE_WARNING
        warning = factories.alert(kind=recon, dedup_key="recon:rp-0123456789abcdef:2")
        link = factories.alert(kind=recon, dedup_key=f"recon-link:{robbery}:2")
        for alert in (warning, link):
            await _store_before_0025(connection, alert)
        # The third one's alert row is not there: its bare uuid says it named a robbery.
        for alert_id, pattern in ((warning.alert_id, "rp-0123456789abcdef"),
                                  (link.alert_id, str(robbery)), (uuid.uuid4(), str(gone))):
            await connection.execute(
                "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at) "
                "VALUES ($1, 'reconnaissance_warning', $2, 'confirmed', 'analist', now())",
                alert_id, pattern,
            )  # fmt: skip
        assert [m.version for m in await migrate(database_url, schema, _up_to(26))] == [26]
        rows = await connection.fetch("SELECT kind, pattern FROM judgement ORDER BY judgement_id")
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(
                "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at) "
                "VALUES ($1, 'robbery_reported', 'x', 'confirmed', 'analist', now())",
                uuid.uuid4(),
            )  # fmt: skip
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [
        ("reconnaissance_warning", "rp-0123456789abcdef"),
        ("reconnaissance_link", f"recon-link:{robbery}"),
        ("reconnaissance_link", f"recon-link:{gone}"),
    ]
