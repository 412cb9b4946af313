"""Neighbourhood watch groups: their coarse view, their area and kinds, their subscriptions, and
an end-to-end run through Kafka, PostgreSQL and a signed webhook that must carry no personal
data (docs/neighbourhood-watch.md)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from consumers.notify.admin import NotifyAdminError
from consumers.notify.route import Directory, PoliceDesk, SubscriptionRule, route
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.notify.watch import watch_refusal
from consumers.sink import store
from heterdaad.auth import ALERTS_READ, EVENTS_READ, SUBSCRIPTIONS_WRITE
from heterdaad.kafka import make_producer, publish
from producers.api import ApiLimits, admin
from producers.api.kinds import default_scopes
from schemas.alerts import (
    Alert,
    AlertKind,
    Area,
    Lookout,
    RecipientRole,
    WarningGrounds,
    coarse_area,
)
from schemas.common import BranchType, Location, PoliceUnit
from schemas.distance import metres_between
from schemas.events import GetawayMode, PersonDescription, ReconBehaviour
from schemas.topics import ALERTS
from tests import factories
from tests.consumers.test_notify_service import _running
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually
from tests.producers.intake_support import running_api

if TYPE_CHECKING:

    import asyncpg

    from heterdaad.settings import Settings

DAM = factories.DAM_SQUARE
# The watch's own point: the Jordaan, about 0.7 km west of the Dam.
JORDAAN = Location(lat=52.3752, lon=4.8840)
# Amsterdam-Zuid, about 4 km south of the Jordaan.
ZUID = Location(lat=52.3383, lon=4.8722)
ROTTERDAM = Location(lat=51.9225, lon=4.4792)
WATCH_RADIUS_M = 1500.0

# Personal and identifying details planted in the alerts; none may reach a watch.
CLOTHING = "oranje jas met reflecterende strepen"
VEHICLE_MAKE = "Piaggio Zip"
VEHICLE_COLOUR = "mintgroen"
SITE = "ah-damstraat-12"
SERIES = "reeks-ams-0042"
HOTSPOT = "hotspot-8f1f"


# --- the view ---------------------------------------------------------------------------------


def _robbery(**overrides: Any) -> Alert:
    """A robbery alert with everything a police view may hold."""
    event_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "dedup_key": f"robbery_reported:{event_id}",
        "branch_types_at_risk": [BranchType.SUPERMARKET],
        "persons": [PersonDescription(clothing=[CLOTHING])],
        "site_id": SITE,
        "series_id": SERIES,
        "lookout": Lookout(
            modus_operandi=[], getaway_mode=GetawayMode.SCOOTER, vehicle_make=VEHICLE_MAKE,
            vehicle_colour=VEHICLE_COLOUR, clothing=[CLOTHING],
        ),
    }  # fmt: skip
    return factories.alert(**(fields | overrides))


def _reconnaissance(**overrides: Any) -> Alert:
    grounds = WarningGrounds(
        score=4.2, threshold=3.0, false_warnings_per_100=1.1,
        behaviours=[ReconBehaviour.FILMS_ENTRANCE], vehicle=True, repeats=2, branches=2,
    )  # fmt: skip
    return _robbery(kind=AlertKind.RECONNAISSANCE_WARNING, grounds=grounds, **overrides)


def _secrets_of(alert: Alert) -> list[str]:
    """Every text of the alert that a watch must not see (ids, descriptions, exact place)."""
    return [
        factories.PLATE_PSEUDONYM, CLOTHING, VEHICLE_MAKE, VEHICLE_COLOUR, SITE, SERIES, HOTSPOT,
        alert.dedup_key, alert.dedup_key.split(":")[-1], str(alert.alert_id),
        *(str(link.event_id) for link in alert.evidence),
        "supermarket", "amsterdam", f"{alert.area.center.lat}", f"{alert.area.center.lon}",
    ]  # fmt: skip


def test_the_watch_view_holds_what_happened_roughly_where_and_when() -> None:
    alert = _reconnaissance(hotspot_id=HOTSPOT)
    view = json.loads(
        alert.view_for(
            RecipientRole.NEIGHBOURHOOD_WATCH, reference_key=factories.REFERENCE_KEY
        ).model_dump_json()
    )
    assert set(view) == {"role", "kind", "severity", "area", "occurred_at", "historical"}
    assert view["kind"] == "reconnaissance_warning" and view["role"] == "neighbourhood_watch"
    assert datetime.fromisoformat(view["occurred_at"]) == alert.occurred_at
    text = json.dumps(view).lower()
    assert [secret for secret in _secrets_of(alert) if secret.lower() in text] == []


@pytest.mark.parametrize(
    ("center", "radius_m"),
    [
        # The Dam: rounded to 52.37, 4.89.
        (DAM, 2000.0),
        # A point just short of the rounding boundary in both directions.
        (Location(lat=52.37499, lon=4.89499), 100.0),
        # No radius (an area of cells): the margin alone.
        (Location(lat=51.92249, lon=4.47921), None),
    ],
)
def test_the_coarse_area_holds_the_alert_s_own(center: Location, radius_m: float | None) -> None:
    cells = [] if radius_m is not None else ["881f1d4a9bfffff"]
    area = Area(center=center, radius_m=radius_m, cells=cells)
    coarse = coarse_area(area)
    assert (coarse.center.lat, coarse.center.lon) == (round(center.lat, 2), round(center.lon, 2))
    shift = metres_between(center.lat, center.lon, coarse.center.lat, coarse.center.lon)
    assert shift + (radius_m or 0.0) <= coarse.radius_m
    assert coarse.radius_m % 500 == 0


# --- subscribing --------------------------------------------------------------------------------


def _spec(**fields: Any) -> SubscriptionSpec:
    base: dict[str, Any] = {
        "area_center": {"lat": JORDAAN.lat, "lon": JORDAAN.lon}, "radius_m": WATCH_RADIUS_M,
        "webhook_url": "https://buurtapp.example/h",
    }  # fmt: skip
    return SubscriptionSpec.model_validate(base | fields)


@pytest.mark.parametrize(
    ("role", "fields", "refused"),
    [
        # A watch with its area and the kinds it may have: taken.
        ("neighbourhood_watch", {"alert_kinds": ["robbery_reported"]}, None),
        # Without kinds: every kind a watch may have (routing keeps to them).
        ("neighbourhood_watch", {}, None),
        # No area: refused.
        ("neighbourhood_watch", {"area_center": None, "radius_m": None}, "give its area"),
        # Wider than the 3 km allowed.
        ("neighbourhood_watch", {"radius_m": 3001}, "at most 3000 m"),
        # A hold-up in progress is not for citizens.
        ("neighbourhood_watch", {"alert_kinds": ["hold_up_in_progress"]}, "alert_kinds only"),
        # Branch types and chains mean branches, which a watch has none of.
        ("neighbourhood_watch", {"branch_types": ["supermarket"]}, "no branch_types"),
        # Historical alerts are no news for the street.
        ("neighbourhood_watch", {"include_historical": True}, "no include_historical"),
        # An area is for watches only: a retailer counts from its branches.
        ("retailer", {}, "area_center is for neighbourhood watch"),
        # A retailer without an area is not concerned.
        ("retailer", {"area_center": None}, None),
    ],
)
def test_what_a_watch_may_subscribe_to(
    role: str, fields: dict[str, Any], refused: str | None
) -> None:
    reason = watch_refusal(_spec(**fields), role, max_radius_m=3000)
    assert (reason is None) if refused is None else (refused in (reason or "")), reason


def test_an_area_needs_a_radius() -> None:
    with pytest.raises(ValueError, match="give radius_m with area_center"):
        _spec(radius_m=None)


# --- routing ------------------------------------------------------------------------------------


def _watch_rule(**fields: Any) -> SubscriptionRule:
    base: dict[str, Any] = {
        "subscription_id": 1, "organisation_id": "buurt-jordaan",
        "organisation_role": "neighbourhood_watch", "radius_m": WATCH_RADIUS_M,
        "area_center": (JORDAAN.lat, JORDAAN.lon), "webhook_url": "https://buurtapp.example/h",
    }  # fmt: skip
    return SubscriptionRule(**(base | fields))


ROUTED = [
    # A robbery at the Dam, 0.7 km away: told, as the watch's view, with no branches.
    (_robbery(area=Area(center=DAM, radius_m=500)), {}, True),
    # Reconnaissance at the Dam: told.
    (_reconnaissance(area=Area(center=DAM, radius_m=500)), {}, True),
    # A hotspot whose circle reaches into the area: told.
    (_robbery(kind=AlertKind.HOTSPOT, area=Area(center=ZUID, radius_m=3000)), {}, True),
    # A robbery in Zuid, 4 km away, its circle 0.5 km: outside the area.
    (_robbery(area=Area(center=ZUID, radius_m=500)), {}, False),
    # A robbery in Rotterdam: far outside.
    (_robbery(area=Area(center=ROTTERDAM, radius_m=500), police_unit=PoliceUnit.ROTTERDAM),
     {}, False),
    # A hold-up in progress at the Dam: not a kind for a watch.
    (_robbery(kind=AlertKind.HOLD_UP_IN_PROGRESS), {}, False),
    # A series at the Dam: not a kind for a watch (it names a crew).
    (_robbery(kind=AlertKind.SERIES), {}, False),
    # A hold-up even when the row (changed by hand) asks for it.
    (_robbery(kind=AlertKind.HOLD_UP_IN_PROGRESS),
     {"alert_kinds": frozenset({AlertKind.HOLD_UP_IN_PROGRESS})}, False),
    # A robbery when the watch asked for reconnaissance only.
    (_robbery(), {"alert_kinds": frozenset({AlertKind.RECONNAISSANCE_WARNING})}, False),
    # A historical robbery at the Dam, even if the row asks for history.
    (_robbery(historical=True), {"include_historical": True}, False),
    # A row without its area (changed by hand): nothing.
    (_robbery(), {"area_center": None}, False),
]  # fmt: skip


@pytest.mark.parametrize(("alert", "rule_fields", "told"), ROUTED)
def test_a_watch_hears_of_its_kinds_in_its_area(
    alert: Alert, rule_fields: dict[str, Any], told: bool
) -> None:
    directory = Directory(
        desks=(PoliceDesk("politie-ams", PoliceUnit.AMSTERDAM),),
        subscriptions=(_watch_rule(**rule_fields),),
    )
    watches = [r for r in route(alert, directory, default_language="nl") if r.channel == "webhook"]
    if not told:
        assert watches == []
        return
    [watch] = watches
    assert watch.role is RecipientRole.NEIGHBOURHOOD_WATCH and watch.nearby == ()


# --- end to end: Kafka, PostgreSQL, the notify service, a signed webhook ------------------------


async def _scene(db: asyncpg.Connection, hook: str) -> None:
    await admin.create_organisation(
        db, "politie-ams", "Politie Amsterdam", "police", police_unit=PoliceUnit.AMSTERDAM
    )
    await admin.create_organisation(
        db, "politie-rdam", "Politie Rotterdam", "police", police_unit=PoliceUnit.ROTTERDAM
    )
    await admin.create_organisation(db, "buurt-jordaan", "Buurtpreventie Jordaan",
                                    "neighbourhood_watch")  # fmt: skip
    spec = _spec(webhook_url=hook, webhook_secret=SECRET)
    await create_subscription(db, "buurt-jordaan", spec, actor="test", watch_max_radius_m=3000)


async def _publish(settings: Settings, alerts: list[Alert]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for alert in alerts:
            await publish(producer, ALERTS, alert, prefix=settings.topic_prefix, source="urn:t")
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_a_watch_gets_coarse_warnings_and_no_personal_data(
    settings: Settings, db: asyncpg.Connection
) -> None:
    near = Area(center=DAM, radius_m=500)
    told = {
        "robbery": _robbery(area=near),
        "reconnaissance": _reconnaissance(area=near),
    }
    untold = {
        "hold-up": _robbery(area=near, kind=AlertKind.HOLD_UP_IN_PROGRESS),
        "robbery in Zuid": _robbery(area=Area(center=ZUID, radius_m=500)),
        "robbery in Rotterdam": _robbery(
            area=Area(center=ROTTERDAM, radius_m=500), police_unit=PoliceUnit.ROTTERDAM
        ),
        "historical robbery": _robbery(area=near, historical=True),
    }
    alerts = list(told.values()) + list(untold.values())
    async with WebhookReceiver() as receiver:
        # The watch's receiver fails its first request: the notification is retried as any is.
        await _scene(db, receiver.hook("watch", answers=[503]))
        await _publish(settings, alerts)
        async with _running(settings):

            async def settled() -> bool:
                # Every alert reached its unit's desk (so the service has routed them all),
                # and the watch's rows are final.
                rows = await db.fetch("SELECT dedup_key, channel, state FROM delivery")
                desks = {r["dedup_key"] for r in rows if r["channel"] == "desk"
                         and r["state"] == "delivered"}  # fmt: skip
                open_rows = [r for r in rows if r["state"] in ("pending", "failed")]
                return desks == {alert.dedup_key for alert in alerts} and not open_rows

            await eventually(settled, timeout=60)
        requests = receiver.delivered("watch")
        failed = [r for r in receiver.requests if r.hook == "watch" and r.status == 503]

    rows = await db.fetch(
        "SELECT dedup_key, state, role, payload FROM delivery WHERE channel = 'webhook'"
    )
    # Only the robbery and the reconnaissance near the Jordaan reached the watch, once each.
    assert sorted((r["dedup_key"], r["state"], r["role"]) for r in rows) == sorted(
        (alert.dedup_key, "delivered", "neighbourhood_watch") for alert in told.values()
    )
    # Retried with the very same signed body, and every attempt is in the log.
    [first] = failed
    assert first.body in {request.body for request in requests}
    attempts = await db.fetch("SELECT status_code FROM delivery_attempt ORDER BY at")
    assert sorted(row["status_code"] for row in attempts) == sorted([503, *[200] * len(requests)])
    items = [item for request in requests for item in request.document["alerts"]]
    assert sorted(item["view"]["kind"] for item in items) == [
        "reconnaissance_warning", "robbery_reported"
    ]  # fmt: skip
    for item in items:
        assert set(item) == {"idempotency_key", "notice", "summary", "view"}
        assert item["view"]["area"] == {"center": {"lat": 52.37, "lon": 4.89}, "radius_m": 1500.0}
        assert "in uw buurt" in item["summary"] and "1,5 km" in item["summary"]
    # Nothing personal or identifying in any body or header, the signed bytes themselves.
    forbidden = {secret.lower() for alert in alerts for secret in _secrets_of(alert)}
    for request in requests:
        assert request.document["group_key"] is None
        seen = (request.body + json.dumps(request.headers).encode()).decode().lower()
        assert sorted(secret for secret in forbidden if secret in seen) == []


@pytest.mark.integration
async def test_a_watch_is_not_told_outcomes(settings: Settings, db: asyncpg.Connection) -> None:
    # A shop nearby is told the robbery was resolved ("aangehouden"); the watch is not: whether
    # someone was arrested is police news.
    alert = _robbery(area=Area(center=DAM, radius_m=500))
    async with WebhookReceiver() as receiver:
        await _scene(db, receiver.hook("watch"))
        await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
        await admin.create_branch(db, "ah", factories.branch())
        shop = SubscriptionSpec.model_validate(
            {"radius_m": 1000, "webhook_url": receiver.hook("ah"), "webhook_secret": SECRET}
        )
        await create_subscription(db, "ah", shop, actor="test")
        await _publish(settings, [alert])
        async with _running(settings):

            async def both_told() -> bool:
                return {r.hook for r in receiver.delivered()} == {"ah", "watch"}

            await eventually(both_told, timeout=60)
            await store(db, alert)
            await db.execute(
                "UPDATE alert SET resolved_at = now(), resolved_by = 'coordinator.ams', "
                "outcome = 'arrested' WHERE alert_id = $1", alert.alert_id,
            )  # fmt: skip

            async def shop_told_outcome() -> bool:
                return any(
                    item["notice"] == "resolved"
                    for request in receiver.delivered("ah") for item in request.document["alerts"]
                )  # fmt: skip

            await eventually(shop_told_outcome, timeout=60)
            # One pass more, after the one that wrote the shop's notice, tells nobody else.
            await eventually(lambda: _no_open_rows(db), timeout=30)
    resolved = await db.fetch(
        "SELECT recipient FROM delivery WHERE dedup_key = $1", f"{alert.dedup_key}#resolved"
    )
    assert [row["recipient"].split("/")[0] for row in resolved] == ["ah"]
    assert [len(request.document["alerts"]) for request in receiver.delivered("watch")] == [1]


async def _no_open_rows(db: asyncpg.Connection) -> bool:
    open_rows: int = await db.fetchval(
        "SELECT count(*) FROM delivery WHERE state IN ('pending', 'failed')"
    )
    return open_rows == 0


@pytest.mark.integration
async def test_a_watch_without_an_area_or_beyond_the_radius_is_refused(
    db: asyncpg.Connection,
) -> None:
    await admin.create_organisation(db, "buurt-1", "Buurtpreventie", "neighbourhood_watch")
    for spec, reason in (
        (_spec(area_center=None, radius_m=None), "give its area"),
        (_spec(radius_m=2500), "at most 2000 m"),
    ):
        with pytest.raises(NotifyAdminError, match=reason):
            await create_subscription(db, "buurt-1", spec, actor="t", watch_max_radius_m=2000)
    assert await db.fetchval("SELECT count(*) FROM subscription") == 0


def _cli(
    settings: Settings, *arguments: str, language: str = "nl"
) -> subprocess.CompletedProcess[str]:
    environment = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "notify", "subscribe", "buurt-1", *arguments],
        env=environment | {
            "HETERDAAD_DATABASE_URL": settings.database_url,
            "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
            # The hook is on this machine, as an operator's local relay would be.
            "HETERDAAD_NOTIFY__ALLOW_PRIVATE_WEBHOOKS": "true",
            "HETERDAAD_LANGUAGE": language,
        },
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.integration
async def test_a_watch_subscribes_from_the_cli(settings: Settings, db: asyncpg.Connection) -> None:
    await admin.create_organisation(db, "buurt-1", "Buurtpreventie", "neighbourhood_watch")
    hook = ("--webhook-url", "http://127.0.0.1:9/h")
    wide = await asyncio.to_thread(
        _cli, settings, "--area-center", "52.3752,4.8840", "--radius-m", "5000", *hook
    )
    assert wide.returncode == 1 and "at most 3000 m" in wide.stderr, wide.stderr
    garbled = await asyncio.to_thread(_cli, settings, "--area-center", "Jordaan", *hook)
    assert garbled.returncode == 2 and "LAT,LON" in garbled.stderr, garbled.stderr
    # Without --language, the subscription speaks the deployment's language.
    taken = await asyncio.to_thread(
        _cli, settings, "--area-center", "52.3752, 4.8840", "--radius-m", "1500", *hook,
        language="en",
    )  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    row = await db.fetchrow("SELECT area_lat, area_lon, radius_m, language FROM subscription")
    assert tuple(row) == (52.3752, 4.884, 1500.0, "en")


# (body beside a valid area and webhook, status, field or reason in the answer)
API_SUBSCRIPTIONS: list[tuple[dict[str, Any], int, str]] = [
    # Its area and two of its kinds: stored.
    ({"alert_kinds": ["robbery_reported", "reconnaissance_warning"]}, 201, ""),
    # A hold-up in progress: not for citizens.
    ({"alert_kinds": ["hold_up_in_progress"]}, 422, "alert_kinds only"),
    # Wider than the 3 km allowed.
    ({"radius_m": 4000}, 422, "at most 3000 m"),
    # No area at all.
    ({"area_center": None, "radius_m": None}, 422, "must give its area"),
    # A point outside the Netherlands: the contract's box refuses it, naming the field.
    ({"area_center": {"lat": 48.85, "lon": 2.35}}, 422, "area_center.lat"),
]


@pytest.mark.integration
async def test_a_watch_subscribes_through_the_api_to_its_area_only(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await admin.create_organisation(db, "buurt-1", "Buurtpreventie", "neighbourhood_watch")
    # A watch's key posts nothing and reads nothing by default; subscribing is issued on purpose.
    assert default_scopes("neighbourhood_watch") == []
    for wider in (EVENTS_READ, ALERTS_READ, "recon-sightings:write"):
        with pytest.raises(admin.AdminError, match="cannot hold"):
            await admin.issue_key(db, "buurt-1", scopes=[wider])
    key = (await admin.issue_key(db, "buurt-1", scopes=[SUBSCRIPTIONS_WRITE])).key
    base = {
        "area_center": {"lat": JORDAAN.lat, "lon": JORDAAN.lon}, "radius_m": 1500,
        "webhook_url": "https://buurtapp.example/h",
    }  # fmt: skip
    limits = ApiLimits(events_per_second=1000, event_burst=1000)
    async with running_api(settings, limits) as (_, client):
        for fields, status, said in API_SUBSCRIPTIONS:
            answer = await client.post(
                "/v1/subscriptions", json=base | fields, headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == status, (fields, answer.text)
            assert said in answer.text, (fields, answer.text)
    assert await db.fetchval("SELECT count(*) FROM subscription") == 1
