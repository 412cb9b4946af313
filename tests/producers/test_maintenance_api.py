"""An alarm centre sets, lists and ends the maintenance of its own sites through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from heterdaad.auth import MAINTENANCE_WRITE
from producers.api import ApiLimits, admin
from producers.api.kinds import default_scopes
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

LIMITS = ApiLimits(events_per_second=1_000_000, event_burst=1_000_000)
OWN = "/v1/alarm-sites/site-1/maintenance"  # pac-1's site
FOREIGN = "/v1/alarm-sites/site-2/maintenance"  # pac-2's site
MISSING = "/v1/alarm-sites/site-9/maintenance"


async def _keeper(db: asyncpg.Connection, centre: str = "pac-1") -> tuple[str, dict[str, str]]:
    """A key of the centre issued with maintenance:write beside its defaults: (id, header)."""
    issued = await admin.issue_key(db, centre, scopes=[*default_scopes("alarm_centre"),
                                                        MAINTENANCE_WRITE])  # fmt: skip
    return issued.key_id, {"Authorization": f"Bearer {issued.key}"}


async def _windows(db: asyncpg.Connection, site_id: str) -> list[tuple[datetime, datetime]]:
    rows = await db.fetch(
        "SELECT starts_at, ends_at FROM alarm_site_maintenance WHERE site_id = $1 ORDER BY 1",
        site_id,
    )
    return [(row["starts_at"], row["ends_at"]) for row in rows]


def _at(moment: datetime) -> str:
    return moment.isoformat()


async def test_a_centre_sets_lists_and_ends_its_own_site_s_maintenance(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await register(db)
    key_id, auth = await _keeper(db)
    now = datetime.now(UTC).replace(microsecond=0)
    async with running_api(settings, LIMITS) as (_, client):
        # Now until two hours from now (no start: now), and one planned for tomorrow.
        current = await client.post(OWN, json={"ends_at": _at(now + timedelta(hours=2))},
                                    headers=auth)  # fmt: skip
        assert current.status_code == 201, current.text
        tomorrow = now + timedelta(days=1)
        planned = await client.post(OWN, headers=auth, json={
            "starts_at": _at(tomorrow), "ends_at": _at(tomorrow + timedelta(hours=3)),
        })  # fmt: skip
        assert planned.status_code == 201, planned.text
        listed = await client.get(OWN, headers=auth)
        assert listed.status_code == 200, listed.text
        assert [datetime.fromisoformat(w["ends_at"]) for w in listed.json()] == [
            now + timedelta(hours=2), now + timedelta(days=1, hours=3)
        ]
        started = datetime.fromisoformat(current.json()["starts_at"])
        assert now <= started <= datetime.now(UTC)
        # Ending: the running window ends now, the planned one goes.
        ended = await client.delete(OWN, headers=auth)
        assert ended.status_code == 204, ended.text
        [(starts, ends)] = await _windows(db, "site-1")
        assert starts == started and ends <= datetime.now(UTC)
    # Audited as the command audits, with the caller (organisation and key) as actor.
    audited = await db.fetch(
        "SELECT actor, action, subject FROM audit_log WHERE action LIKE 'alarm_site_maint%' "
        "ORDER BY at, action"
    )
    actor = f"api:pac-1:{key_id}"
    assert [tuple(row) for row in audited] == [
        (actor, "alarm_site_maintenance_set", "alarm_site:site-1"),
        (actor, "alarm_site_maintenance_set", "alarm_site:site-1"),
        (actor, "alarm_site_maintenance_ended", "alarm_site:site-1"),
    ]


async def test_another_centre_s_site_is_unknown(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await register(db)
    _, auth = await _keeper(db)
    now = datetime.now(UTC)
    await admin.set_maintenance(db, "site-2", now + timedelta(hours=1))
    before = await _windows(db, "site-2")
    body = {"ends_at": _at(now + timedelta(hours=3))}
    async with running_api(settings, LIMITS) as (_, client):
        for method in ("GET", "POST", "DELETE"):
            json = body if method == "POST" else None
            foreign = await client.request(method, FOREIGN, headers=auth, json=json)
            missing = await client.request(method, MISSING, headers=auth, json=json)
            # Answered exactly as a site that does not exist: nothing learnt of pac-2's.
            assert foreign.status_code == missing.status_code == 404, (method, foreign.text)
            assert foreign.json()["detail"].replace("site-2", "#") == missing.json()[
                "detail"
            ].replace("site-9", "#")
    assert await _windows(db, "site-2") == before


# Each body the API refuses, with every (field, words of the reason) it must name.
REFUSED: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    # An end at or before its start.
    ({"starts_at": "+2h", "ends_at": "+1h"}, [("ends_at", "must lie after starts_at")]),
    # Longer than api_limits.maintenance_max_days (14) at once.
    ({"ends_at": "+15d"}, [("ends_at", "at most 14 days")]),
    # Ending before what the worker still reads (time.late_bound_days, 62): nobody would read it;
    # and ending before it starts, both named.
    ({"starts_at": "-70d", "ends_at": "-71d"},
     [("ends_at", "must lie after starts_at"), ("starts_at", "in the past"),
      ("ends_at", "no longer judged")]),
    # Back-dated: presses of the last hour still in a backlog (a true hold-up among them)
    # would be silenced; the operator's command may, a centre may not.
    ({"starts_at": "-1h", "ends_at": "+1h"}, [("starts_at", "may not silence presses")]),
    # Without a zone a moment is ambiguous by an hour or two; and the end is required.
    ({"starts_at": "2030-01-01T08:00:00"},
     [("starts_at", "timezone"), ("ends_at", "required")]),
]  # fmt: skip


def _moment(value: str, now: datetime) -> str:
    if value[0] not in "+-":
        return value
    unit = {"h": timedelta(hours=1), "d": timedelta(days=1)}[value[-1]]
    return _at(now + int(value[:-1]) * unit)


@pytest.mark.parametrize(("body", "reasons"), REFUSED)
async def test_a_window_that_cannot_be_meant_is_refused_naming_every_field(
    settings: Settings,
    db: asyncpg.Connection,
    body: dict[str, Any],
    reasons: list[tuple[str, str]],
) -> None:
    await register(db)
    _, auth = await _keeper(db)
    now = datetime.now(UTC)
    sent = {name: _moment(value, now) for name, value in body.items()}
    async with running_api(settings, LIMITS) as (_, client):
        answer = await client.post(OWN, json=sent, headers=auth)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert [problem["field"] for problem in detail] == [field for field, _ in reasons]
    for problem, (_, words) in zip(detail, reasons, strict=True):
        assert words in problem["reason"], detail
    assert await _windows(db, "site-1") == []


async def test_only_a_key_issued_with_maintenance_write_sets_windows(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    body = {"ends_at": _at(datetime.now(UTC) + timedelta(hours=1))}
    async with running_api(settings, LIMITS) as (_, client):
        # The centre's default key posts presses; it does not silence them.
        answer = await client.post(OWN, json=body, headers=registry.auth("pac-1"))
        assert answer.status_code == 403 and MAINTENANCE_WRITE in answer.json()["detail"]
        # Other roles cannot hold the scope at all.
        for role_holder in ("retail-a", "cbl", "politie-ams"):
            answer = await client.get(OWN, headers=registry.auth(role_holder))
            assert answer.status_code == 403, (role_holder, answer.text)
    for organisation in ("retail-a", "cbl", "politie-ams"):
        with pytest.raises(admin.AdminError, match=MAINTENANCE_WRITE):
            await admin.issue_key(db, organisation, scopes=[MAINTENANCE_WRITE])
    assert await _windows(db, "site-1") == []
