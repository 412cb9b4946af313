"""In headless Chromium: a hold-up's detail page with the cameras nearby and "live meekijken".

HETERDAAD_SCREENSHOT_DIR=docs/img writes docs/img/desk-cameras.png (docs/cameras.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from consumers.sink import store
from heterdaad.camera_registry import CameraSpec, add_camera
from heterdaad.thresholds.desk import DeskThresholds
from schemas.alerts import AlertKind, Area, Severity
from schemas.common import BranchType, Location
from schemas.distance import metres_between
from tests import factories
from tests.consumers.test_desk import served_desk, users
from tests.consumers.test_desk_browser import CHROMIUM as CHROMIUM
from tests.consumers.test_desk_browser import keep_screenshot, signed_in_page
from tests.consumers.test_desk_browser import playwright_api as playwright_api
from tests.producers.intake_support import register

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

SHOT = "desk-cameras.png"
# Around Damrak 1 (the registry's branch a-001), as owners registered them.
CAMERAS = [
    ("cib-ams-0412", "Hotel Victoria", "020 555 0412", None, 52.37360, 4.89265,
     "Damrak 1-5, Amsterdam", "ingang hotel en stoep Damrak", 28),
    ("cib-ams-0077", "Juwelier Prins", None, "beveiliging@prins.example", 52.37268, 4.89300,
     "Damrak 40, Amsterdam", "straat en ingang", 7),
    ("cib-ams-1290", "Gemeente Amsterdam", "14 020", None, 52.37420, 4.89010,
     "Nieuwendijk 2, Amsterdam", "kruising Nieuwendijk / Martelaarsgracht", 14),
    ("cib-ams-0931", "mw. De Groot", "06 1234 5678", None, 52.37180, 4.89390,
     "Oudebrugsteeg 9, Amsterdam", "steeg richting Warmoesstraat", 3),
]  # fmt: skip

SCENE = Location(lat=52.3731, lon=4.8922)
NEAREST_FIRST = [
    camera[0]
    for camera in sorted(CAMERAS, key=lambda c: metres_between(SCENE.lat, SCENE.lon, c[4], c[5]))
]


async def test_a_hold_up_with_cameras_and_liveview_in_a_real_browser(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, playwright_api: Any
) -> None:
    await register(db)
    await users(db)
    await db.execute(
        "UPDATE alarm_site SET liveview_url = 'https://liveview.example/site-1' "
        "WHERE site_id = 'site-1'"
    )
    for camera_id, owner, phone, email, lat, lon, place, view, days in CAMERAS:
        await add_camera(db, CameraSpec(
            camera_id=camera_id, owner=owner, contact_phone=phone, contact_email=email,
            location=Location(lat=lat, lon=lon), place=place, view=view, retention_days=days,
        ), actor="test")  # fmt: skip
    hold_up = factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL, site_id="site-1",
        area=Area(center=SCENE, radius_m=500),
        branch_types_at_risk=[BranchType.SUPERMARKET],
    )  # fmt: skip
    await store(db, hold_up)
    # The offline sketch: no tile server reached from a test.
    thresholds = DeskThresholds(tile_url="")
    shot = tmp_path / SHOT
    async with (
        served_desk(settings, thresholds=thresholds) as base_url,
        playwright_api.async_playwright() as playwright,
        signed_in_page(playwright, base_url, viewport={"width": 1440, "height": 1100}) as page,
    ):
        await page.goto(f"{base_url}/alerts/{hold_up.alert_id}")
        await page.wait_for_selector("#cameras")
        assert await page.is_visible("#liveview")
        assert await page.inner_text("#liveview") == "live meekijken"
        rows = page.locator("#cameras tbody tr")
        shown = [await rows.nth(i).get_attribute("data-camera")
                 for i in range(await rows.count())]  # fmt: skip
        assert shown == NEAREST_FIRST
        await page.locator("#cameras-heading").scroll_into_view_if_needed()
        await page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot, SHOT)
