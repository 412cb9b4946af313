"""The desk on a phone (390 px wide) in headless Chromium: no sideways scrolling, the header
wraps with "Uitloggen" in reach, and a row arriving live takes its place by what needs action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from consumers.desk import DeskThresholds
from consumers.sink import store
from schemas.alerts import AlertKind, Severity
from tests import factories
from tests.consumers.test_desk import publish_alerts, served_desk, users
from tests.consumers.test_desk_browser import (
    a_shift_of_alerts,
    keep_screenshot,
    playwright_api,
    register_the_shift,
    signed_in_page,
)

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["playwright_api"]  # the fixture, imported to be used here

PHONE = {"width": 390, "height": 844}


async def fits_the_screen(page: Any) -> None:
    """Nothing scrolls sideways, and the log-out button lies on the screen and is visible."""
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert max(widths[:2]) <= widths[2] == PHONE["width"], widths
    log_out = page.get_by_role("button", name="Uitloggen")
    assert await log_out.is_visible()
    box = await log_out.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


async def live_order(page: Any) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(
        "#alerts > li", "rows => rows.map(row => row.id.replace('alert-', ''))"
    )
    return ids


async def test_phone_layout_and_live_order(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, playwright_api: Any
) -> None:
    await users(db)
    seeded = await register_the_shift(db, a_shift_of_alerts())
    for alert in seeded:
        await store(db, alert)
    hold_up, series = seeded[0], seeded[1]
    # A robbery arriving live: critical, so above every "high" alert, but below the hold-up.
    robbery = factories.alert(kind=AlertKind.ROBBERY_REPORTED, severity=Severity.CRITICAL)
    thresholds = DeskThresholds(escalation_check_seconds=0.2)
    shot = tmp_path / "desk-phone.png"
    async with (
        served_desk(settings, thresholds=thresholds) as base_url,
        playwright_api.async_playwright() as playwright,
        signed_in_page(
            playwright, base_url, viewport=PHONE, device_scale_factor=2,
            before_login=fits_the_screen_login,
        ) as page,
    ):
        await page.wait_for_selector("#live:not(.off)")
        await page.wait_for_selector(f"#alert-{hold_up.alert_id}.state-escalated")
        await fits_the_screen(page)
        header = await page.locator("header.bar").bounding_box()
        assert header is not None and header["width"] <= PHONE["width"], header

        await publish_alerts(settings, robbery)
        await page.wait_for_selector(f"#alert-{robbery.alert_id}")
        order = await live_order(page)
        assert order[:2] == [str(hold_up.alert_id), str(robbery.alert_id)], order
        await fits_the_screen(page)
        await page.screenshot(path=str(shot))

        # Acknowledged, the hold-up leaves the top for the alerts nobody has taken yet.
        await page.click(f"#alert-{hold_up.alert_id} button.ack")
        await page.wait_for_selector(f"#alert-{hold_up.alert_id}.state-acknowledged")
        order = await live_order(page)
        open_rows = await page.eval_on_selector_all(
            "#alerts > li.state-open", "rows => rows.map(row => row.id.replace('alert-', ''))"
        )
        assert order[0] == str(robbery.alert_id), order
        assert order.index(str(hold_up.alert_id)) > max(map(order.index, open_rows)), order

        # The detail of a series: its evidence table stacks instead of scrolling.
        await page.goto(f"{base_url}/alerts/{series.alert_id}")
        await page.wait_for_selector("table.evidence")
        await fits_the_screen(page)
    keep_screenshot(shot, "desk-phone.png")


async def fits_the_screen_login(page: Any) -> None:
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
