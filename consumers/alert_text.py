"""User-facing alert text, Dutch by default and English selectable."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heterdaad.language import Language
from heterdaad.notation import DUTCH_TIME, number
from heterdaad.vocabulary import VEHICLE_LABELS, WEAPON_LABELS, in_language
from schemas.alerts import HAND_SET_VERSION, AlertKind, Outcome, Severity
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import GetawayMode, ReconBehaviour, Weapon
from schemas.geography import nearest_place
from schemas.pseudonym import without_pseudonyms

if TYPE_CHECKING:
    from collections.abc import Sequence

    from schemas.alerts import Alert, DetectionBasis, Lookout, SeriesExtent, WarningGrounds


KIND: dict[AlertKind, dict[Language, str]] = {
    AlertKind.HOLD_UP_IN_PROGRESS: {"nl": "Overval gaande", "en": "Hold-up in progress"},
    AlertKind.VERIFIED_ALARM: {"nl": "Geverifieerd overvalalarm", "en": "Verified hold-up alarm"},
    AlertKind.ROBBERY_REPORTED: {"nl": "Overval gemeld", "en": "Robbery reported"},
    AlertKind.SERIES: {"nl": "Overvalreeks", "en": "Robbery series"},
    AlertKind.HOTSPOT: {"nl": "Hotspot", "en": "Hotspot"},
    AlertKind.RECONNAISSANCE_WARNING: {
        "nl": "Waarschuwing voorverkenning",
        "en": "Reconnaissance warning",
    },
    AlertKind.MODUS_OPERANDI_BULLETIN: {"nl": "Nieuwe werkwijze", "en": "Modus operandi bulletin"},
}

SEVERITY: dict[Severity, dict[Language, str]] = {
    Severity.CRITICAL: {"nl": "ZEER URGENT", "en": "CRITICAL"},
    Severity.HIGH: {"nl": "urgent", "en": "high"},
    Severity.MEDIUM: {"nl": "middel", "en": "medium"},
    Severity.LOW: {"nl": "laag", "en": "low"},
    Severity.INFO: {"nl": "ter info", "en": "info"},
}

BRANCH_TYPE: dict[BranchType, dict[Language, str]] = {
    BranchType.SUPERMARKET: {"nl": "supermarkten", "en": "supermarkets"},
    BranchType.PETROL_STATION: {"nl": "tankstations", "en": "petrol stations"},
    BranchType.SNACK_BAR: {"nl": "snackbars", "en": "snack bars"},
    BranchType.ICE_CREAM_SHOP: {"nl": "ijssalons", "en": "ice-cream shops"},
    BranchType.DRUGSTORE: {"nl": "drogisterijen", "en": "drugstores"},
    BranchType.JEWELLER: {"nl": "juweliers", "en": "jewellers"},
    BranchType.TELECOM_SHOP: {"nl": "telecomwinkels", "en": "telecom shops"},
    BranchType.OPTICIAN: {"nl": "opticiens", "en": "opticians"},
    BranchType.PHARMACY: {"nl": "apotheken", "en": "pharmacies"},
    BranchType.TOBACCONIST: {"nl": "tabakszaken", "en": "tobacconists"},
    BranchType.HORECA: {"nl": "horeca", "en": "hospitality venues"},
    BranchType.BANK: {"nl": "banken", "en": "banks"},
    BranchType.TRANSPORT: {"nl": "transport", "en": "transport"},
    BranchType.MEAL_DELIVERY: {"nl": "maaltijdbezorgers", "en": "meal-delivery riders"},
    BranchType.HOME: {"nl": "woningen", "en": "homes"},
    BranchType.OTHER_RETAIL: {"nl": "overige winkels", "en": "other shops"},
}

# One branch of a kind, for a row that names one (the desk's branch, the digest's robbery of a
# series); BRANCH_TYPE says them in the plural, as those at risk.
ONE_BRANCH_TYPE: dict[BranchType, dict[Language, str]] = {
    BranchType.SUPERMARKET: {"nl": "supermarkt", "en": "supermarket"},
    BranchType.PETROL_STATION: {"nl": "tankstation", "en": "petrol station"},
    BranchType.SNACK_BAR: {"nl": "snackbar", "en": "snack bar"},
    BranchType.ICE_CREAM_SHOP: {"nl": "ijssalon", "en": "ice-cream shop"},
    BranchType.DRUGSTORE: {"nl": "drogisterij", "en": "drugstore"},
    BranchType.JEWELLER: {"nl": "juwelier", "en": "jeweller"},
    BranchType.TELECOM_SHOP: {"nl": "telecomwinkel", "en": "telecom shop"},
    BranchType.OPTICIAN: {"nl": "opticien", "en": "optician"},
    BranchType.PHARMACY: {"nl": "apotheek", "en": "pharmacy"},
    BranchType.TOBACCONIST: {"nl": "tabakszaak", "en": "tobacconist"},
    BranchType.HORECA: {"nl": "horecazaak", "en": "hospitality venue"},
    BranchType.BANK: {"nl": "bank", "en": "bank"},
    BranchType.TRANSPORT: {"nl": "transport", "en": "transport"},
    BranchType.MEAL_DELIVERY: {"nl": "maaltijdbezorger", "en": "meal-delivery rider"},
    BranchType.HOME: {"nl": "woning", "en": "home"},
    BranchType.OTHER_RETAIL: {"nl": "winkel", "en": "shop"},
}

# One incident of each kind (IncidentType's values): a row that lists events names each in the
# singular (the digest's robberies of a series, the desk's evidence).
ONE_INCIDENT_KIND: dict[str, dict[Language, str]] = {
    "overval": {"nl": "overval", "en": "robbery"},
    "poging": {"nl": "poging", "en": "attempted robbery"},
    "woningoverval": {"nl": "woningoverval", "en": "home robbery"},
    "straatroof": {"nl": "straatroof", "en": "street robbery"},
    "ramkraak": {"nl": "ramkraak", "en": "ram raid"},
    "plofkraak": {"nl": "plofkraak", "en": "ATM explosive attack"},
}

OUTCOME: dict[Outcome, dict[Language, str]] = {
    Outcome.ARRESTED: {"nl": "Aangehouden", "en": "Arrested"},
    Outcome.OFFENDERS_GONE: {"nl": "Daders gevlucht", "en": "Offenders gone"},
    Outcome.FALSE_ALARM: {"nl": "Loos alarm", "en": "False alarm"},
    Outcome.HANDED_OVER: {"nl": "Overgedragen aan recherche", "en": "Handed over to detectives"},
    Outcome.NO_ACTION: {"nl": "Geen actie nodig", "en": "No action needed"},
}

UNIT: dict[PoliceUnit, str] = {
    PoliceUnit.NOORD_NEDERLAND: "Noord-Nederland",
    PoliceUnit.OOST_NEDERLAND: "Oost-Nederland",
    PoliceUnit.MIDDEN_NEDERLAND: "Midden-Nederland",
    PoliceUnit.NOORD_HOLLAND: "Noord-Holland",
    PoliceUnit.AMSTERDAM: "Amsterdam",
    PoliceUnit.DEN_HAAG: "Den Haag",
    PoliceUnit.ROTTERDAM: "Rotterdam",
    PoliceUnit.ZEELAND_WEST_BRABANT: "Zeeland-West-Brabant",
    PoliceUnit.OOST_BRABANT: "Oost-Brabant",
    PoliceUnit.LIMBURG: "Limburg",
}

BEHAVIOUR: dict[ReconBehaviour, dict[Language, str]] = {
    ReconBehaviour.ASKS_CLOSING_TIME: {"nl": "vraagt naar sluitingstijd",
                                       "en": "asks about closing time"},
    ReconBehaviour.ASKS_ABOUT_CASH: {"nl": "vraagt naar geld", "en": "asks about cash"},
    ReconBehaviour.FILMS_ENTRANCE: {"nl": "filmt de ingang", "en": "films the entrance"},
    ReconBehaviour.FILMS_CAMERAS: {"nl": "filmt de camera's", "en": "films the cameras"},
    ReconBehaviour.LOITERS_AT_OPENING: {"nl": "hangt rond bij opening",
                                        "en": "loiters at opening"},
    ReconBehaviour.LOITERS_AT_CLOSING: {"nl": "hangt rond bij sluiting",
                                        "en": "loiters at closing"},
    ReconBehaviour.REPEATED_VISITS_NO_PURCHASE: {"nl": "komt terug zonder te kopen",
                                                 "en": "returns without buying"},
    ReconBehaviour.WATCHES_STAFF_ENTRANCE: {"nl": "let op de personeelsingang",
                                            "en": "watches the staff entrance"},
    ReconBehaviour.WAITS_IN_VEHICLE: {"nl": "wacht in een voertuig", "en": "waits in a vehicle"},
}  # fmt: skip

_PHRASES: dict[str, dict[Language, str]] = {
    "unit": {"nl": "eenheid", "en": "unit"},
    "whole_unit": {"nl": "in de hele eenheid", "en": "throughout the unit"},
    "bulletin": {"nl": "werkwijze", "en": "modus operandi"},
    "within": {"nl": "binnen", "en": "within"},
    "at_risk": {"nl": "let op", "en": "at risk"},
    "armed": {"nl": "gewapend", "en": "armed"},
    # Staff saw no weapon, only that one was suggested (a hand in a pocket, a threat): never
    # "armed" outright.
    "maybe_armed": {
        "nl": "mogelijk gewapend (wapen gesuggereerd, niet gezien)",
        "en": "possibly armed (weapon suggested, not seen)",
    },
    "also_suggested": {
        "nl": "en een wapen gesuggereerd, niet gezien",
        "en": "and a weapon suggested, not seen",
    },
    "near": {"nl": "bij", "en": "near"},
    "municipality": {"nl": "{place} (gem. {municipality})", "en": "{place} ({municipality})"},
    "look_out_for": {"nl": "uitkijken naar", "en": "look out for"},
    "offender": {"nl": "1 dader", "en": "1 offender"},
    "offenders": {"nl": "{n} daders", "en": "{n} offenders"},
    "resolved": {"nl": "Afgehandeld", "en": "Resolved"},
    "outcome": {"nl": "uitkomst", "en": "outcome"},
    "history": {"nl": "historie", "en": "history"},
    "happened": {"nl": "gebeurd", "en": "happened"},
    "reported": {"nl": "gemeld", "en": "reported"},
    "unknown": {"nl": "onbekend", "en": "unknown"},
    "rests_on": {"nl": "grond", "en": "rests on"},
    "vehicle_noted": {"nl": "voertuig gezien", "en": "vehicle noted"},
    "repeats": {"nl": "{n}x teruggekomen", "en": "back {n}x"},
    "branches": {"nl": "{n} winkels, dezelfde personen", "en": "{n} shops, the same people"},
    "nearby_one": {
        "nl": "1 soortgelijke melding bij zo'n winkel in de buurt",
        "en": "1 similar sighting at such a shop nearby",
    },
    "nearby": {
        "nl": "{n} soortgelijke meldingen bij zulke winkels in de buurt",
        "en": "{n} similar sightings at such shops nearby",
    },
    "score": {
        "nl": "score {score} (drempel {threshold}; {rate} valse per 100 meldingen)",
        "en": "score {score} (threshold {threshold}; {rate} false per 100 sightings)",
    },
    "basis": {"nl": "model {version}", "en": "model {version}"},
    # The series stage without a fitted model (streams/series_model.HAND_SET_VERSION).
    "hand_set_model": {"nl": "handmatig ingesteld model", "en": "hand-set model"},
    "hand_set": {"nl": "handmatig ingesteld", "en": "hand-set"},
    "probability": {"nl": "kans {p}", "en": "probability {p}"},
    # A reconnaissance warning's probability is that of a robbery following.
    "robbery_probability": {"nl": "kans op een overval {p}", "en": "chance of a robbery {p}"},
    "recurrence": {
        "nl": "bij toeval eens per {days:.0f} dagen",
        "en": "by chance once in {days:.0f} days",
    },
    "series_rate_one": {
        "nl": "drempel gekozen voor hoogstens 1 valse reeksmelding per 30 dagen bij "
        "{volume} overvallen per jaar",
        "en": "threshold chosen for at most 1 false series alert per 30 days at "
        "{volume} robberies a year",
    },
    "series_rate": {
        "nl": "drempel gekozen voor hoogstens {rate} valse reeksmeldingen per 30 dagen bij "
        "{volume} overvallen per jaar",
        "en": "threshold chosen for at most {rate} false series alerts per 30 days at "
        "{volume} robberies a year",
    },
    "series_extent": {
        "nl": "reeks van {members} overvallen sinds {first}; de nieuwste {listed} uitgewerkt",
        "en": "series of {members} robberies since {first}; the newest {listed} detailed",
    },
    "just_now": {"nl": "zojuist", "en": "just now"},
    "ago": {"nl": "{amount} geleden", "en": "{amount} ago"},
    "escalated": {
        "nl": "GEËSCALEERD, {seconds} s niet bevestigd",
        "en": "ESCALATED, not acknowledged for {seconds} s",
    },
}


# (upper bound in seconds, seconds per unit, Dutch unit, English unit); the last is open-ended.
_AGO_UNITS: list[tuple[float, float, str, str]] = [
    (120, 1, "s", "s"),
    (2 * 3600, 60, "min", "min"),
    (2 * 86400, 3600, "uur", "h"),
    (61 * 86400, 86400, "dagen", "days"),
    (2 * 365.25 * 86400, 30.44 * 86400, "maanden", "months"),
    (float("inf"), 365.25 * 86400, "jaar", "years"),
]


# The date as each reader writes it: Dutch dd-mm-jjjj; English ISO, which no reader takes for
# month-first (03-01-2026 is 3 January in Dutch, March 1 to an American), as the digest writes it.
_DATE: dict[Language, str] = {"nl": "%d-%m-%Y", "en": "%Y-%m-%d"}


def local_date(moment: datetime, language: Language = "nl") -> str:
    """The date in Dutch local time: 12-03-2025 in Dutch, 2025-03-12 in English."""
    return moment.astimezone(DUTCH_TIME).strftime(_DATE[language])


def local_time(moment: datetime, language: Language = "nl") -> str:
    """Date and time in Dutch local time: 12-03-2025 14:05, in English 2025-03-12 14:05."""
    return moment.astimezone(DUTCH_TIME).strftime(f"{_DATE[language]} %H:%M")


def ago(moment: datetime, now: datetime, language: Language = "nl") -> str:
    """How long ago, in the largest unit that still reads well ('3 dagen geleden')."""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        # Within a minute, or slightly ahead of our clock (skew the edge allowed).
        return _PHRASES["just_now"][language]
    for bound, per_unit, dutch, english in _AGO_UNITS:
        if seconds < bound:
            unit = dutch if language == "nl" else english
            return _PHRASES["ago"][language].format(amount=f"{seconds / per_unit:.0f} {unit}")
    raise AssertionError("the last unit is open-ended")


def happened(moment: datetime | None, now: datetime, language: Language = "nl") -> str:
    """'12-03-2025 14:05 (20 maanden geleden)', or 'onbekend' for an alert without event time."""
    if moment is None:
        return _PHRASES["unknown"][language]
    return f"{local_time(moment, language)} ({ago(moment, now, language)})"


def when(alert: Alert, language: Language = "nl", now: datetime | None = None) -> str:
    """When the event happened and how long ago, beside when it was reported (the alert)."""
    now = now or datetime.now(UTC)
    return (
        f"{_PHRASES['happened'][language]} {happened(alert.occurred_at, now, language)}, "
        f"{_PHRASES['reported'][language]} {local_time(alert.created_at, language)}"
    )


def summary(alert: Alert, language: Language = "nl", now: datetime | None = None) -> str:
    """One line for a list or a terminal: kind, urgency, unit, area, who should look out, and
    when it happened; a historical alert says so in its lead (docs/time.md)."""
    lead = SEVERITY[alert.severity][language]
    if alert.historical:
        lead = f"{lead} · {_PHRASES['history'][language]}"
    parts = [
        f"[{lead}] {KIND[alert.kind][language]}",
        f"{_PHRASES['unit'][language]} {UNIT[alert.police_unit]}",
    ]
    # A bulletin concerns the unit's branches of its kinds, wherever they are: no circle.
    is_bulletin = alert.kind is AlertKind.MODUS_OPERANDI_BULLETIN
    parts.append(_PHRASES["whole_unit"][language] if is_bulletin else _where(alert, language))
    if alert.branch_types_at_risk:
        at_risk = ", ".join(BRANCH_TYPE[kind][language] for kind in alert.branch_types_at_risk)
        parts.append(f"{_PHRASES['at_risk'][language]}: {at_risk}")
    if (armed := armed_text(alert.lookout.weapons, language)) is not None:
        parts.append(armed)
    if (lookout := lookout_text(alert, language)) is not None:
        parts.append(lookout)
    # What the alert rests on, said once: a reconnaissance warning's grounds and its basis
    # (the rule and the chance of a robbery) are one statement.
    if alert.grounds is not None:
        parts.append(grounds_text(alert.grounds, language, alert.basis))
    elif alert.basis is not None:
        parts.append(f"{_PHRASES['rests_on'][language]}: {basis_text(alert.basis, language)}")
    if (extent := extent_text(alert.series_extent, language)) is not None:
        parts.append(extent)
    if alert.bulletin is not None:
        parts.append(f"{_PHRASES['bulletin'][language]}: \u201c{alert.bulletin}\u201d")
    parts.append(when(alert, language, now))
    return " · ".join(parts)


def armed_text(weapons: Sequence[Weapon], language: Language = "nl") -> str | None:
    """Whom officers and staff may meet: the weapons seen ('gewapend: vuurwapen'); a weapon
    only suggested (a hand in a pocket) says it is uncertain ('mogelijk gewapend (wapen
    gesuggereerd, niet gezien)'). None when no weapon was seen or suggested."""
    labels = in_language(WEAPON_LABELS, language)
    seen = [labels[w] for w in weapons if w not in (Weapon.NONE, Weapon.SUGGESTED)]
    suggested = Weapon.SUGGESTED in weapons
    if not seen:
        return _PHRASES["maybe_armed"][language] if suggested else None
    line = f"{_PHRASES['armed'][language]}: {', '.join(seen)}"
    if suggested:
        line += f" ({_PHRASES['also_suggested'][language]})"
    return line


def extent_text(extent: SeriesExtent | None, language: Language = "nl") -> str | None:
    """A series whose evidence names only its newest members: how many it has in all and
    since when ('reeks van 327 overvallen sinds 06-01-2026; de nieuwste 50 uitgewerkt').
    None when the evidence names them all, as for almost every series."""
    if extent is None or extent.listed >= extent.members:
        return None
    return _PHRASES["series_extent"][language].format(
        members=extent.members,
        first=local_date(extent.first_occurred_at, language),
        listed=extent.listed,
    )


def place_text(alert: Alert, language: Language = "nl") -> str:
    """Where, in words a shop employee knows: the gazetteer's place nearest the alert's centre
    and its municipality ('bij Badhoevedorp (gem. Haarlemmermeer)'). A town, never an address:
    every recipient but a watch reads this line, and a branch's view names no robbed branch."""
    return f"{_PHRASES['near'][language]} {_place_name(alert.area.center, language)}"


@functools.lru_cache(maxsize=4096)
def _place_name(center: Location, language: Language) -> str:
    place = nearest_place(center)
    if place.name == place.municipality:
        return place.name
    return _PHRASES["municipality"][language].format(
        place=place.name, municipality=place.municipality
    )


# Enough of the descriptions to recognise someone by; the view's lookout has them all.
MAX_CLOTHING_IN_LINE = 3


def lookout_text(alert: Alert, language: Language = "nl") -> str | None:
    """What to look out for, in words: how many, what they wore, how they came or fled
    ('uitkijken naar: 2 daders; zwarte jas, spijkerbroek; scooter Vespa zwart'). What a
    branch may see (the lookout, plate pseudonyms masked); a reconnaissance warning's
    behaviours are in its grounds already. None when nothing was seen."""
    lookout = without_pseudonyms(alert.lookout)
    said: list[str] = []
    if lookout.offender_count is not None:
        count = "offender" if lookout.offender_count == 1 else "offenders"
        said.append(_PHRASES[count][language].format(n=lookout.offender_count))
    if alert.grounds is None and lookout.behaviours:
        said.append(", ".join(BEHAVIOUR[b][language] for b in lookout.behaviours))
    if lookout.clothing:
        # Two offenders in grey tracksuits are one thing to look out for, said once.
        clothing: dict[str, str] = {}
        for item in lookout.clothing:
            clothing.setdefault(item.casefold(), item)
        said.append(", ".join(list(clothing.values())[:MAX_CLOTHING_IN_LINE]))
    if vehicle := _vehicle_text(lookout, language):
        said.append(vehicle)
    if not said:
        return None
    return f"{_PHRASES['look_out_for'][language]}: {'; '.join(said)}"


def _vehicle_text(lookout: Lookout, language: Language) -> str:
    """Kind, make and colour as the desk's lookout says them ('scooter Vespa zwart'); 'te voet'
    for a getaway on foot; the make and colour alone when the kind is unknown."""
    kind = lookout.getaway_mode
    if kind is GetawayMode.UNKNOWN:
        kind = None
    words = [in_language(VEHICLE_LABELS, language)[kind].lower() if kind is not None else None,
             lookout.vehicle_make, lookout.vehicle_colour]  # fmt: skip
    return " ".join(word for word in words if word)


def _where(alert: Alert, language: Language) -> str:
    """The place in words, then the circle: 'bij Amsterdam, binnen 2,0 km (52.3731, 4.8926)'.
    The coordinates stay beside the name: the nearest known place may lie kilometres off, and a
    receiver may put the line on a map."""
    area = _area(alert, language)
    place = place_text(alert, language)
    return place if area is None else f"{place}, {area}"


def _area(alert: Alert, language: Language) -> str | None:
    """The circle the alert applies to ('binnen 3,0 km (52.3702, 4.8952)'); None for cells."""
    if alert.area.radius_m is None:
        return None
    center = alert.area.center
    return (
        f"{_PHRASES['within'][language]} {number(alert.area.radius_m / 1000, 1, language)} km "
        f"({center.lat:.4f}, {center.lon:.4f})"
    )


def grounds_text(
    grounds: WarningGrounds, language: Language = "nl", basis: DetectionBasis | None = None
) -> str:
    """What a reconnaissance warning rests on, its score with the estimated false rate, and
    (given its basis) the rule and the chance of a robbery: one 'grond:', never two."""
    return f"{_PHRASES['rests_on'][language]}: {grounds_said(grounds, language, basis)}"


def grounds_said(
    grounds: WarningGrounds, language: Language = "nl", basis: DetectionBasis | None = None
) -> str:
    """`grounds_text` without its heading, for a page whose label says 'Grond' already."""
    found = [BEHAVIOUR[b][language] for b in grounds.behaviours]
    if grounds.vehicle:
        found.append(_PHRASES["vehicle_noted"][language])
    if grounds.repeats:
        found.append(_PHRASES["repeats"][language].format(n=grounds.repeats))
    if grounds.branches > 1:
        found.append(_PHRASES["branches"][language].format(n=grounds.branches))
    if grounds.nearby_sightings:
        nearby = "nearby_one" if grounds.nearby_sightings == 1 else "nearby"
        found.append(_PHRASES[nearby][language].format(n=grounds.nearby_sightings))
    # In the reader's notation, as every other number of the line ("3,0 km"): 11,5 in Dutch.
    score = _PHRASES["score"][language].format(
        score=number(grounds.score, 1, language),
        threshold=number(grounds.threshold, 1, language),
        rate=_about(grounds.false_warnings_per_100, language),
    )
    line = "; ".join(part for part in (", ".join(found), score) if part)
    if basis is not None:
        line += f"; {basis_text(basis, language, probability='robbery_probability')}"
    return line


def _about(rate: float, language: Language) -> str:
    """An estimated rate to one decimal: '~1,5'; one that rounds to nothing is '<0,1', never
    '~0,0' (a calibration that met no false warning at a score does not make it impossible)."""
    if rate < 0.05:
        return f"<{number(0.1, 1, language)}"
    return f"~{number(rate, 1, language)}"


# The series stage's calibrated_to (streams/series_model.py calibration_text), read back to
# say it in the reader's language. Other stages' statements are technical English: the alert
# carries them, the one-line text leaves them out.
_SERIES_RATE = re.compile(
    r"at most (?P<rate>[\d.]+) false series alert\(s\) per 30 days at (?P<volume>[\d.]+) "
    r"robberies a year"
)


def _percent(probability: float) -> str:
    # A model's chance is never certainty: 0.9996 is "more than 99%", not "100%".
    if probability > 0.99:
        return ">99%"
    if probability < 0.01:
        return "<1%"
    return f"{probability:.0%}"


def basis_text(
    basis: DetectionBasis, language: Language = "nl", *, probability: str = "probability"
) -> str:
    """What a pattern alert rests on, in one line: the model, its probability (`probability`
    names the phrase: a reconnaissance warning's is that of a robbery) or how often chance
    alone would give it, and (series) the rate its threshold was chosen for."""
    said = [model_text(basis.model_version, language)]
    if basis.probability is not None:
        said.append(_PHRASES[probability][language].format(p=_percent(basis.probability)))
    if basis.recurrence_days is not None:
        said.append(_PHRASES["recurrence"][language].format(days=basis.recurrence_days))
    line = ", ".join(said)
    if (rate := _SERIES_RATE.fullmatch(basis.calibrated_to)) is not None:
        line += "; " + _series_rate(rate["rate"], rate["volume"], language)
    return line


def model_text(version: str, language: Language = "nl") -> str:
    """The model an alert rests on: its version id ('model series-20261207-a9daa06d6151'), or
    in words the curves the series stage uses without a fitted model (id 'hand-set')."""
    if version == HAND_SET_VERSION:
        return _PHRASES["hand_set_model"][language]
    return _PHRASES["basis"][language].format(version=version)


def model_name(version: str, language: Language = "nl") -> str:
    """A model's name where a column says it is one: its version id, or 'handmatig ingesteld'
    for the hand-set curves."""
    return _PHRASES["hand_set"][language] if version == HAND_SET_VERSION else version


def _series_rate(rate: str, volume: str, language: Language) -> str:
    """The series threshold's rate in the reader's notation ('0,5', '1.000'), as many decimals
    as the statement has; one alert in the singular."""
    decimals = len(rate.partition(".")[2])
    key = "series_rate_one" if float(rate) == 1 else "series_rate"
    return _PHRASES[key][language].format(
        rate=number(float(rate), decimals, language),
        volume=number(float(volume), len(volume.partition(".")[2]), language),
    )


def resolved_summary(
    kind: AlertKind,
    police_unit: PoliceUnit,
    outcome: Outcome | None,
    language: Language = "nl",
    *,
    alert: Alert | None = None,
    created_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """One line saying an alert is over and how: from the alert's columns, kept after a purge.
    Which robbery it was, as the alert's own line says it: where (its area) and when it
    happened; after a purge only when it was reported (`created_at`) is left to say."""
    parts = [
        f"{_PHRASES['resolved'][language]}: {KIND[kind][language]}",
        f"{_PHRASES['unit'][language]} {UNIT[police_unit]}",
    ]
    if alert is not None:
        parts.append(_where(alert, language))
    if outcome is not None:
        parts.append(f"{_PHRASES['outcome'][language]}: {OUTCOME[outcome][language].lower()}")
    if alert is not None:
        parts.append(when(alert, language, now))
    elif created_at is not None:
        parts.append(f"{_PHRASES['reported'][language]} {local_time(created_at, language)}")
    return " · ".join(parts)


def escalated_summary(alert: Alert, unacknowledged_s: float, language: Language = "nl") -> str:
    """The alert's own line, led by how long nobody acknowledged it."""
    lead = _PHRASES["escalated"][language].format(seconds=int(unacknowledged_s))
    return f"{lead}: {summary(alert, language)}"
