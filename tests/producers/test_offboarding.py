"""Offboarding: a revoked key or a disabled organisation is refused at once, and every grant or
withdrawal of access is in the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from producers.api import admin
from producers.sia.accounts import AccountDirectory
from schemas.common import PoliceUnit
from tests.consumers.test_desk_places import org
from tests.producers import bodies

if TYPE_CHECKING:
    import httpx

    from heterdaad.settings import Settings
    from tests.producers.intake_support import Registry

pytestmark = pytest.mark.integration


async def _audit(db: asyncpg.Connection, action: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT actor, subject, details FROM audit_log WHERE action = $1 ORDER BY at", action
    )
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


async def _report(client: httpx.AsyncClient, registry: Registry) -> int:
    response = await client.post(
        "/v1/incident-reports", json=bodies.incident_report(), headers=registry.auth("retail-a")
    )
    return response.status_code


async def test_issuing_and_revoking_a_key_is_audited(
    db: asyncpg.Connection, registry: Registry
) -> None:
    issued = await admin.issue_key(db, "retail-a", actor="beheerder.jan")
    [row] = [r for r in await _audit(db, "api_key_issued") if r["actor"] == "beheerder.jan"]
    assert row["subject"] == f"api_key:{issued.key_id}"
    assert row["details"]["organisation_id"] == "retail-a"
    assert row["details"]["scopes"] == list(issued.scopes)
    assert await admin.revoke_key(db, issued.key_id, actor="beheerder.piet") is True
    assert await admin.revoke_key(db, issued.key_id, actor="beheerder.piet") is False
    [row] = await _audit(db, "api_key_revoked")  # the second, refused revocation is not a change
    assert row == {"actor": "beheerder.piet", "subject": f"api_key:{issued.key_id}",
                   "details": {"organisation_id": "retail-a"}}  # fmt: skip


async def test_a_key_expiring_in_the_past_is_not_issued(
    db: asyncpg.Connection, registry: Registry
) -> None:
    with pytest.raises(admin.AdminError, match="has passed"):
        await admin.issue_key(db, "retail-a", expires_at=datetime.now(UTC) - timedelta(days=1))


async def test_a_disabled_organisation_is_refused_at_once_until_enabled(
    db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    assert await _report(client, registry) == 202
    keys = await admin.set_organisation_disabled(db, "retail-a", disabled=True, actor="beheer")
    assert keys == 1
    assert await _report(client, registry) == 401
    with pytest.raises(admin.AdminError, match="disabled already"):
        await admin.set_organisation_disabled(db, "retail-a", disabled=True)
    await admin.set_organisation_disabled(db, "retail-a", disabled=False, actor="beheer")
    assert await _report(client, registry) == 202
    assert [(r["actor"], r["subject"]) for r in await _audit(db, "organisation_disabled")] == [
        ("beheer", "organisation:retail-a")
    ]
    assert len(await _audit(db, "organisation_enabled")) == 1
    with pytest.raises(admin.AdminError, match="does not exist"):
        await admin.set_organisation_disabled(db, "nobody", disabled=True)


async def test_a_disabled_alarm_centre_is_not_heard_over_sia(
    db: asyncpg.Connection, registry: Registry, settings: Settings
) -> None:
    pool = await asyncpg.create_pool(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        # The receiver keeps an account a minute (ttl); a fresh directory asks the database.
        assert await AccountDirectory(pool).lookup("acct-1", None) is not None
        await admin.set_organisation_disabled(db, "pac-1", disabled=True)
        assert await AccountDirectory(pool).lookup("acct-1", None) is None
    finally:
        await pool.close()


async def test_an_operator_offboards_from_the_cli(
    db: asyncpg.Connection, registry: Registry, settings: Settings
) -> None:
    # A key that has expired is no key "now refused".
    lapsed = await admin.issue_key(db, "retail-b")
    await db.execute("UPDATE api_key SET expires_at = now() - interval '1 day' WHERE key_id = $1",
                     lapsed.key_id)  # fmt: skip
    done = org(settings, "disable", "retail-b", "--actor", "beheerder.jan")
    assert done.returncode == 0, done.stderr
    assert "organisation retail-b disabled (1 valid key(s) now refused)" in done.stdout
    again = org(settings, "disable", "retail-b")
    assert again.returncode == 1
    assert "heterdaad: organisation retail-b is disabled already" in again.stderr
    assert "Traceback" not in again.stderr
    assert (await _audit(db, "organisation_disabled"))[0]["actor"] == "beheerder.jan"
    back = org(settings, "enable", "retail-b")
    assert back.returncode == 0, back.stderr
    expired = org(settings, "issue-key", "retail-a", "--expires", "2020-01-01T00:00:00+00:00")
    assert expired.returncode == 1
    assert "has passed" in expired.stderr


async def test_an_operator_finds_the_key_to_revoke_and_who_is_disabled(
    db: asyncpg.Connection, registry: Registry, settings: Settings
) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    second = await admin.issue_key(db, "retail-a", scopes=["events:read"])
    assert await admin.revoke_key(db, second.key_id)
    third = await admin.issue_key(db, "retail-a", expires_at=datetime.fromisoformat(later))
    listed = org(settings, "keys", "retail-a")
    assert listed.returncode == 0, listed.stderr
    first, revoked, expiring = (line.split("\t") for line in listed.stdout.splitlines())
    assert first[0] == registry.keys["retail-a"].split("_")[1]
    assert first[1] == "valid"
    assert (revoked[0], revoked[1].split()[0], revoked[2]) == (second.key_id, "revoked",
                                                               "events:read")  # fmt: skip
    assert (expiring[0], expiring[1]) == (third.key_id, "valid")
    assert expiring[4].startswith("expires 20")
    assert "hash" not in listed.stdout and "sha256" not in listed.stdout
    await admin.set_organisation_disabled(db, "pac-2", disabled=True)
    organisations = org(settings, "list")
    assert organisations.returncode == 0, organisations.stderr
    lines = {line.split("\t")[0]: line for line in organisations.stdout.splitlines()}
    assert set(lines) == {"retail-a", "retail-b", "cbl", "pac-1", "pac-2", "politie-ams"}
    assert "\tdisabled " in lines["pac-2"] and "disabled" not in lines["pac-1"]
    refused = org(settings, "keys", "pac-2").stdout.split("\t")
    assert refused[1] == "refused (organisation disabled)", refused
    unknown = org(settings, "keys", "nobody")
    assert unknown.returncode == 1
    assert "heterdaad: organisation nobody does not exist" in unknown.stderr
    # Revoking one revoked already says so, as every CLI error does, and logs no revocation.
    twice = org(settings, "revoke-key", second.key_id)
    assert twice.returncode == 1
    assert twice.stderr.splitlines() == [
        f"heterdaad: no key {second.key_id} that is not revoked already"
    ]


async def test_a_police_unit_is_for_police_organisations_only(db: asyncpg.Connection) -> None:
    with pytest.raises(admin.AdminError, match="for police organisations, not for role retailer"):
        await admin.create_organisation(
            db, "winkel-x", "Winkel X", "retailer", police_unit=PoliceUnit.AMSTERDAM
        )
    assert await db.fetchval("SELECT count(*) FROM organisation") == 0
    await admin.create_organisation(
        db, "politie-x", "Politie X", "police", police_unit=PoliceUnit.AMSTERDAM
    )
