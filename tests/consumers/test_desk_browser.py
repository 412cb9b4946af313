"""End to end in headless Chromium: log in, watch a hold-up arrive live, acknowledge it.

Needs Debian's chromium (`apt-get install chromium`) and Playwright for Python, without
Playwright's own browser download. HETERDAAD_SCREENSHOT_DIR=docs/img also writes the desk's
screenshot for the README there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from consumers.desk import DeskThresholds
from consumers.notify.silences import Matcher, create_silence
from consumers.sink import store
from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, LinkReason, Lookout, Severity
from schemas.common import Address, Branch, BranchType, Location
from schemas.events import GetawayMode, ModusOperandi, ReconBehaviour
from tests import factories
from tests.consumers.test_desk import AMS_USER, PASSWORD, publish_alerts, served_desk, users
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    import asyncpg

    from heterdaad.settings import Settings
    from schemas.events import IncidentReport

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("HETERDAAD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = "desk.png"


def _ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def _at(lat: float, lon: float, radius_m: float) -> Area:
    return Area(center=Location(lat=lat, lon=lon), radius_m=radius_m)


def _link(
    kind: Literal["alarm_activation", "incident_report"],
    distance_m: float,
    gap_s: float,
    reasons: list[tuple[str, str, float]],
) -> EvidenceLink:
    return EvidenceLink(
        event_id=uuid.uuid4(),
        event_type=kind,
        distance_m=distance_m,
        time_gap_s=gap_s,
        similarity={feature: min(1.0, weight / 2.5) for feature, _, weight in reasons},
        reasons=[LinkReason(feature=f, value=v, contribution=c) for f, v, c in reasons],
    )


def a_shift_of_alerts() -> list[Alert]:
    """What an Amsterdam desk might show in an evening: a series, a hotspot, a recon warning."""
    series = "S-AMS-0712"
    telecom = [BranchType.TELECOM_SHOP]
    return [
        factories.alert(
            kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL,
            area=_at(52.3396, 4.8730, 1000), site_id="site-zuid-114",
            branch_types_at_risk=[BranchType.JEWELLER], created_at=_ago(3),
            evidence=[_link("alarm_activation", 0, 0, [("signal", "hold_up", 2.5)])],
        ),
        factories.alert(
            kind=AlertKind.SERIES, severity=Severity.HIGH, area=_at(52.3114, 4.8701, 2500),
            series_id=series, branch_types_at_risk=telecom, created_at=_ago(25),
            lookout=Lookout(
                modus_operandi=[ModusOperandi.AT_CLOSING, ModusOperandi.THREATENED_STAFF],
                getaway_mode=GetawayMode.SCOOTER, vehicle_colour="zwart",
                clothing=["donkere jas", "bivakmuts"],
            ),
            evidence=[
                _link("incident_report", 4120, 2 * 86400, [
                    ("modus_operandi", "at_closing", 2.1), ("getaway", "scooter", 1.3),
                    ("branch_type", "telecom_shop", 0.9),
                ]),
                _link("incident_report", 2650, 5 * 86400, [
                    ("modus_operandi", "threatened_staff", 1.8), ("vehicle", "hp1:k1:ab…", 2.4),
                ]),
            ],
        ),
        factories.alert(
            kind=AlertKind.ROBBERY_REPORTED, severity=Severity.HIGH,
            area=_at(52.3585, 4.7995, 3000), series_id=series, branch_types_at_risk=telecom,
            created_at=_ago(70),
        ),
        factories.alert(
            kind=AlertKind.ROBBERY_REPORTED, severity=Severity.HIGH,
            area=_at(52.3680, 4.8560, 3000), series_id=series, branch_types_at_risk=telecom,
            created_at=_ago(190),
        ),
        factories.alert(
            kind=AlertKind.HOTSPOT, severity=Severity.MEDIUM, area=_at(52.3124, 4.9536, 1200),
            hotspot_id="H-AMS-3", branch_types_at_risk=[BranchType.SUPERMARKET],
            created_at=_ago(130),
        ),
        factories.alert(
            kind=AlertKind.RECONNAISSANCE_WARNING, severity=Severity.LOW,
            area=_at(52.3397, 4.9625, 800), branch_types_at_risk=[BranchType.PETROL_STATION],
            lookout=Lookout(behaviours=[ReconBehaviour.FILMS_CAMERAS]), created_at=_ago(240),
        ),
    ]  # fmt: skip


# Where the shift's alerts happened: registered branches with their addresses (fictitious shops
# in real streets), so the cards name them as a coordinator would see them.
SHIFT_SITES = {
    "site-zuid-114": ("jw-0114", "Goudsmid", BranchType.JEWELLER, (52.3396, 4.8730),
                      "Parnassusweg 114", "1077 DC"),
    "site-noord-031": ("bs-0031", "Buurtsuper", BranchType.SUPERMARKET, (52.3886, 4.9186),
                       "Buikslotermeerplein 31", "1025 ET"),
}  # fmt: skip
# The series' robberies, oldest first: the first at the series' centre, then the two robbery
# alerts' own branches (each days ago).
SERIES_SHOPS = [
    ("tc-0051", (52.3114, 4.8701), "Stadsplein 51", "1181 ZM", "Amstelveen", 9),
    ("tc-0207", (52.3585, 4.7995), "Pieter Calandlaan 207", "1069 KG", "Amsterdam", 5),
    ("tc-0233", (52.3680, 4.8560), "Kinkerstraat 233", "1053 EZ", "Amsterdam", 2),
]


async def register_the_shift(db: asyncpg.Connection, shift: list[Alert]) -> list[Alert]:
    """Register the shift's branches and alarm sites, store the series' robbery reports, and
    return the shift with its robbery and series alerts linked to those reports."""
    from producers.api import admin

    await admin.create_organisation(db, "winkels", "Winkels BV", "retailer")
    await admin.create_organisation(db, "pac", "Alarmcentrale", "alarm_centre")
    for number, (site_id, (branch_id, chain, kind, (lat, lon), street, postcode)) in enumerate(
        SHIFT_SITES.items()
    ):
        await admin.create_branch(db, "winkels", Branch(
            branch_id=branch_id, chain=chain, branch_type=kind,
            location=Location(lat=lat, lon=lon),
            address=Address(street=street, postcode=postcode, city="Amsterdam"),
        ))  # fmt: skip
        await admin.create_alarm_site(db, site_id, "pac", f"10{number}", branch_id=branch_id)
    reports = []
    for branch_id, (lat, lon), street, postcode, city, days in SERIES_SHOPS:
        shop = Branch(
            branch_id=branch_id, chain="Belwinkel", branch_type=BranchType.TELECOM_SHOP,
            location=Location(lat=lat, lon=lon),
            address=Address(street=street, postcode=postcode, city=city),
        )  # fmt: skip
        await admin.create_branch(db, "winkels", shop)
        report = factories.incident_report(branch=shop, occurred_at=_ago(days * 24 * 60))
        await store(db, report)
        reports.append(report)
    first, second, third = reports
    series = shift[1]
    newer, older = series.evidence
    linked = [
        _linked(newer, third, second),
        _linked(older, second, first),
    ]
    robbery_at = {2: second, 3: third}
    return [
        series.model_copy(update={"evidence": linked}) if index == 1
        else alert.model_copy(update={
            "evidence": [EvidenceLink(event_id=robbery_at[index].event_id,
                                      event_type="incident_report")],
            "occurred_at": robbery_at[index].occurred_at,
        }) if index in robbery_at
        else alert
        for index, alert in enumerate(shift)
    ]  # fmt: skip


def _linked(link: EvidenceLink, report: IncidentReport, earlier: IncidentReport) -> EvidenceLink:
    reason = LinkReason(feature="linked_with", value=str(earlier.event_id), contribution=0.0)
    return link.model_copy(
        update={"event_id": report.event_id, "occurred_at": report.occurred_at,
                "reasons": [*link.reasons, reason]}
    )  # fmt: skip


@pytest.fixture
def playwright_api() -> Any:
    """Playwright's async API, driving Debian's chromium (no browser download)."""
    # Both are installed by .ci/run and infra/test.sh: a browser test that skips tests nothing.
    assert CHROMIUM.exists(), f"no {CHROMIUM}: apt-get install chromium"
    import playwright.async_api

    return playwright.async_api


@contextlib.asynccontextmanager
async def signed_in_page(
    playwright: Any,
    base_url: str,
    *,
    viewport: dict[str, int],
    device_scale_factor: float = 1,
    before_login: Callable[[Any], Awaitable[None]] | None = None,
) -> AsyncIterator[Any]:
    """A Chromium page on the desk, signed in as the Amsterdam coordinator; closed afterwards."""
    browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        page = await browser.new_page(viewport=viewport, device_scale_factor=device_scale_factor)
        await page.goto(f"{base_url}/")
        if before_login is not None:
            await before_login(page)
        await page.fill("#username", AMS_USER)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("#alerts")
        yield page
    finally:
        await browser.close()


def keep_screenshot(shot: Path, name: str = SCREENSHOT) -> None:
    """Copy the screenshot where HETERDAAD_SCREENSHOT_DIR says (docs/img for the README)."""
    if target := os.environ.get("HETERDAAD_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / name)


async def test_live_hold_up_acknowledged_in_a_real_browser(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, playwright_api: Any
) -> None:
    await users(db)
    seeded = await register_the_shift(db, a_shift_of_alerts())
    for alert in seeded:
        await store(db, alert)
    # The recon warning was seen to already; the oldest robbery of the series is closed.
    await db.execute(
        "UPDATE alert SET acknowledged_at = now(), acknowledged_by = 'ams.nachtdienst' "
        "WHERE alert_id = $1",
        seeded[5].alert_id,
    )
    await db.execute(
        "UPDATE alert SET acknowledged_at = now(), acknowledged_by = 'ams.nachtdienst', "
        "resolved_at = now(), resolved_by = 'ams.nachtdienst', outcome = 'handed_over' "
        "WHERE alert_id = $1",
        seeded[3].alert_id,
    )
    # A silence muted one alert for the unit's desk: shown, marked, not hidden (issue 12 item 3).
    silenced = seeded[2]
    silence = await create_silence(
        db, [Matcher(name="dedup_key", value=silenced.dedup_key)], author="ams.nachtdienst",
        reason="dubbele melding", ends_at=datetime.now(UTC) + timedelta(hours=2),
    )  # fmt: skip
    await db.execute(
        "INSERT INTO delivery (dedup_key, recipient, alert_id, channel, state, muted_by, "
        "organisation_id) VALUES ($1, 'politie-ams/desk', $2, 'desk', 'muted', $3, 'politie-ams')",
        silenced.dedup_key, silenced.alert_id, f"silence {silence.silence_id}",
    )  # fmt: skip
    # A quick sweep, so the three-minute-old hold-up shows escalated as soon as the page opens.
    thresholds = DeskThresholds(escalation_check_seconds=0.2)
    live = factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL,
        area=_at(52.3886, 4.9186, 1000), site_id="site-noord-031",
        branch_types_at_risk=[BranchType.SUPERMARKET],
    )  # fmt: skip

    shot = tmp_path / SCREENSHOT
    async with (
        served_desk(settings, thresholds=thresholds) as base_url,
        playwright_api.async_playwright() as playwright,
        signed_in_page(playwright, base_url, viewport={"width": 1440, "height": 900}) as page,
    ):
        await page.wait_for_selector("#live:not(.off)")  # the stream is open
        await page.wait_for_selector(f"#alert-{seeded[0].alert_id}.state-escalated")
        assert await page.is_visible("#escalation")
        # One hold-up in the singular; the banner read '1 overval(len) gaande', as a form.
        banner = await page.inner_text("#escalation")
        assert banner.startswith("1 overval gaande niet binnen"), banner
        muted = page.locator(f"#alert-{silenced.alert_id} .muted")
        assert await muted.is_visible()
        # What the silence mutes, why, by whom and until when; its id only in the title.
        said = await muted.inner_text()
        assert said.startswith("Gedempt: stilte op deze melding (dubbele melding), ingesteld "
                               "door ams.nachtdienst"), said  # fmt: skip
        assert str(silence.silence_id) not in said
        assert str(silence.silence_id) in (await muted.get_attribute("title") or "")

        await publish_alerts(settings, live)
        row = f"#alert-{live.alert_id}"
        await page.wait_for_selector(f"{row}.state-open")
        assert "Overval gaande" in await page.inner_text(row)
        assert await page.locator("#areas circle").count() >= 2 * (len(seeded) + 1)

        await page.click(f"{row} button.ack")
        await page.wait_for_selector(f"{row}.state-acknowledged")
        assert "Bevestigd door ams.coordinator" in await page.inner_text(row)
        await page.wait_for_selector("#live:not(.off)")
        await page.screenshot(path=str(shot))

    async def acknowledged() -> str | None:
        by: str | None = await db.fetchval(
            "SELECT acknowledged_by FROM alert WHERE alert_id = $1", live.alert_id
        )
        return by

    assert await eventually(acknowledged, timeout=10) == AMS_USER
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'alert_acknowledged' AND subject = $1",
        str(live.alert_id),
    )
    assert audited == 1
    keep_screenshot(shot)
