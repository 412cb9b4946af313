"""History API: each role sees only its own part, pages are stable, every query is logged."""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from consumers.sink import store
from producers.api import admin
from schemas.common import Branch, BranchType, Location, PoliceUnit
from tests import factories
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

ROTTERDAM = Location(lat=51.9225, lon=4.4792)


async def _fill(db: asyncpg.Connection) -> dict[str, str]:
    registry = await register(db)
    await admin.create_organisation(
        db, "politie-rdam", "Politie Rotterdam", "police", police_unit=PoliceUnit.ROTTERDAM
    )
    await db.execute(
        "UPDATE organisation SET police_unit = 'amsterdam' WHERE organisation_id = 'politie-ams'"
    )
    keys = dict(registry.keys)
    keys["politie-rdam"] = (await admin.issue_key(db, "politie-rdam")).key
    now = datetime.now(UTC)
    branch_a = factories.branch(branch_id="a-001")
    branch_b = factories.branch(branch_id="b-001")
    rotterdam = Branch(branch_id="r-9", branch_type=BranchType.SUPERMARKET, location=ROTTERDAM)
    for minutes, branch in enumerate([branch_a] * 5 + [branch_b] * 2 + [rotterdam]):
        await store(db, factories.incident_report(
            branch=branch, occurred_at=now - timedelta(minutes=minutes + 1)))  # fmt: skip
    await store(db, factories.alert())  # an Amsterdam alert
    return keys


async def test_a_cursor_is_refused_by_another_query(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A cursor is a place in one answer. Taken to a query with other filters (or the other
    route) it started that answer at an arbitrary place and silently skipped its newer
    records: branch a-001's five reports paged from another query's cursor lost two."""
    keys = await _fill(db)
    police = {"Authorization": f"Bearer {keys['politie-ams']}"}
    async with running_api(settings) as (_, client):
        first = await client.get("/v1/history/events", params={"limit": 3}, headers=police)
        cursor = first.json()["next_cursor"]
        for path, params in (
            ("/v1/history/events", {"branch_id": "a-001"}),  # another filter
            ("/v1/history/events", {"kind": "overval"}),
            ("/v1/history/events", {"since": "2020-01-01T00:00:00Z"}),
            ("/v1/history/alerts", {}),  # the other route
        ):
            refused = await client.get(path, params={**params, "cursor": cursor}, headers=police)
            assert refused.status_code == 422, (path, params, refused.text)
            [reason] = refused.json()["detail"]
            assert reason["field"] == "cursor"
            assert "another query" in reason["reason"]
        # The same query goes on, whatever the page size.
        same = await client.get(
            "/v1/history/events", params={"limit": 10, "cursor": cursor}, headers=police
        )
        assert same.status_code == 200, same.text
        assert len(same.json()["items"]) == 4


async def test_a_question_that_would_be_answered_otherwise_than_asked_is_refused(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """kind=overval&kind=poging was read as poging alone (an empty page, as if no robbery had
    happened); Amsterdam's police asking police_unit=rotterdam got an empty page, as if nothing
    had happened there. Both are refused naming the parameter; the own unit still answers."""
    keys = await _fill(db)
    police = {"Authorization": f"Bearer {keys['politie-ams']}"}
    async with running_api(settings) as (_, client):
        for path, query, field in (
            ("/v1/history/events", "kind=overval&kind=poging", "kind"),
            ("/v1/history/alerts", "police_unit=amsterdam&police_unit=amsterdam", "police_unit"),
            ("/v1/history/events", "police_unit=rotterdam", "police_unit"),
            ("/v1/history/alerts", "police_unit=rotterdam", "police_unit"),
        ):
            refused = await client.get(f"{path}?{query}", headers=police)
            assert refused.status_code == 422, (query, refused.text)
            [reason] = refused.json()["detail"]
            assert reason["field"] == field, reason
        own = await client.get("/v1/history/events?police_unit=amsterdam", headers=police)
        assert own.status_code == 200
        assert len(own.json()["items"]) == 7
        # A retailer's branches may lie in any unit: its filter by unit is a filter only.
        retail = {"Authorization": f"Bearer {keys['retail-a']}"}
        other = await client.get("/v1/history/events?police_unit=rotterdam", headers=retail)
        assert other.status_code == 200
        assert other.json()["items"] == []


async def test_each_role_sees_its_own(settings: Settings, db: asyncpg.Connection) -> None:
    keys = await _fill(db)
    async with running_api(settings) as (_, client):

        async def events(who: str, **params: str | int) -> dict[str, Any]:
            answer = await client.get(
                "/v1/history/events", params=params,
                headers={"Authorization": f"Bearer {keys[who]}"},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        def branches(page: dict[str, Any]) -> set[str]:
            return {item["branch_id"] for item in page["items"]}

        # A retailer sees its own branch only; the CBL also its member's.
        assert branches(await events("retail-a")) == {"a-001"}
        assert branches(await events("retail-b")) == {"b-001"}
        assert branches(await events("cbl")) == {"a-001"}
        # The police see their unit: Amsterdam the two Amsterdam branches, Rotterdam its own.
        assert branches(await events("politie-ams")) == {"a-001", "b-001"}
        assert branches(await events("politie-rdam")) == {"r-9"}
        # An alarm centre reported no alarms: it sees nothing, not the robberies.
        assert (await events("pac-1"))["items"] == []

        # Pages of two, newest first, without overlap, ending with no cursor.
        seen: list[str] = []
        cursor = None
        while True:
            page = await events("politie-ams", limit=2, **({"cursor": cursor} if cursor else {}))
            seen += [item["event_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 7

        # Alert history is police information.
        refused = await client.get(
            "/v1/history/alerts", headers={"Authorization": f"Bearer {keys['retail-a']}"}
        )
        assert refused.status_code == 403
        alerts = await client.get(
            "/v1/history/alerts", headers={"Authorization": f"Bearer {keys['politie-ams']}"}
        )
        assert len(alerts.json()["items"]) == 1
        bad_cursor = await client.get(
            "/v1/history/events", params={"cursor": "nonsense"},
            headers={"Authorization": f"Bearer {keys['retail-a']}"},
        )  # fmt: skip
        assert bad_cursor.status_code == 422
        # Filters are identifiers: a NUL (which PostgreSQL refuses in text) is named, not a 500.
        for name in ("branch_id", "kind"):
            bad_filter = await client.get(
                "/v1/history/events", params={name: "a\x00b"},
                headers={"Authorization": f"Bearer {keys['retail-a']}"},
            )  # fmt: skip
            assert bad_filter.status_code == 422, bad_filter.text
            assert name in bad_filter.text
        # A moment that has no UTC equivalent (year 1 at +23:59) is refused, not a 500; a
        # number is no date-time of the spec (pydantic alone read it as Unix time, found by
        # schemathesis).
        for name, moment in itertools.product(
            ("since", "until"), ("0001-01-01T00:00:00+23:59", "0.5", "1764964800")
        ):
            bad_moment = await client.get(
                "/v1/history/events", params={name: moment},
                headers={"Authorization": f"Bearer {keys['retail-a']}"},
            )  # fmt: skip
            assert bad_moment.status_code == 422, bad_moment.text
            assert name in bad_moment.text
        # Issue 11 finding 15: a cursor whose time has no UTC equivalent, or no offset at all,
        # is named as the cursor, not a 500.
        for moment in ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
                       "2026-01-01T00:00:00"):
            forged = base64.urlsafe_b64encode(f"{moment}|{uuid.uuid4()}|x".encode()).decode()
            bad_offset = await client.get(
                "/v1/history/events", params={"cursor": forged},
                headers={"Authorization": f"Bearer {keys['retail-a']}"},
            )  # fmt: skip
            assert bad_offset.status_code == 422, bad_offset.text
            assert "cursor" in bad_offset.text

    logged = await db.fetchval("SELECT count(*) FROM audit_log WHERE subject LIKE 'history:%'")
    assert logged >= 10
    # Who read which alert, by id: the police read of the alert history names it.
    [read] = await db.fetch(
        "SELECT actor, details FROM audit_log WHERE subject = 'history:alerts' "
        "AND actor = 'politie-ams' AND (details->>'items')::int = 1"
    )
    assert json.loads(read["details"])["alert_ids"] == [alerts.json()["items"][0]["alert_id"]]


async def test_a_filter_no_record_can_match_is_refused_by_name(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """`?kind=xyz` answered 200 with an empty page, as if nothing had happened: a typo'd kind,
    an unknown parameter or an empty period reads as "no robberies". Each is 422, naming the
    parameter and why, in the API's shape of a refusal."""
    keys = await _fill(db)
    async with running_api(settings) as (_, client):

        async def asked(path: str, who: str, **params: str) -> tuple[int, Any]:
            answer = await client.get(
                path, params=params, headers={"Authorization": f"Bearer {keys[who]}"}
            )
            return answer.status_code, answer.json()

        def named(body: Any) -> list[str]:
            return [problem["field"] for problem in body["detail"]]

        later = datetime.now(UTC).isoformat()
        earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        for path, who, params, field in (
            ("/v1/history/events", "politie-ams", {"kind": "xyz"}, "kind"),
            # An alert's kind is no event's kind, nor the other way round.
            ("/v1/history/events", "politie-ams", {"kind": "robbery_reported"}, "kind"),
            ("/v1/history/alerts", "politie-ams", {"kind": "overval"}, "kind"),
            ("/v1/history/alerts", "politie-ams", {"kind": "xyz"}, "kind"),
            ("/v1/history/events", "retail-a", {"police_unit": "atlantis"}, "police_unit"),
            ("/v1/history/events", "retail-a", {"knd": "overval"}, "knd"),
            # Alerts are not stored by branch: the filter was ignored, every alert answered.
            ("/v1/history/alerts", "politie-ams", {"branch_id": "a-001"}, "branch_id"),
            ("/v1/history/events", "retail-a", {"since": later, "until": earlier}, "until"),
            ("/v1/history/alerts", "politie-ams", {"since": later, "until": later}, "until"),
        ):
            status, body = await asked(path, who, **params)
            assert status == 422, (path, params, body)
            assert named(body) == [field], (path, params, body)
            assert all(problem["reason"] for problem in body["detail"])
        status, body = await asked("/v1/history/events", "politie-ams", kind="xyz")
        assert "overval" in body["detail"][0]["reason"]  # says which kinds there are
        # The kinds that are stored still filter.
        status, body = await asked("/v1/history/events", "politie-ams", kind="overval")
        assert status == 200
        assert {item["kind"] for item in body["items"]} == {"overval"}
        assert len(body["items"]) == 7
        status, body = await asked("/v1/history/alerts", "politie-ams", kind="robbery_reported")
        assert status == 200, body
        status, body = await asked(
            "/v1/history/events", "retail-a", since=earlier, until=later, kind="voorverkenning"
        )
        assert (status, body["items"]) == (200, [])


def test_the_event_kinds_are_those_the_sink_stores() -> None:
    from consumers.history import EventKind
    from schemas.events import AlarmSignal, IncidentType

    stored = {*AlarmSignal, *IncidentType, "voorverkenning"}
    assert {kind.value for kind in EventKind} == {str(kind) for kind in stored}


async def test_alerts_are_found_by_when_what_they_are_about_happened(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A robbery of March 2025, imported today, raises its alert today: found by `until`
    before today and listed after the live one, as its event is (a stranger's pass: the
    history answered `until=2026-06-01` with nothing and put March among today's alerts)."""
    keys = await _fill(db)
    police = {"Authorization": f"Bearer {keys['politie-ams']}"}
    now = datetime.now(UTC)
    march = factories.alert(created_at=now, occurred_at=datetime(2025, 3, 14, 20, 5, tzinfo=UTC),
                            historical=True)  # fmt: skip
    await store(db, march)
    async with running_api(settings) as (_, client):
        before = now - timedelta(days=30)
        old = await client.get("/v1/history/alerts", params={"until": before.isoformat()},
                               headers=police)  # fmt: skip
        recent = await client.get("/v1/history/alerts", params={"since": before.isoformat()},
                                  headers=police)  # fmt: skip
        every = await client.get("/v1/history/alerts", headers=police)
        paged = await client.get("/v1/history/alerts", params={"limit": 1}, headers=police)
        rest = await client.get("/v1/history/alerts", headers=police, params={
            "limit": 1, "cursor": paged.json()["next_cursor"]})  # fmt: skip
    assert [item["alert_id"] for item in old.json()["items"]] == [str(march.alert_id)]
    assert str(march.alert_id) not in {item["alert_id"] for item in recent.json()["items"]}
    listed = every.json()["items"]
    assert [item["alert_id"] for item in listed][-1] == str(march.alert_id)
    assert listed[-1]["occurred_at"].startswith("2025-03-14T20:05")
    assert [item["alert_id"] for item in paged.json()["items"] + rest.json()["items"]] == [
        item["alert_id"] for item in listed
    ]
