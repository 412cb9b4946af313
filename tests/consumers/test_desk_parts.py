"""The desk's parts without a broker or database: passwords, fan-out, words, map, events."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from consumers.alert_text import summary
from consumers.desk import DeskThresholds
from consumers.desk.alerts import AlertCard, Outcome
from consumers.desk.basemap import (
    ABOVE,
    BELOW,
    MapPlace,
    _labels,
    base_map,
    label_box,
    places,
    project,
)
from consumers.desk.labels import FEATURE, VALUE, feature, value
from consumers.desk.live import Fanout, StreamEnded
from consumers.desk.passwords import hash_password, token_hash, verify_password
from consumers.desk.places import BranchFacts
from consumers.desk.stream import sse
from consumers.desk.texts import EVENT_TYPE, OUTCOME, PHRASES, STATE, Words, distance
from schemas.alerts import AlertKind, Area, DetectionBasis, Lookout, Severity, WarningGrounds
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import Build, GetawayMode, HeightBand, ReconBehaviour
from tests import factories

if TYPE_CHECKING:
    from consumers.desk.alerts import Change
    from heterdaad.language import Language

DAM = factories.DAM_SQUARE


def card(unit: PoliceUnit = PoliceUnit.AMSTERDAM) -> AlertCard:
    if unit is PoliceUnit.AMSTERDAM:
        return AlertCard.of(factories.alert())
    center = Location(lat=51.9244, lon=4.4690)  # Rotterdam Centraal
    return AlertCard.of(factories.alert(police_unit=unit, area=Area(center=center, radius_m=900)))


# --- passwords ------------------------------------------------------------------------------


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$16384$8$1$") and first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)


@pytest.mark.parametrize(
    "stored",
    [
        "",  # empty column
        "sha256$abc",  # another scheme
        "scrypt$16384$8$1$onlysalt",  # a part missing
        "scrypt$x$8$1$c2FsdA$a2V5",  # not a number
    ],
)
def test_malformed_hash_matches_nothing(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_session_token_is_stored_as_sha256() -> None:
    assert len(token_hash("token")) == 64 and token_hash("token") != "token"


# --- fan-out --------------------------------------------------------------------------------


async def test_fanout_hands_events_to_the_streams_of_their_unit_only() -> None:
    fanout = Fanout()
    with (
        fanout.subscribe(PoliceUnit.AMSTERDAM, None) as amsterdam,
        fanout.subscribe(PoliceUnit.ROTTERDAM, None) as rotterdam,
    ):
        ours = card()
        fanout.publish("alert", card(PoliceUnit.ROTTERDAM))
        fanout.publish("alert", ours)
        event = await amsterdam.next(1)
        assert event is not None and event.card is ours
        assert await amsterdam.next(0.01) is None  # nothing else for Amsterdam
        other = await rotterdam.next(1)
        assert other is not None and other.card.police_unit is PoliceUnit.ROTTERDAM


async def test_fanout_resumes_after_a_position_and_refuses_what_it_cannot() -> None:
    fanout = Fanout(backlog=3)
    before = fanout.position
    changes: list[Change] = ["alert", "acknowledged"]
    for change in changes:
        fanout.publish(change, card())
    with fanout.subscribe(PoliceUnit.AMSTERDAM, before) as stream:
        replayed = [await stream.next(1), await stream.next(1)]
        assert [event.change for event in replayed if event] == changes
    for after in [
        "another:1",  # another instance, or this one before a restart
        f"{fanout.instance}:99",  # a position from the future
        f"{fanout.instance}:x",  # not a position
    ]:
        with pytest.raises(StreamEnded, match="unknown position"):
            fanout.subscribe(PoliceUnit.AMSTERDAM, after).__enter__()
    for _ in range(3):
        fanout.publish("alert", card())
    with pytest.raises(StreamEnded, match="backlog exceeded"):
        fanout.subscribe(PoliceUnit.AMSTERDAM, before).__enter__()


async def test_a_stream_too_far_behind_or_closed_ends() -> None:
    fanout = Fanout(per_stream=2)
    with fanout.subscribe(PoliceUnit.AMSTERDAM, None) as stream:
        for _ in range(3):
            fanout.publish("alert", card())
        with pytest.raises(StreamEnded, match="overflow"):
            await stream.next(1)
    with fanout.subscribe(PoliceUnit.AMSTERDAM, None) as stream:
        waiting = asyncio.create_task(stream.next(30))
        fanout.close()
        with pytest.raises(StreamEnded, match="closing"):
            await waiting


# --- words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        PHRASES,  # every phrase of the pages
        STATE,  # every state of an alert
        OUTCOME,  # every outcome of resolving
        EVENT_TYPE,  # every kind of linked event
    ],
)
def test_every_word_in_dutch_and_english(table: dict[object, dict[str, str]]) -> None:
    for key, languages in table.items():
        assert set(languages) == {"nl", "en"}, key
        assert all(text.strip() for text in languages.values()), key


# A plural written as a form: 'overval(len)', 'hold-up(s)', 'melding(en)'.
FORM_PLURAL = re.compile(r"\w\((s|en|len|n)\)")


def test_no_phrase_writes_a_plural_as_a_form() -> None:
    # The escalation banner read '1 overval(len) gaande niet binnen 120 seconden bevestigd'.
    for key, languages in PHRASES.items():
        for text in languages.values():
            assert FORM_PLURAL.search(text) is None, key
    one = Words("nl")("escalation_banner_one", seconds=120)
    many = Words("nl")("escalation_banner", count=2, seconds=120)
    assert one.startswith("1 overval gaande") and many.startswith("2 overvallen gaande")


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_desk_says_reported_as_the_alert_line_does(language: Language) -> None:
    # 'Gemeld' read "Raised" on the English desk and "reported" in the English alert line
    # and webhooks: one word for the moment an alert was reported, in both languages.
    alert_line = summary(factories.alert(), language)
    line_word = {"nl": "gemeld", "en": "reported"}[language]
    assert f", {line_word} " in alert_line
    assert PHRASES["reported"][language] == line_word.capitalize()
    assert f" · {line_word.capitalize()} " in Words(language).when(card())


@pytest.mark.parametrize(
    ("lookout", "language", "text"),
    [
        # A sighting's vehicle read 'wit' alone under 'Uitkijken naar': its kind comes first,
        # with make and colour, as the vehicles list says one.
        (Lookout(getaway_mode=GetawayMode.CAR, vehicle_colour="wit"), "nl", "Auto wit"),
        (Lookout(getaway_mode=GetawayMode.SCOOTER, vehicle_make="Piaggio", vehicle_colour="wit"),
         "en", "Scooter Piaggio wit"),
        (Lookout(getaway_mode=GetawayMode.ON_FOOT), "nl", "Te voet"),
        (Lookout(getaway_mode=GetawayMode.UNKNOWN, vehicle_colour="wit"), "nl", "wit"),
        (Lookout(vehicle_colour="wit"), "nl", "wit"),  # an alert from before kinds were kept
        (Lookout(), "nl", ""),
    ],
)  # fmt: skip
def test_the_vehicle_to_look_out_for_names_its_kind(
    lookout: Lookout, language: Language, text: str
) -> None:
    assert Words(language).lookout_vehicle(lookout) == text


def _facts(branch_id: str, chain: str | None, branch_type: BranchType | None) -> BranchFacts:
    return BranchFacts(branch_id=branch_id, chain=chain, branch_type=branch_type,
                       street="Wilhelminastraat 46", postcode="1981 KA", city="Aalsmeer",
                       lat=52.26, lon=4.76)  # fmt: skip


@pytest.mark.parametrize(
    ("branch", "language", "text"),
    [
        # A shop of no chain read 'zelfstandig-00749 (juwelier)', the alarm site of the same
        # shop 'deltaveilig-000749 (juwelier)': the registering party's or the alarm centre's
        # own numbers. The kind and the address say which shop it is.
        (_facts("zelfstandig-00749", None, BranchType.JEWELLER), "nl",
         "Juwelier, Wilhelminastraat 46, 1981 KA Aalsmeer"),
        (_facts("deltaveilig-000749", None, BranchType.JEWELLER), "en",
         "Jeweller, Wilhelminastraat 46, 1981 KA Aalsmeer"),
        (_facts("zelfstandig-00750", None, None), "nl", "Wilhelminastraat 46, 1981 KA Aalsmeer"),
        # A chain's branch is named by its chain, as before.
        (_facts("bs-0042", "Buurtsuper", BranchType.SUPERMARKET), "nl",
         "Buurtsuper (supermarkt), Wilhelminastraat 46, 1981 KA Aalsmeer"),
    ],
)  # fmt: skip
def test_a_branch_is_named_by_its_chain_or_kind_never_its_id(
    branch: BranchFacts, language: Language, text: str
) -> None:
    assert Words(language).branch(branch) == text


def test_every_outcome_has_words() -> None:
    assert set(OUTCOME) == set(Outcome)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),  # not known
        (42.4, "42 s"),  # under two minutes: seconds
        (600, "10 min"),  # under two hours: minutes
        (3 * 3600, "3,0 uur"),  # longer: hours, with a decimal comma
        (-90, "-90 s"),  # an event before the alert's first one
    ],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert Words("nl").duration(seconds) == text


def test_clock_says_the_time_yesterday_or_the_date() -> None:
    now, words = datetime.now(UTC), Words("nl")
    assert re.fullmatch(r"\d\d:\d\d:\d\d", words.clock(now))
    assert words.clock(now - timedelta(days=1)).startswith("gisteren ")
    assert Words("en").clock(now - timedelta(days=1)).startswith("yesterday ")
    assert re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d", words.clock(now - timedelta(days=3)))
    # English dates are ISO, as in the English alert texts and the digest
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", Words("en").clock(now - timedelta(days=3)))
    assert words.clock(None) == ""


def test_a_height_band_reads_as_a_length_in_both_languages() -> None:
    assert Words("nl").term(HeightBand.FROM_180_TO_195) == "1,80 - 1,95 m"
    assert Words("en").term(HeightBand.FROM_180_TO_195) == "1.80 - 1.95 m"
    assert Words("en").term(Build.SLIM) == "slim"
    # as a bare value in a link reason, too
    assert value("180_195", "en") == "1.80 - 1.95 m"


def test_a_moment_kept_for_later_has_its_date_even_today() -> None:
    now = datetime(2026, 1, 3, 16, 25, 51, tzinfo=UTC)
    assert Words("nl").moment(now) == "03-01-2026 17:25"
    assert Words("en").moment(now) == "2026-01-03 17:25"


@pytest.mark.parametrize(
    ("metres", "language", "text"),
    [
        (None, "nl", "-"),  # not known
        (850.4, "nl", "850 m"),  # under a kilometre: whole metres
        (3000, "nl", "3,0 km"),  # a decimal comma in Dutch
        (12_345, "nl", "12,3 km"),
        (2500, "en", "2.5 km"),  # a decimal point in English
    ],
)
def test_distances(metres: float | None, language: Language, text: str) -> None:
    assert distance(metres, language) == text


def test_headline_falls_back_to_the_columns_once_the_payload_is_purged() -> None:
    purged = AlertCard.of(factories.alert(kind=AlertKind.HOTSPOT))
    purged = AlertCard(**{**purged.__dict__, "alert": None})
    assert Words("nl").headline(purged) == "[urgent] Hotspot · bij Amsterdam · Eenheid Amsterdam"


def _stage_features() -> set[str]:
    """Every feature name the stages write, read from their source."""
    source = "\n".join(path.read_text() for path in Path("streams").glob("*.py"))
    patterns = [
        r'feature="([a-z_]+)"',  # LinkReason(feature="...")
        r'similarity\["([a-z_]+)"\]',
        r'FeatureScore\(\s*"([a-z_]+)"',
        r'_(?:agree|similar)\(features, "([a-z_]+)"',
        r'"(height|build|clothing|face_covering|language)": t\.',  # offender attributes
    ]
    found = {name for pattern in patterns for name in re.findall(pattern, source)}
    roles = re.search(r"Role = Literal\[([^\]]+)\]", Path("streams/alarm_state.py").read_text())
    assert roles is not None
    return found | set(re.findall(r'"([a-z_]+)"', roles[1]))


def test_every_evidence_feature_has_dutch_and_english_words() -> None:
    features = _stage_features()
    assert {"press", "incident_report", "time_gap_days", "same_branch", "p_value"} <= features
    assert features - set(FEATURE) == set()
    assert feature("press", "nl") == "druk op de knop"
    assert feature("incident_report", "en") == "incident report"


def test_every_word_the_stages_write_as_a_value_has_dutch_and_english_words() -> None:
    # A plate compared between two sightings read "kenteken equal +6,00" on a Dutch page (a
    # stranger's): the words a stage writes into LinkReason.value are read from its source.
    source = "\n".join(path.read_text() for path in Path("streams").glob("*.py"))
    words = set(re.findall(r'value="([a-z_ ]+)"', source))
    words |= set(re.findall(r'value="[a-z_ ]+" if [^\n]*? else "([a-z_ ]+)"', source))
    assert {"equal", "different", "noted", "other staff"} <= words
    assert words - set(VALUE) == set()
    assert value("equal", "nl") == "gelijk" and value("noted", "nl") == "gezien"


@pytest.mark.parametrize(
    ("raw", "language", "text"),
    [
        (None, "nl", "-"),  # no value
        ("same", "nl", "zelfde"),  # a word of the stages
        ("hold_up", "nl", "overvalknop"),  # an alarm signal
        ("at_closing", "nl", "bij sluiting"),  # a modus operandi, as the intake form says it
        ("telecom_shop", "nl", "telecomwinkels"),  # a branch type
        ("at_closing", "en", "at closing"),
        (2.5, "nl", "2,50"),  # a decimal comma
        (2.5, "en", "2.50"),
        (1441.0, "nl", "1.441"),  # thousands grouped the Dutch way
        ("S-AMS-0712", "nl", "S-AMS-0712"),  # an id as it is
        # A hotspot's p-value of 0.001 read "0,00", as if certain: small values keep two
        # significant digits, and below 0.0001 say so.
        (0.001, "nl", "0,001"),
        (0.001, "en", "0.001"),
        (0.0049, "nl", "0,0049"),
        (0.00999, "nl", "0,01"),
        (0.00001, "nl", "< 0,0001"),
        (0.00001, "en", "< 0.0001"),
        (-0.002, "en", "-0.002"),
        (0.0, "nl", "0"),
    ],
)
def test_reason_values_in_words(raw: float | str | None, language: Language, text: str) -> None:
    assert value(raw, language) == text


# --- map ------------------------------------------------------------------------------------


def test_every_unit_has_places_and_a_frame_around_them() -> None:
    found = places()
    assert len(found) > 1000
    for unit in PoliceUnit:
        assert any(place.unit is unit for place in found), unit
    left, top, width, height = map(float, base_map(PoliceUnit.AMSTERDAM).view_box.split())
    x, y = project(DAM.lat, DAM.lon)
    assert left < x < left + width and top < y < top + height
    # Amsterdam's frame is a city, not the country.
    assert width < 200 and height < 200


@pytest.mark.parametrize("unit", list(PoliceUnit))
def test_the_sketchs_names_do_not_run_into_each_other(unit: PoliceUnit) -> None:
    # Amsterdam's ten largest places lie within 15 km: the offline sketch's names crowded
    # each other (a stranger's). No two names' boxes meet, and none is cut by the frame.
    sketch = base_map(unit)
    left, top, width, height = map(float, sketch.view_box.split())
    boxes = [label_box(label, sketch.label_size) for label in sketch.labels]
    for i, box in enumerate(boxes):
        assert left <= box[0] and box[2] <= left + width, sketch.labels[i]
        assert top <= box[1] and box[3] <= top + height, sketch.labels[i]
        for j, other in enumerate(boxes[:i]):
            apart = box[2] <= other[0] or other[2] <= box[0] or box[3] <= other[1] \
                or other[3] <= box[1]  # fmt: skip
            assert apart, (sketch.labels[i].name, sketch.labels[j].name)
    # Still a map with names: the city and most of its neighbours.
    assert len(sketch.labels) >= 8 and sketch.labels[0].name != ""


def test_a_name_with_no_room_above_its_place_goes_below_or_is_left_out() -> None:
    size = 2.0
    town, twin, third = (
        MapPlace(name, 50.0, 50.0, population, PoliceUnit.AMSTERDAM)
        for name, population in (("Stad", 3), ("Dorp", 2), ("Gehucht", 1))
    )
    labels = _labels([town, twin, third], size, (0.0, 0.0, 100.0, 100.0))
    assert [(label.name, label.y) for label in labels] == [
        ("Stad", 50.0), ("Dorp", 50.0 + (ABOVE + BELOW) * size)
    ]  # fmt: skip
    # Near the frame's edge a name that would be cut is left out.
    assert _labels([town], size, (49.0, 0.0, 100.0, 100.0)) == ()


def test_the_sketch_names_den_haag_in_dutch() -> None:
    names = {label.name for label in base_map(PoliceUnit.DEN_HAAG).labels}
    assert "Den Haag" in names and "The Hague" not in names


# --- events ---------------------------------------------------------------------------------


def test_an_event_is_one_data_line_whatever_the_html() -> None:
    text = sse("alert", {"html": "<li>\n<p>twee regels</p>\n</li>"}, event_id="abc:1")
    assert text.endswith("\n\n")
    lines = text.strip().split("\n")
    assert lines[:2] == ["event: alert", "id: abc:1"]
    assert json.loads(lines[2].removeprefix("data: "))["html"].count("\n") == 2


def test_order_key_puts_what_needs_action_first() -> None:
    # The key the page places live rows by; the page's query sorts the same way (test_desk_order).
    now = datetime.now(UTC)
    hold_up = AlertKind.HOLD_UP_IN_PROGRESS

    def made(minutes: float, **fields: object) -> AlertCard:
        moment = now - timedelta(minutes=minutes)
        return AlertCard.of(factories.alert(created_at=moment, occurred_at=moment, **fields))

    escalated = replace(made(9, kind=hold_up), escalated_at=now)
    open_hold_up = made(8, kind=hold_up, severity=Severity.HIGH)
    critical = made(7, severity=Severity.CRITICAL)
    high_newer, high_older = made(1, severity=Severity.HIGH), made(2, severity=Severity.HIGH)
    low = made(0, severity=Severity.LOW)
    acknowledged = replace(made(0, kind=hold_up), acknowledged_at=now)
    resolved = replace(acknowledged, resolved_at=now)
    wanted = [escalated, open_hold_up, critical, high_newer, high_older, low]
    wanted += [acknowledged, resolved]
    assert sorted(reversed(wanted), key=lambda card: card.order) == wanted


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("", None),  # no tiles: the offline sketch only
        ("https://tiles.example/{z}/{x}/{y}.png", None),
        ("ftp://tiles.example/{z}/{x}/{y}.png", "http(s)"),  # not a web address
        ("https://tiles.example/{z}/{x}.png", "{y}"),  # not an XYZ template
    ],
)
def test_tile_source_is_an_xyz_web_template(url: str, refused: str | None) -> None:
    if refused is None:
        assert DeskThresholds(tile_url=url).tile_url == url
    else:
        with pytest.raises(ValidationError, match=re.escape(refused)):
            DeskThresholds(tile_url=url)


def test_default_tiles_are_pdok_brt_achtergrondkaart() -> None:
    assert DeskThresholds().tile_url.startswith(
        "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/"
    )


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("nl", "vraagt naar geld, voertuig gezien; score 7,0 (drempel 6,0; ~0,5 valse per 100 "
               "meldingen); model recon-evidence/2, kans op een overval 34%"),
        ("en", "asks about cash, vehicle noted; score 7.0 (threshold 6.0; ~0.5 false per 100 "
               "sightings); model recon-evidence/2, chance of a robbery 34%"),
    ],
)  # fmt: skip
def test_the_desk_says_what_a_warning_rests_on_as_the_line_does(
    language: Language, said: str
) -> None:
    # 'Grond: model recon-evidence/2, kans 34%' did not say of what, nor on which behaviours.
    grounds = WarningGrounds(score=7.0, threshold=6.0, false_warnings_per_100=0.5,
                             behaviours=[ReconBehaviour.ASKS_ABOUT_CASH], vehicle=True)  # fmt: skip
    basis = DetectionBasis(model_version="recon-evidence/2", probability=0.34)
    alert = factories.alert(kind=AlertKind.RECONNAISSANCE_WARNING, grounds=grounds, basis=basis)
    assert Words(language).basis(alert) == said
    model = DetectionBasis(model_version="series-x", probability=0.9)
    series = factories.alert(kind=AlertKind.SERIES, series_id="S-1", basis=model)
    assert Words("nl").basis(series) == "model series-x, kans 90%"
