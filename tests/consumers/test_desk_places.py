"""Cards and detail name the branch, its chain, street address, place and unit, when it happened,
and a series' robberies with their dates: registered with the org CLI, read through the desk's
routes with Kafka and PostgreSQL behind them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from consumers.alert_text import local_time
from consumers.sink import store
from schemas.alerts import AlertKind, Area, EvidenceLink, LinkReason, Severity
from schemas.common import Address, BranchType, Location
from schemas.events import AlarmSite
from tests import factories
from tests.consumers.test_desk import logged_in, served_desk, users
from tests.consumers.test_desk_labels import visible_text

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from schemas.events import IncidentReport

pytestmark = pytest.mark.integration

AMSTERDAM_TIME = ZoneInfo("Europe/Amsterdam")
DAMSTRAAT = Location(lat=52.3729, lon=4.8936)
AMSTELVEEN = Location(lat=52.3030, lon=4.8600)
DIEMEN = Location(lat=52.3400, lon=4.9600)


def org(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`heterdaad org …` in a process of its own, on the test's schema."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    env |= {"HETERDAAD_DATABASE_URL": settings.database_url,
            "HETERDAAD_DATABASE_SCHEMA": settings.database_schema}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "org", *arguments],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def register(settings: Settings, *arguments: str) -> None:
    done = org(settings, *arguments)
    assert done.returncode == 0, done.stderr


def words(page: str) -> str:
    """The page's visible text with its white space collapsed."""
    return " ".join(visible_text(page).split())


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def series_link(report: IncidentReport, earlier: IncidentReport) -> EvidenceLink:
    # As streams/series_scoring links them: the later report, linked with an earlier one.
    return EvidenceLink(
        event_id=report.event_id, event_type="incident_report", occurred_at=report.occurred_at,
        reasons=[LinkReason(feature="linked_with", value=str(earlier.event_id), contribution=0)],
    )  # fmt: skip


async def test_cards_and_detail_name_branch_address_place_unit_and_series(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    register(settings, "create", "buurtsuper", "Buurtsuper BV", "--role", "retailer")
    register(settings, "create", "pac-noord", "PAC Noord", "--role", "alarm_centre")
    refused = org(settings, "branch", "buurtsuper", "bs-0099", "supermarket", "52.37", "4.89",
                  "--address", "Damstraat 1 Amsterdam")  # fmt: skip
    assert refused.returncode == 2 and "--address" in refused.stderr
    # A point outside the contract's box (Paris) is a usage error too, not a traceback.
    paris = org(settings, "branch", "buurtsuper", "bs-0098", "supermarket", "48.85", "2.35")
    assert paris.returncode == 2 and "LAT LON" in paris.stderr and "Traceback" not in paris.stderr
    branches = [
        ("bs-0042", DAMSTRAAT, "Damstraat 1, 1012 JL Amsterdam"),
        ("bs-0107", AMSTELVEEN, "Stadsplein 5, 1181 ZM Amstelveen"),
        ("bs-0230", DIEMEN, "Diemerplein 9, 1111 JA Diemen"),
    ]
    for branch_id, where, address in branches:
        register(settings, "branch", "buurtsuper", branch_id, "supermarket", str(where.lat),
                 str(where.lon), "--chain", "Buurtsuper", "--address", address)  # fmt: skip
    register(settings, "alarm-site", "site-0042", "pac-noord", "4711", "--branch-id", "bs-0042")

    hold_up = factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL, site_id="site-0042",
        area=Area(center=DAMSTRAAT, radius_m=1000), occurred_at=datetime.now(UTC)
        - timedelta(minutes=12),
    )  # fmt: skip
    # A robbery at a branch nobody registered: its report carries the branch as given.
    unregistered = factories.branch(
        branch_id="cbl-7781", chain="Vershoek", branch_type=BranchType.SUPERMARKET,
        location=Location(lat=52.3600, lon=4.9000),
        address=Address(street="Weesperstraat 20", postcode="1018 DN", city="Amsterdam"),
    )  # fmt: skip
    report = factories.incident_report(branch=unregistered, occurred_at=_days_ago(0.1))
    robbery = factories.alert(
        area=Area(center=unregistered.location, radius_m=2000), occurred_at=report.occurred_at,
        evidence=[EvidenceLink(event_id=report.event_id, event_type="incident_report")],
    )  # fmt: skip
    # One without an address: the nearest place names it, once.
    unaddressed = factories.branch(branch_id="cbl-7782", chain="Vershoek", location=DIEMEN)
    bare_report = factories.incident_report(branch=unaddressed, occurred_at=_days_ago(0.2))
    bare_robbery = factories.alert(
        area=Area(center=DIEMEN, radius_m=2000), occurred_at=bare_report.occurred_at,
        evidence=[EvidenceLink(event_id=bare_report.event_id, event_type="incident_report")],
    )  # fmt: skip
    members = [
        factories.incident_report(branch=factories.branch(branch_id=branch_id, location=where),
                                  occurred_at=_days_ago(days))
        for (branch_id, where, _), days in zip(branches, (9, 5, 2), strict=True)
    ]  # fmt: skip
    first, second, third = members
    series = factories.alert(
        kind=AlertKind.SERIES, series_id="S-AMS-0042", area=Area(center=DIEMEN, radius_m=3000),
        occurred_at=third.occurred_at,
        evidence=[series_link(third, second), series_link(second, first)],
    )  # fmt: skip
    for model in (report, bare_report, *members, hold_up, robbery, bare_robbery, series):
        await store(db, model)

    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        listing = (await client.get("/")).text
        hold_up_page = words((await client.get(f"/alerts/{hold_up.alert_id}")).text)
        series_page = words((await client.get(f"/alerts/{series.alert_id}")).text)

    def card_text(alert_id: uuid.UUID) -> str:
        match = re.search(rf'<li id="alert-{alert_id}".*?</li>', listing, re.DOTALL)
        assert match is not None, alert_id
        return words(f"<body>{match[0]}")

    assert hold_up.occurred_at is not None
    held_up = card_text(hold_up.alert_id)
    assert "Buurtsuper (supermarkt), Damstraat 1, 1012 JL Amsterdam" in held_up
    assert "Amsterdam · Eenheid Amsterdam" in held_up
    assert f"Gebeurd {local_time(hold_up.occurred_at)} (12 min geleden)" in held_up
    assert "52,37" not in held_up and "52.37" not in held_up  # words, not coordinates

    assert "Vershoek (supermarkt), Weesperstraat 20, 1018 DN Amsterdam" in card_text(
        robbery.alert_id
    )

    bare = card_text(bare_robbery.alert_id)
    assert "Vershoek (supermarkt), bij Diemen" in bare and bare.count("Diemen") == 1, bare

    in_series = card_text(series.alert_id)
    dates = [f"{member.occurred_at.astimezone(AMSTERDAM_TIME):%d-%m-%Y}" for member in members]
    assert (
        f"Reeks van 3: {dates[0]} Amsterdam; {dates[1]} Amstelveen; {dates[2]} Diemen" in in_series
    )

    assert "Filiaal Buurtsuper (supermarkt), Damstraat 1, 1012 JL Amsterdam" in hold_up_page
    assert "Plaats Amsterdam" in hold_up_page and "Eenheid Amsterdam" in hold_up_page
    assert "(12 min geleden)" in hold_up_page
    table = series_page[series_page.index("Overvallen in deze reeks") :]
    rows = [
        f"{local_time(member.occurred_at)} ({days} dagen geleden) "
        f"Buurtsuper (supermarkt), {address} {address.rsplit(' ', 1)[1]}"
        for member, days, (_, _, address) in zip(members, (9, 5, 2), branches, strict=True)
    ]
    assert " ".join(rows) in table, table


async def test_evidence_names_a_branch_as_the_branch_row_does_not_by_its_id(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    # A sighting at a shop of no chain, registered by the trade association under its own id.
    shop = factories.branch(
        branch_id="zelfstandig-01313", chain=None, branch_type=BranchType.JEWELLER,
        location=AMSTELVEEN,
        address=Address(street="Stadsplein 5", postcode="1181 ZM", city="Amstelveen"),
    )  # fmt: skip
    sighting = factories.recon_sighting(branch=shop, observed_at=_days_ago(1))
    warning = factories.alert(
        kind=AlertKind.RECONNAISSANCE_WARNING, severity=Severity.MEDIUM,
        area=Area(center=AMSTELVEEN, radius_m=2000), occurred_at=sighting.observed_at,
        evidence=[EvidenceLink(
            event_id=sighting.event_id, event_type="recon_sighting",
            occurred_at=sighting.observed_at,
            reasons=[LinkReason(feature="nearby_sighting", value=shop.branch_id, contribution=0)],
        )],
    )  # fmt: skip
    for model in (sighting, warning):
        await store(db, model)

    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = words((await client.get(f"/alerts/{warning.alert_id}")).text)

    # The evidence read 'melding in de buurt zelfstandig-01313': an id, and another
    # organisation's at that.
    assert "melding in de buurt Juwelier, Stadsplein 5, 1181 ZM Amstelveen" in page, page
    assert "zelfstandig-01313" not in page


def _without_references(page: str) -> tuple[str, str]:
    """The page without its references section, and that section."""
    match = re.search(r'<details class="references" id="references">.*?</details>', page,
                      re.DOTALL)  # fmt: skip
    assert match is not None, page
    return page[: match.start()] + page[match.end() :], match[0]


async def test_evidence_is_named_by_time_branch_and_what_its_ids_only_in_the_references(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """An officer reads evidence by what happened where and when; the page listed it by event
    id, and named the series and the alarm site by their ids ('deltaveilig-000749')."""
    await users(db)
    shop = factories.branch(
        branch_id="cbl-7781", chain="Vershoek", branch_type=BranchType.SUPERMARKET,
        location=Location(lat=52.3600, lon=4.9000),
        address=Address(street="Weesperstraat 20", postcode="1018 DN", city="Amsterdam"),
    )  # fmt: skip
    report = factories.incident_report(branch=shop, occurred_at=_days_ago(0.1))
    site = AlarmSite(
        site_id="deltaveilig-000749", location=DAMSTRAAT, branch_type=BranchType.JEWELLER,
        chain="Goudsmid",
        address=Address(street="Kalverstraat 1", postcode="1012 NX", city="Amsterdam"),
    )  # fmt: skip
    press = factories.alarm_activation(site=site, occurred_at=_days_ago(0.05))
    series_id = str(uuid.uuid4())
    robbery = factories.alert(
        area=Area(center=shop.location, radius_m=2000), occurred_at=report.occurred_at,
        site_id=site.site_id, series_id=series_id,
        evidence=[
            EvidenceLink(event_id=report.event_id, event_type="incident_report",
                         occurred_at=report.occurred_at),
            # As verify_alarms links a press: how far apart in time, not when.
            EvidenceLink(event_id=press.event_id, event_type="alarm_activation", time_gap_s=0),
        ],
    )  # fmt: skip
    for model in (report, press, robbery):
        await store(db, model)

    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        dutch = (await client.get(f"/alerts/{robbery.alert_id}?lang=nl")).text
        english = (await client.get(f"/alerts/{robbery.alert_id}?lang=en")).text

    ids = [str(report.event_id), str(press.event_id), series_id, site.site_id]
    for page, (report_line, press_line, in_series) in (
        (dutch, ("Vershoek (supermarkt), Weesperstraat 20, 1018 DN Amsterdam Incidentmelding: "
                 "overval", "Goudsmid (juwelier), Kalverstraat 1, 1012 NX Amsterdam "
                 "Alarmering: overvalknop", "Reeks onderdeel van een reeks")),
        (english, ("Vershoek (supermarket), Weesperstraat 20, 1018 DN Amsterdam Incident "
                   "report: robbery", "Goudsmid (jeweller), Kalverstraat 1, 1012 NX Amsterdam "
                   "Alarm activation: hold-up button", "Series part of a series")),
    ):  # fmt: skip
        language: Language = "nl" if page is dutch else "en"
        primary, references = _without_references(page)
        text = words(primary)
        for moment, line in ((report.occurred_at, report_line), (press.occurred_at, press_line)):
            when = re.escape(local_time(moment, language))
            assert re.search(rf"{when} \([^)]*\) {re.escape(line)}", text), (line, text)
        assert in_series in text, text
        for identifier in ids:
            assert identifier not in primary, identifier
            assert f'<code class="ref">{identifier}</code>' in references, identifier
        assert f'<code class="ref">{robbery.alert_id}</code>' in references
    references = words(f"<body>{_without_references(dutch)[1]}")
    assert "Referenties" in references and "Alarmlocatie deltaveilig-000749" in references
    line = f"{local_time(report.occurred_at)} · Incidentmelding: overval: {report.event_id}"
    assert line in references, references
    assert "<summary>References</summary>" in _without_references(english)[1]
