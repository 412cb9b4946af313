"""The desk's list names a series, a hotspot and a silence in words, as the detail page names
evidence: the tags say how many robberies and where, the silenced line what a silence mutes,
who set it and until when. The ids stay in title attributes and the detail's references."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.alert_text import local_time
from consumers.notify.silences import Matcher, create_silence
from consumers.sink import store
from schemas.alerts import AlertKind, Area, SeriesExtent, Severity
from schemas.common import Location
from tests import factories
from tests.consumers.test_desk import _desk_row, logged_in, served_desk, users
from tests.consumers.test_desk_places import words

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

KALVERSTRAAT = Location(lat=52.3720, lon=4.8925)
SITE = "deltaveilig-000749"


def card_html(page: str, alert_id: uuid.UUID) -> str:
    match = re.search(rf'<li id="alert-{alert_id}".*?</li>', page, re.DOTALL)
    assert match is not None, alert_id
    return match[0]


async def _registry(db: asyncpg.Connection) -> None:
    """An alarm centre, a jeweller's branch with its alarm site, the Amsterdam police."""
    await db.execute(
        "INSERT INTO organisation (organisation_id, name, role, police_unit) VALUES "
        "('pac-noord', 'Alarmcentrale Noord', 'alarm_centre', NULL), "
        "('goudsmid', 'Goudsmid BV', 'retailer', NULL), "
        "('politie-ams', 'Politie Amsterdam', 'police', 'amsterdam')"
    )
    await db.execute(
        "INSERT INTO branch (branch_id, organisation_id, chain, branch_type, lat, lon, street, "
        "postcode, city) VALUES ('gs-1', 'goudsmid', 'Goudsmid', 'jeweller', $1, $2, "
        "'Kalverstraat 1', '1012 NX', 'Amsterdam')",
        KALVERSTRAAT.lat, KALVERSTRAAT.lon,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO alarm_site (site_id, alarm_centre, subscriber_account, branch_id) "
        "VALUES ($1, 'pac-noord', '000749', 'gs-1')",
        SITE,
    )


async def test_the_list_names_series_hotspot_and_silence_in_words_not_by_their_ids(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    await _registry(db)
    now = datetime.now(UTC)
    until = now + timedelta(hours=3)
    # The alarm centre silences its site's verified alarms over maintenance.
    by_centre = await create_silence(
        db, [Matcher(name="site_id", value=SITE), Matcher(name="kind", value="verified_alarm")],
        author="pac-noord", reason="alarmpaneel in onderhoud", ends_at=until,
    )  # fmt: skip
    # A desk coordinator silences one series' robbery alerts for the night.
    series_id = str(uuid.uuid4())
    by_person = await create_silence(
        db, [Matcher(name="series_id", value=series_id)],
        author="ams.coordinator", reason="bekend, in onderzoek", ends_at=until,
    )  # fmt: skip
    verified = factories.alert(
        kind=AlertKind.VERIFIED_ALARM, severity=Severity.CRITICAL, site_id=SITE,
        area=Area(center=KALVERSTRAAT, radius_m=500),
    )  # fmt: skip
    series = factories.alert(
        kind=AlertKind.SERIES, series_id=series_id, area=Area(center=KALVERSTRAAT, radius_m=3000),
        series_extent=SeriesExtent(members=3, listed=3, first_occurred_at=now - timedelta(days=9),
                                   last_occurred_at=now - timedelta(days=2)),
    )  # fmt: skip
    hotspot_id = "hs-ams-7f3a9c"
    hotspot = factories.alert(
        kind=AlertKind.HOTSPOT, hotspot_id=hotspot_id, severity=Severity.MEDIUM,
        area=Area(center=Location(lat=52.3600, lon=4.8852), radius_m=800),
    )  # fmt: skip
    for alert in (verified, series, hotspot):
        await store(db, alert)
    await _desk_row(db, verified, "muted", f"silence {by_centre.silence_id}")
    await _desk_row(db, series, "muted", f"silence {by_person.silence_id}")

    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        dutch = (await client.get("/?lang=nl")).text
        english = (await client.get("/?lang=en")).text
        detail = (await client.get(f"/alerts/{verified.alert_id}?lang=nl")).text

    expected = {
        "nl": {
            "series": "Reeks · 3 overvallen",
            "hotspot": "Hotspot · bij Amsterdam, straal 800 m",
            "verified": "Gedempt: stilte op geverifieerd overvalalarm bij Goudsmid (juwelier), "
            "Kalverstraat 1, 1012 NX Amsterdam (alarmpaneel in onderhoud), ingesteld door "
            f"Alarmcentrale Noord, tot {local_time(until, 'nl')}; getoond, niet verstuurd",
            "series_muted": "Gedempt: stilte op deze reeks (bekend, in onderzoek), ingesteld "
            f"door ams.coordinator (Politie Amsterdam), tot {local_time(until, 'nl')}",
        },
        "en": {
            "series": "Series · 3 robberies",
            "hotspot": "Hotspot · near Amsterdam, radius 800 m",
            "verified": "Silenced: a silence on verified hold-up alarm at Goudsmid (jeweller), "
            "Kalverstraat 1, 1012 NX Amsterdam (alarmpaneel in onderhoud), set by Alarmcentrale "
            f"Noord, until {local_time(until, 'en')}; shown, not sent",
            "series_muted": "Silenced: a silence on this series (bekend, in onderzoek), set by "
            f"ams.coordinator (Politie Amsterdam), until {local_time(until, 'en')}",
        },
    }
    for language, page in (("nl", dutch), ("en", english)):
        said = expected[language]
        series_card = card_html(page, series.alert_id)
        series_text = words(f"<body>{series_card}</body>")
        assert said["series"] in series_text, series_text
        assert said["series_muted"] in series_text, series_text
        hotspot_card = card_html(page, hotspot.alert_id)
        hotspot_text = words(f"<body>{hotspot_card}</body>")
        assert said["hotspot"] in hotspot_text, hotspot_text
        verified_card = card_html(page, verified.alert_id)
        verified_text = words(f"<body>{verified_card}</body>")
        assert said["verified"] in verified_text, verified_text
        # The ids are no visible text, but reachable: each in its tag's or line's title.
        for identifier in (series_id, str(by_person.silence_id)):
            assert identifier not in series_text
            assert f"{identifier}\"" in series_card
        assert hotspot_id not in hotspot_text and f'{hotspot_id}"' in hotspot_card
        for identifier in (str(by_centre.silence_id), SITE, "pac-noord"):
            assert identifier not in verified_text, identifier
        assert f'{by_centre.silence_id}"' in verified_card
    # The detail page says the same and keeps the silence's id among its references.
    assert expected["nl"]["verified"] in words(detail)
    assert f'<code class="ref">{by_centre.silence_id}</code>' in detail


async def test_a_silence_whose_row_is_gone_is_said_without_its_id(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    silence = uuid.uuid4()
    alert = factories.alert()
    await store(db, alert)
    await _desk_row(db, alert, "muted", f"silence {silence}")
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        dutch = card_html((await client.get("/?lang=nl")).text, alert.alert_id)
        english = card_html((await client.get("/?lang=en")).text, alert.alert_id)
    assert "Gedempt door een stilte: getoond, niet verstuurd" in words(f"<body>{dutch}</body>")
    assert "Silenced by a silence: shown, not sent" in words(f"<body>{english}</body>")
    for card in (dutch, english):
        assert str(silence) not in words(f"<body>{card}</body>")
        assert f'{silence}"' in card


async def test_an_inhibited_alert_names_the_alert_covering_it_in_words_not_by_its_key(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """It read 'Gedempt: valt onder melding hold_up:deltaveilig-000749:1', notify's dedup key:
    now the covering alert's kind, branch and time in Dutch time; the key only in the line's
    title and the detail's references."""
    await users(db)
    await _registry(db)
    key = f"hold_up:{SITE}:1"
    pressed = datetime.now(UTC) - timedelta(minutes=30)
    hold_up = factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL, site_id=SITE,
        area=Area(center=KALVERSTRAAT, radius_m=500), dedup_key=key, occurred_at=pressed,
    )  # fmt: skip
    covered = factories.alert(area=Area(center=KALVERSTRAAT, radius_m=2000))
    # Covered by a key no stored alert of the unit has: said without the key.
    unknown = factories.alert(area=Area(center=KALVERSTRAAT, radius_m=2000))
    for alert in (hold_up, covered, unknown):
        await store(db, alert)
    await _desk_row(db, covered, "muted", f"inhibited by {key}")
    await _desk_row(db, unknown, "muted", "inhibited by hold_up:site-7")
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        pages = {language: (await client.get(f"/?lang={language}")).text
                 for language in ("nl", "en")}  # fmt: skip
        detail = (await client.get(f"/alerts/{covered.alert_id}?lang=nl")).text
    expected = {
        "nl": ("Gedempt: valt onder de melding overval gaande bij Goudsmid (juwelier), "
               f"Kalverstraat 1, 1012 NX Amsterdam van {local_time(pressed, 'nl')}; getoond, "
               "niet verstuurd",
               "Gedempt: valt onder een andere melding; getoond, niet verstuurd",
               f'title="Dempende melding {key}"'),
        "en": ("Silenced: covered by the alert hold-up in progress at Goudsmid (jeweller), "
               f"Kalverstraat 1, 1012 NX Amsterdam from {local_time(pressed, 'en')}; shown, "
               "not sent",
               "Silenced: covered by another alert; shown, not sent",
               f'title="Covering alert {key}"'),
    }  # fmt: skip
    for language, (said, said_unknown, title) in expected.items():
        card = card_html(pages[language], covered.alert_id)
        text = words(f"<body>{card}</body>")
        assert said in text, text
        assert key not in text and SITE not in text
        assert title in card
        other = card_html(pages[language], unknown.alert_id)
        other_text = words(f"<body>{other}</body>")
        assert said_unknown in other_text and "site-7" not in other_text, other_text
    # The detail page says the same and keeps the key among its references.
    assert expected["nl"][0] in words(detail)
    assert f'Dempende melding</dt><dd><code class="ref">{key}</code>' in detail
