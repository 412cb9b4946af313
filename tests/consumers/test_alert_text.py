"""Alert text: Dutch by default, English on request, every vocabulary fully translated."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest

from consumers.alert_text import (
    BRANCH_TYPE,
    KIND,
    ONE_BRANCH_TYPE,
    SEVERITY,
    UNIT,
    ago,
    basis_text,
    grounds_text,
    summary,
)
from heterdaad.language import Language
from schemas.alerts import (
    AlertKind,
    Area,
    DetectionBasis,
    Lookout,
    SeriesExtent,
    Severity,
    WarningGrounds,
)
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import GetawayMode, ReconBehaviour, Weapon
from tests import factories

# 14:05 in Amsterdam (CET, UTC+1) on 12 March 2025; reported on 5 December 2026.
MARCH_2025 = datetime(2025, 3, 12, 13, 5, tzinfo=UTC)
DECEMBER_2026 = datetime(2026, 12, 5, 14, 23, tzinfo=UTC)


def test_dutch_by_default() -> None:
    alert = factories.alert(severity=Severity.CRITICAL, branch_types_at_risk=[BranchType.JEWELLER],
                            occurred_at=DECEMBER_2026 - timedelta(minutes=3),
                            created_at=DECEMBER_2026)  # fmt: skip
    assert summary(alert, now=DECEMBER_2026) == (
        "[ZEER URGENT] Overval gemeld · eenheid Amsterdam · bij Amsterdam, binnen 2,0 km "
        "(52.3731, 4.8926)"
        " · let op: juweliers · gebeurd 05-12-2026 15:20 (3 min geleden), gemeld 05-12-2026 15:23"
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [("nl", " · reeks van 327 overvallen sinds 12-03-2025; de nieuwste 50 uitgewerkt · gebeurd"),
     ("en", " · series of 327 robberies since 2025-03-12; the newest 50 detailed · happened")],
)
def test_a_series_too_large_to_list_says_how_large_it_is(
    language: Language, expected: str
) -> None:
    # Its evidence names the newest 50 members only (docs/series-linkage.md, "Bounded").
    extent = SeriesExtent(members=327, listed=50, first_occurred_at=MARCH_2025,
                          last_occurred_at=DECEMBER_2026)  # fmt: skip
    alert = factories.alert(kind=AlertKind.SERIES, series_extent=extent)
    assert expected in summary(alert, language)
    whole = extent.model_copy(update={"members": 4, "listed": 4})
    assert "327" not in summary(factories.alert(kind=AlertKind.SERIES, series_extent=whole))


def test_english_selectable() -> None:
    alert = factories.alert(branch_types_at_risk=[BranchType.SUPERMARKET])
    assert summary(alert, "en").startswith("[high] Robbery reported · unit Amsterdam")
    assert "at risk: supermarkets · happened " in summary(alert, "en")


@pytest.mark.parametrize(
    ("language", "expected"),
    [("nl", " · let op: juweliers · gewapend: vuurwapen, mes of steekwapen · uitkijken naar: "
            "2 daders · gebeurd"),
     ("en", " · at risk: jewellers · armed: firearm, knife or stabbing weapon · look out for: "
            "2 offenders · happened")],
)
def test_a_weapon_seen_is_in_the_line(language: Language, expected: str) -> None:
    # Officers going there read it first (a stranger's: weapons reached no text); "no weapon
    # seen" is no reason to say "armed".
    weapons = [Weapon.FIREARM, Weapon.KNIFE, Weapon.NONE]
    alert = factories.alert(branch_types_at_risk=[BranchType.JEWELLER],
                            lookout=Lookout(weapons=weapons, offender_count=2))  # fmt: skip
    assert expected in summary(alert, language)
    unarmed = factories.alert(lookout=Lookout(weapons=[Weapon.NONE]))
    assert "gewapend" not in summary(unarmed)


@pytest.mark.parametrize(
    ("weapons", "language", "said"),
    [
        # A hand in a pocket: nobody saw a weapon, so the line is not sure they were armed.
        ([Weapon.SUGGESTED], "nl", " · mogelijk gewapend (wapen gesuggereerd, niet gezien) · "),
        ([Weapon.SUGGESTED], "en", " · possibly armed (weapon suggested, not seen) · "),
        # A knife seen and another weapon suggested: armed, the suggested one as uncertain.
        ([Weapon.KNIFE, Weapon.SUGGESTED], "nl",
         " · gewapend: mes of steekwapen (en een wapen gesuggereerd, niet gezien) · "),
        ([Weapon.KNIFE, Weapon.SUGGESTED], "en",
         " · armed: knife or stabbing weapon (and a weapon suggested, not seen) · "),
    ],
)  # fmt: skip
def test_a_weapon_only_suggested_is_not_said_to_arm_them(
    weapons: list[Weapon], language: Language, said: str
) -> None:
    # The line read "gewapend: wapen gesuggereerd": certain, where the report was not.
    alert = factories.alert(lookout=Lookout(weapons=weapons, offender_count=1))
    line = summary(alert, language)
    assert said in line
    assert "gewapend: wapen" not in line and "armed: weapon" not in line


DAM = (52.3731, 4.8926)


@pytest.mark.parametrize(
    ("center", "area", "language", "expected"),
    [
        # A webhook's reader (a shop employee) knows towns, not coordinates; the coordinates
        # stay beside the name.
        (DAM, "circle", "nl", " · bij Amsterdam, binnen 2,0 km (52.3731, 4.8926) · "),
        (DAM, "circle", "en", " · near Amsterdam, within 2.0 km (52.3731, 4.8926) · "),
        # A village says its municipality, the name on the town hall and the police's maps.
        ((52.3390, 4.7800), "circle", "nl", " · bij Badhoevedorp (gem. Haarlemmermeer), binnen "),
        ((52.3390, 4.7800), "circle", "en", " · near Badhoevedorp (Haarlemmermeer), within "),
        # A hotspot's cells had no place at all in the line.
        ((52.4380, 4.8260), "cells", "nl", " · eenheid Amsterdam · bij Zaandam (gem. Zaanstad) · "),
    ],
)  # fmt: skip
def test_the_line_names_the_place(
    center: tuple[float, float], area: str, language: Language, expected: str
) -> None:
    lat, lon = center
    shape = {"radius_m": 2000} if area == "circle" else {"cells": ["8a1969ce1627fff"]}
    alert = factories.alert(area=Area(center=Location(lat=lat, lon=lon), **shape))
    assert expected in summary(alert, language)


ROBBERY_LOOKOUT = Lookout(
    offender_count=2, weapons=[Weapon.KNIFE], getaway_mode=GetawayMode.SCOOTER,
    vehicle_make="Vespa", vehicle_colour="zwart",
    clothing=["zwarte jas", "spijkerbroek", "witte sneakers", "rugzak"],
)  # fmt: skip


@pytest.mark.parametrize(
    ("lookout", "kind", "language", "expected"),
    [
        # What a shop employee can recognise, in words: how many, what they wore (the first
        # three descriptions), how they fled; only the view's JSON said it before.
        (ROBBERY_LOOKOUT, AlertKind.ROBBERY_REPORTED, "nl",
         " · gewapend: mes of steekwapen · uitkijken naar: 2 daders; zwarte jas, spijkerbroek, "
         "witte sneakers; scooter Vespa zwart · gebeurd "),
        (ROBBERY_LOOKOUT, AlertKind.ROBBERY_REPORTED, "en",
         " · armed: knife or stabbing weapon · look out for: 2 offenders; zwarte jas, "
         "spijkerbroek, witte sneakers; scooter Vespa zwart · happened "),
        (Lookout(offender_count=1, getaway_mode=GetawayMode.ON_FOOT), AlertKind.ROBBERY_REPORTED,
         "nl", " · uitkijken naar: 1 dader; te voet · "),
        (Lookout(getaway_mode=GetawayMode.UNKNOWN, vehicle_colour="wit"), AlertKind.SERIES, "en",
         " · look out for: wit · "),
        # Without grounds (a warning has its behaviours there), behaviours are what to look for.
        (Lookout(behaviours=[ReconBehaviour.FILMS_ENTRANCE], getaway_mode=GetawayMode.CAR,
                 vehicle_make="Audi A4"), AlertKind.RECONNAISSANCE_WARNING, "nl",
         " · uitkijken naar: filmt de ingang; auto Audi A4 · "),
    ],
)  # fmt: skip
def test_the_line_says_what_to_look_out_for(
    lookout: Lookout, kind: AlertKind, language: Language, expected: str
) -> None:
    alert = factories.alert(kind=kind, lookout=lookout)
    assert expected in summary(alert, language)
    assert "uitkijken" not in summary(factories.alert(lookout=Lookout()))


def test_the_line_masks_a_plate_typed_into_a_description() -> None:
    # Branches read the line: a pseudonym still links records about one person.
    clothing = [f"jas, kenteken {factories.PLATE_PSEUDONYM}"]
    line = summary(factories.alert(lookout=Lookout(clothing=clothing)))
    assert factories.PLATE_PSEUDONYM not in line
    assert "uitkijken naar: jas, kenteken **-**-** · " in line


def test_history_says_when_it_happened_and_that_it_is_history() -> None:
    alert = factories.alert(severity=Severity.MEDIUM, historical=True, occurred_at=MARCH_2025,
                            created_at=DECEMBER_2026)  # fmt: skip
    dutch = summary(alert, now=DECEMBER_2026)
    assert dutch.startswith("[middel · historie] Overval gemeld")
    assert dutch.endswith("gebeurd 12-03-2025 14:05 (21 maanden geleden), gemeld 05-12-2026 15:23")
    # English dates are ISO, as the digest writes them: 12-03-2025 reads as 3 December in the US.
    english = summary(alert, "en", now=DECEMBER_2026)
    assert english.endswith("happened 2025-03-12 14:05 (21 months ago), reported 2026-12-05 15:23")


def test_alert_without_event_time_says_unknown() -> None:
    alert = factories.alert(occurred_at=None, created_at=DECEMBER_2026)
    assert summary(alert, now=DECEMBER_2026).endswith("gebeurd onbekend, gemeld 05-12-2026 15:23")


@pytest.mark.parametrize(
    ("seconds", "dutch", "english"),
    [
        (-90, "zojuist", "just now"),  # ahead of our clock by allowed skew
        (30, "zojuist", "just now"),
        (90, "90 s geleden", "90 s ago"),
        (45 * 60, "45 min geleden", "45 min ago"),
        (5 * 3600, "5 uur geleden", "5 h ago"),
        (6 * 86400, "6 dagen geleden", "6 days ago"),
        (400 * 86400, "13 maanden geleden", "13 months ago"),
        (700 * 86400, "23 maanden geleden", "23 months ago"),
        (4 * 365.25 * 86400, "4 jaar geleden", "4 years ago"),
    ],
)
def test_ago(seconds: float, dutch: str, english: str) -> None:
    moment = DECEMBER_2026 - timedelta(seconds=seconds)
    assert (ago(moment, DECEMBER_2026), ago(moment, DECEMBER_2026, "en")) == (dutch, english)


@pytest.mark.parametrize(
    ("table", "members"),
    [
        (KIND, AlertKind),  # every alert kind has a name
        (SEVERITY, Severity),  # every severity has a word
        (BRANCH_TYPE, BranchType),  # every branch type can be warned
        (ONE_BRANCH_TYPE, BranchType),  # and named, one branch of it
    ],
)
def test_every_member_in_both_languages(
    table: dict[StrEnum, dict[str, str]], members: type[StrEnum]
) -> None:
    for member in members:
        assert set(table[member]) == {"nl", "en"}


def test_every_unit_named() -> None:
    assert set(UNIT) == set(PoliceUnit)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "grond: model series-20261205-ab12cd34ef56, kans 93%; drempel gekozen voor "
               "hoogstens 1 valse reeksmelding per 30 dagen bij 1.000 overvallen per jaar"),
        ("en", "rests on: model series-20261205-ab12cd34ef56, probability 93%; threshold chosen "
               "for at most 1 false series alert per 30 days at 1,000 robberies a year"),
    ],
)  # fmt: skip
def test_a_series_alert_names_its_model_probability_and_calibration(
    language: Language, expected: str
) -> None:
    basis = DetectionBasis(
        model_version="series-20261205-ab12cd34ef56", probability=0.9312,
        calibrated_to="at most 1 false series alert(s) per 30 days at 1000 robberies a year",
    )  # fmt: skip
    alert = factories.alert(kind=AlertKind.SERIES, series_id="S-1", basis=basis)
    assert expected in summary(alert, language)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "hoogstens 0,5 valse reeksmeldingen per 30 dagen bij 1.200 overvallen per jaar"),
        ("en", "at most 0.5 false series alerts per 30 days at 1,200 robberies a year"),
    ],
)
def test_a_series_rate_in_the_readers_notation_and_plural(
    language: Language, expected: str
) -> None:
    # The statement on the wire is technical English ("alert(s)", "0.5"); the line said
    # "0.5 valse reeksmelding(en)" in Dutch, as a form would.
    basis = DetectionBasis(
        model_version="series-x", probability=0.9,
        calibrated_to="at most 0.5 false series alert(s) per 30 days at 1200 robberies a year",
    )  # fmt: skip
    assert basis_text(basis, language).endswith(expected)


@pytest.mark.parametrize(
    ("basis", "language", "line"),
    [
        # A reconnaissance warning: the probability that a robbery follows.
        (DetectionBasis(model_version="recon-evidence/2", probability=0.341), "nl",
         "model recon-evidence/2, kans 34%"),
        (DetectionBasis(model_version="recon-evidence/2", probability=0.341), "en",
         "model recon-evidence/2, probability 34%"),
        # Links as strong as a shared plate: near certain, never said to be certain.
        (DetectionBasis(model_version="series-x", probability=0.9996), "nl",
         "model series-x, kans >99%"),
        (DetectionBasis(model_version="series-x", probability=0.004), "en",
         "model series-x, probability <1%"),
        # A hotspot: how often chance alone would give it.
        (DetectionBasis(model_version="hotspot-scan/1", recurrence_days=249.6), "nl",
         "model hotspot-scan/1, bij toeval eens per 250 dagen"),
        (DetectionBasis(model_version="hotspot-scan/1", recurrence_days=249.6), "en",
         "model hotspot-scan/1, by chance once in 250 days"),
        # The series stage without a fitted model: its id 'hand-set' read as English in Dutch.
        (DetectionBasis(model_version="hand-set", probability=0.9), "nl",
         "handmatig ingesteld model, kans 90%"),
        (DetectionBasis(model_version="hand-set", probability=0.9), "en",
         "hand-set model, probability 90%"),
    ],
)  # fmt: skip
def test_the_basis_in_one_short_line(
    basis: DetectionBasis, language: Language, line: str
) -> None:
    assert basis_text(basis, language) == line
    alert = factories.alert(kind=AlertKind.HOTSPOT, basis=basis)
    assert summary(alert, language).count(line) == 1


@pytest.mark.parametrize(
    ("nearby", "language", "said"),
    [
        (1, "nl", "2 winkels, dezelfde personen, 1 soortgelijke melding bij zo'n winkel in de "
                  "buurt;"),
        (3, "nl", "2 winkels, dezelfde personen, 3 soortgelijke meldingen bij zulke winkels in de "
                  "buurt;"),
        (1, "en", "2 shops, the same people, 1 similar sighting at such a shop nearby;"),
        (3, "en", "2 shops, the same people, 3 similar sightings at such shops nearby;"),
    ],
)  # fmt: skip
def test_the_grounds_count_in_words_not_as_a_form(
    nearby: int, language: Language, said: str
) -> None:
    # The line read "zelfde dader(s)" and "1 soortgelijke melding(en)", as a form would.
    grounds = WarningGrounds(score=9.0, threshold=8.0, false_warnings_per_100=3.0,
                             branches=2, nearby_sightings=nearby)  # fmt: skip
    text = grounds_text(grounds, language)
    assert said in text
    assert "(s)" not in text and "(en)" not in text


def test_clothing_worn_by_two_is_said_once() -> None:
    # The demo's line read 'blauwe jas, grijs trainingspak, grijs trainingspak': the lookout
    # lists each offender's clothing, and two wore the same.
    lookout = Lookout(clothing=["blauwe jas", "grijs trainingspak", "Grijs trainingspak",
                                "rugzak", "pet"])  # fmt: skip
    line = summary(factories.alert(lookout=lookout))
    assert "uitkijken naar: blauwe jas, grijs trainingspak, rugzak · " in line


def test_no_phrase_of_the_line_writes_a_plural_as_a_form() -> None:
    # 'melding(en)', 'dader(s)', 'reeksmelding(en)': the line counts in words instead.
    from consumers.alert_text import _PHRASES

    for key, languages in _PHRASES.items():
        for text in languages.values():
            assert re.search(r"\w\((s|en|len|n)\)", text) is None, key


@pytest.mark.parametrize(
    ("rate", "language", "said"),
    [
        (0.0, "nl", "(drempel 6,0; <0,1 valse per 100 meldingen)"),
        (0.04, "en", "(threshold 6.0; <0.1 false per 100 sightings)"),
        (0.5, "nl", "(drempel 6,0; ~0,5 valse per 100 meldingen)"),
    ],
)
def test_a_false_rate_that_rounds_to_nothing_is_not_said_to_be_nothing(
    rate: float, language: Language, said: str
) -> None:
    # The demo's line read '~0,0 valse per 100 meldingen' at a score of 10,0.
    grounds = WarningGrounds(score=10.0, threshold=6.0, false_warnings_per_100=rate)
    assert said in grounds_text(grounds, language)
