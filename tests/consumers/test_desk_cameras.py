"""Cameras near a robbery and Liveview on the police desk, and never in a branch's view."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.sink import store
from heterdaad.camera_registry import CameraSpec, add_camera
from heterdaad.thresholds.desk import DeskThresholds
from schemas.alerts import AlertKind, RecipientRole, Severity, alert_reference_id
from tests import factories
from tests.consumers.test_desk import logged_in, publish_alerts, served_desk, users
from tests.consumers.test_desk_places import org
from tests.consumers.test_notify_service import _running
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually
from tests.producers.intake_support import register

if TYPE_CHECKING:

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

LIVEVIEW = "https://liveview.example/site-1?token=abc"
# (id, lat, lon, phone): about 70 m, 200 m and 400 m north of the factories' Dam square.
CAMERAS = [
    ("cam-200", 52.37490, 4.8926, "020 555 0200"),
    ("cam-70", 52.37373, 4.8926, "020 555 0070"),
    ("cam-400", 52.37670, 4.8926, "020 555 0400"),
]


async def _cameras(db: asyncpg.Connection) -> None:
    for camera_id, lat, lon, phone in CAMERAS:
        await add_camera(db, CameraSpec.model_validate({
            "camera_id": camera_id, "owner": f"Eigenaar {camera_id}", "contact_phone": phone,
            "location": {"lat": lat, "lon": lon}, "place": f"Damstraat {camera_id}",
            "view": "straat en ingang", "retention_days": 14,
        }), actor="test")  # fmt: skip


async def test_a_robbery_lists_nearby_cameras_nearest_first_in_dutch_and_english(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    await _cameras(db)
    robbery = factories.alert()
    series = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-9")
    await store(db, robbery)
    await store(db, series)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get(f"/alerts/{robbery.alert_id}")).text
        assert "Camera&#39;s in de buurt" in page or "Camera's in de buurt" in page
        order = [page.index(f'data-camera="{c}"') for c in ("cam-70", "cam-200")]
        assert order == sorted(order)
        assert "cam-400" not in page and "020 555 0400" not in page  # past 250 m
        assert "020 555 0070" in page and "Eigenaar cam-70" in page and "14 dagen" in page
        assert "straat en ingang" in page
        english = (await client.get(f"/alerts/{robbery.alert_id}", params={"lang": "en"})).text
        assert "Cameras nearby" in english and "14 days" in english
        # A series is no single robbery scene: no camera section.
        other = (await client.get(f"/alerts/{series.alert_id}", params={"lang": "nl"})).text
        assert "cameras-heading" not in other and "020 555 0070" not in other


async def test_a_camera_that_keeps_footage_one_day_says_so_in_the_singular(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Bewaartermijn read '1 dagen' ('1 days') for footage kept a day."""
    await users(db)
    await add_camera(db, CameraSpec.model_validate({
        "camera_id": "cam-1d", "owner": "Snackbar", "contact_phone": "020 555 0001",
        "location": {"lat": 52.37373, "lon": 4.8926}, "place": "Damstraat 1",
        "view": "ingang", "retention_days": 1,
    }), actor="test")  # fmt: skip
    robbery = factories.alert()
    await store(db, robbery)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get(f"/alerts/{robbery.alert_id}")).text
        english = (await client.get(f"/alerts/{robbery.alert_id}", params={"lang": "en"})).text
    assert '<td class="num">1 dag</td>' in page
    assert '<td class="num">1 day</td>' in english


async def test_no_camera_within_the_radius_says_so(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    await _cameras(db)
    robbery = factories.alert()
    await store(db, robbery)
    async with (
        served_desk(settings, thresholds=DeskThresholds(camera_radius_m=50)) as base_url,
        logged_in(base_url) as client,
    ):
        page = (await client.get(f"/alerts/{robbery.alert_id}")).text
        assert 'id="no-cameras"' in page and "binnen 50 m" in page
        assert "020 555 0070" not in page


async def test_a_hold_up_at_a_liveview_site_offers_live_meekijken(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await register(db)  # pac-1 with site-1, no Liveview
    await users(db)
    made = org(settings, "alarm-site", "site-live", "pac-1", "acct-live", "--liveview",
               LIVEVIEW)  # fmt: skip
    assert made.returncode == 0, made.stderr
    refused = org(settings, "alarm-site", "site-http", "pac-1", "acct-http", "--liveview",
                  "http://liveview.example/x")  # fmt: skip
    assert refused.returncode == 1 and "https://" in refused.stderr
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL,
                              site_id="site-live")  # fmt: skip
    without = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL,
                              site_id="site-1")  # fmt: skip
    await store(db, hold_up)
    await store(db, without)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get(f"/alerts/{hold_up.alert_id}")).text
        assert 'id="liveview"' in page and "live meekijken" in page
        assert 'href="https://liveview.example/site-1?token=abc"' in page
        assert "live meekijken" not in (await client.get(f"/alerts/{without.alert_id}")).text
        # The card on the list too, only the Liveview site's.
        listing = (await client.get("/")).text
        row = listing[listing.index(f'id="alert-{hold_up.alert_id}"'):]
        assert 'class="liveview"' in row[: row.index("</li>")]
        other = listing[listing.index(f'id="alert-{without.alert_id}"'):]
        assert 'class="liveview"' not in other[: other.index("</li>")]
        assert listing.count("live meekijken") == 1
    # A hold-up from a backlog is history: the camera shows now, not then (a tester's).
    backlog = factories.alert(kind=AlertKind.VERIFIED_ALARM, severity=Severity.MEDIUM,
                              site_id="site-live", historical=True)  # fmt: skip
    await store(db, backlog)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        assert "live meekijken" not in (await client.get(f"/alerts/{backlog.alert_id}")).text


async def test_a_branch_webhook_carries_no_camera_or_liveview(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await register(db)
    await db.execute("UPDATE alarm_site SET liveview_url = $1 WHERE site_id = 'site-1'", LIVEVIEW)
    await _cameras(db)
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL,
                              site_id="site-1")  # fmt: skip
    # No field of a branch's view can carry them: the view is built from the alert alone.
    view = json.dumps(
        hold_up.view_for(RecipientRole.BRANCH, reference_key=factories.REFERENCE_KEY).model_dump(
            mode="json"
        )
    )
    async with WebhookReceiver() as receiver:
        branch = SubscriptionSpec.model_validate(
            {"radius_m": 1000, "webhook_url": receiver.hook("branch"), "webhook_secret": SECRET}
        )
        await create_subscription(db, "retail-a", branch, actor="test")
        async with _running(settings):
            await publish_alerts(settings, hold_up)

            async def delivered() -> bool:
                return bool(receiver.delivered("branch"))

            await eventually(delivered, timeout=60, interval=0.1)
        bodies = [request.body.decode() for request in receiver.delivered("branch")]
    # A branch knows the alert by its keyed id (docs/notify.md, "Alert id and group key").
    keyed = str(alert_reference_id(hold_up.dedup_key, settings.require_plate_key()))
    assert bodies and all(keyed in body for body in bodies)
    for text in (*bodies, view):
        for needle in ("cam-70", "020 555 0070", "eigenaar", "liveview", "camera", "retention"):
            assert needle not in text.lower(), (needle, text)
