"""The desk's words and numbers through its real routes (Kafka and PostgreSQL behind them):
Dutch labels and notation by default, English when chosen, handling named right."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from consumers.sink import store
from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, LinkReason, Lookout, Severity
from schemas.events import GetawayMode
from tests import factories
from tests.consumers.test_desk import AMS_USER, csrf_token, logged_in, served_desk, users

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

# The stages' identifiers that a reader must never see on a Dutch page.
IDENTIFIERS = ["press", "incident_report", "alarm_activation", "time_gap_days", "hold_up",
               "same_branch", "modus_operandi", "at_closing", "telecom_shop"]  # fmt: skip


def visible_text(page: str) -> str:
    """What a reader sees: the page without its tags, scripts and attributes."""
    body = page[page.index("<body") :]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def an_alert_with_evidence() -> Alert:
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    return factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL,
        area=Area(center=factories.DAM_SQUARE, radius_m=3000),
        lookout=Lookout(getaway_mode=GetawayMode.SCOOTER, vehicle_make="Piaggio",
                        vehicle_colour="wit"),
        evidence=[
            EvidenceLink(
                event_id=uuid.uuid4(), event_type="alarm_activation", distance_m=0,
                occurred_at=datetime.now(UTC),
                reasons=[LinkReason(feature="press", value="hold_up", contribution=0.0)],
            ),
            EvidenceLink(
                event_id=uuid.uuid4(), event_type="incident_report", distance_m=12_500.0,
                occurred_at=three_days_ago,
                similarity={"time_gap_days": 0.8, "modus_operandi": 0.5},
                reasons=[
                    LinkReason(feature="incident_report", value="overval", contribution=1.0),
                    LinkReason(feature="time_gap_days", value=2.5, contribution=1.25),
                    LinkReason(feature="modus_operandi", value="at_closing", contribution=0.7),
                    LinkReason(feature="same_branch", value="telecom_shop", contribution=-0.4),
                ],
            ),
        ],
    )  # fmt: skip


async def test_dutch_words_and_notation_then_english(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    alert = an_alert_with_evidence()
    await store(db, alert)
    three_days_ago = alert.evidence[1].occurred_at
    assert three_days_ago is not None
    local_date = three_days_ago.astimezone(ZoneInfo("Europe/Amsterdam"))
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get(f"/alerts/{alert.alert_id}")).text
        detail = visible_text(page)
        listing = visible_text((await client.get("/")).text)
        english = visible_text((await client.get(f"/alerts/{alert.alert_id}?lang=en")).text)

    for text in (detail, listing):
        assert "3,0 km" in text and "3.0 km" not in text
        for identifier in IDENTIFIERS:
            assert re.search(rf"\b{identifier}\b", text) is None, identifier
    assert "12,5 km" in detail  # the report's distance, Dutch notation
    assert "druk op de knop" in detail and "overvalknop" in detail
    assert "incidentmelding" in detail and "tijd ertussen (dagen)" in detail
    assert "bij sluiting" in detail and "zelfde vestiging" in detail
    assert "+1,25" in detail and "-0,40" in detail and "80%" in detail
    assert f"{local_date:%d-%m-%Y}" in detail  # dd-mm-jjjj
    assert re.search(r"\d\.\d\d\b", detail) is None  # no decimal point in a Dutch number
    # What to look out for names the vehicle as one, its kind first, not 'wit' alone.
    assert '<li id="lookout-vehicle">Scooter Piaggio wit</li>' in page

    assert "3.0 km" in english and "button press" in english and "hold-up button" in english
    assert "incident report" in english and "time between (days)" in english
    assert "+1.25" in english


async def test_acknowledged_and_resolved_are_named_apart(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    alert = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL)
    await store(db, alert)
    path = f"/alerts/{alert.alert_id}"
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        csrf = csrf_token((await client.get(path)).text)
        await client.post(f"{path}/acknowledge", data={"csrf": csrf, "next": path})
        acknowledged = visible_text((await client.get(path)).text)
        await client.post(
            f"{path}/resolve", data={"csrf": csrf, "next": path, "outcome": "false_alarm"}
        )
        resolved = visible_text((await client.get(path)).text)
        listing = visible_text((await client.get("/")).text)
        english = visible_text((await client.get(f"{path}?lang=en")).text)

    assert f"Bevestigd door {AMS_USER} om" in acknowledged
    assert "Afgehandeld door" not in acknowledged
    status = re.search(r"Bevestigd door [^;]+; Afgehandeld door [^\n]+", resolved)
    assert status is not None, resolved
    assert status[0].count(AMS_USER) == 2
    assert f"Afgehandeld door {AMS_USER} om" in listing
    assert f"Acknowledged by {AMS_USER} at" in english and f"Resolved by {AMS_USER}" in english
