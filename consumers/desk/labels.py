"""The evidence's words and numbers as a Dutch (or English) reader expects them.

The stages name features and values in English identifiers (`press`, `time_gap_days`, `same`);
a coordinator reads them in words, with a decimal comma in Dutch ("3,0 km").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from consumers.alert_text import BRANCH_TYPE, ONE_BRANCH_TYPE
from heterdaad.notation import number
from schemas.common import BranchType

if TYPE_CHECKING:
    from heterdaad.language import Language

# Every feature a stage writes into LinkReason.feature or EvidenceLink.similarity (streams/).
FEATURE: dict[str, tuple[str, str]] = {
    # series linkage (streams/series_scoring.py)
    "distance_km": ("afstand (km)", "distance (km)"),
    "time_gap_days": ("tijd ertussen (dagen)", "time between (days)"),
    "travel_minutes": ("reistijd (min)", "travel time (min)"),
    "branch_type": ("soort zaak", "branch type"),
    "chain": ("keten", "chain"),
    "incident_type": ("soort delict", "incident type"),
    "modus_operandi": ("werkwijze", "modus operandi"),
    "weapons": ("wapens", "weapons"),
    "offender_count": ("aantal daders", "number of offenders"),
    "height": ("lengte", "height"),
    "build": ("postuur", "build"),
    "clothing": ("kleding", "clothing"),
    "face_covering": ("gezichtsbedekking", "face covering"),
    "language": ("taal", "language"),
    "getaway_mode": ("vluchtwijze", "getaway"),
    "getaway": ("vluchtwijze", "getaway"),
    "plate": ("kenteken", "plate"),
    "vehicle": ("voertuig", "vehicle"),
    "linked_with": ("gekoppeld aan", "linked with"),
    # reconnaissance (streams/recon_scoring.py, recon_linkage.py)
    "persons": ("personen", "persons"),
    "behaviours": ("gedrag", "behaviour"),
    "several_behaviours": ("meerdere gedragingen bij één bezoek", "several behaviours, one visit"),
    "companions": ("met z'n tweeën of meer", "two or more together"),
    "same_branch": ("zelfde vestiging", "same branch"),
    "nearby_branch": ("vestiging in de buurt", "nearby branch"),
    "warned_pattern": ("eerder gewaarschuwd patroon", "pattern warned before"),
    "same_pattern": ("zelfde patroon", "same pattern"),
    # the warning's score (streams/recon_evidence.py)
    "repeats": ("herhaalde bezoeken", "repeat visits"),
    "linked_branches": ("gekoppelde vestigingen", "linked branches"),
    "nearby_sightings": ("meldingen in de buurt", "sightings nearby"),
    "nearby_sighting": ("melding in de buurt", "sighting nearby"),
    # hotspots (streams/detect_hotspots.py)
    "status": ("status", "status"),
    "observed": ("waargenomen", "observed"),
    "expected": ("verwacht", "expected"),
    "llr": ("log-likelihoodratio", "log-likelihood ratio"),
    "p_value": ("p-waarde", "p-value"),
    "recurrence_days": ("herhaling (dagen)", "recurrence (days)"),
    "window_days": ("venster (dagen)", "window (days)"),
    "radius_m": ("straal (m)", "radius (m)"),
    # alarm verification (streams/verify_alarms.py; the roles of streams/alarm_state.py)
    "press": ("druk op de knop", "button press"),
    "repeat_press": ("herhaalde druk", "repeated press"),
    "second_press": ("tweede druk", "second press"),
    "restore": ("herstel", "restore"),
    "cancel": ("annulering", "cancel"),
    "verification": ("verificatie", "verification"),
    "unresolved_after_timeout": ("niet opgeheven binnen de termijn", "not cleared in time"),
    "sequential_buttons": ("tweede knop", "second button"),
    "incident_report": ("incidentmelding", "incident report"),
    "signal": ("signaal", "signal"),
}

# Words the stages put in LinkReason.value; a value not here is shown as it is (ids, numbers).
VALUE: dict[str, tuple[str, str]] = {
    "same": ("zelfde", "same"),
    "different": ("verschillend", "different"),
    "match": ("gelijk", "match"),
    "equal": ("gelijk", "equal"),  # two sightings' plates (streams/recon_scoring.py)
    "noted": ("gezien", "noted"),  # a vehicle was noted (streams/recon_evidence.py)
    "panic": ("paniekknop", "panic button"),
    "hold_up": ("overvalknop", "hold-up button"),
    "duress": ("dwangcode", "duress code"),
    "restore": ("herstel", "restore"),
    "cancel": ("annulering", "cancel"),
    "test": ("test", "test"),
    "link_test": ("verbindingstest", "link test"),
    "site_silent": ("locatie zwijgt", "site silent"),
    "other staff": ("ander personeel", "other staff"),
    "camera": ("camera", "camera"),
    "audio": ("audio", "audio"),
    "callback": ("terugbellen", "callback"),
    "person_on_site": ("persoon ter plaatse", "person on site"),
    "raised": ("nieuw", "raised"),
    "updated": ("bijgewerkt", "updated"),
    "closed": ("gesloten", "closed"),
}


_BRANCH_TYPES = {branch_type.value for branch_type in BranchType}


def _index(language: Language) -> int:
    return 0 if language == "nl" else 1


def feature(name: str, language: Language) -> str:
    """A feature's name in words; an unknown one readable, without underscores."""
    words = FEATURE.get(name)
    return words[_index(language)] if words else name.replace("_", " ")


def value(raw: float | str | None, language: Language) -> str:
    """A reason's value: a number in the language's notation, a known word translated."""
    if raw is None:
        return "-"
    if isinstance(raw, bool):
        return ("ja", "yes")[_index(language)] if raw else ("nee", "no")[_index(language)]
    if isinstance(raw, int | float):
        if 0 < abs(raw) < 0.01:
            return _small(raw, language)
        return number(raw, 2 if raw != int(raw) else 0, language)
    if raw in VALUE:
        return VALUE[raw][_index(language)]
    if raw in _BRANCH_TYPES:
        return BRANCH_TYPE[BranchType(raw)][language]
    from consumers.desk.texts import vocabulary_word  # texts imports this module

    return vocabulary_word(raw, language)


# Below this a value is said as a bound: a hotspot's p-value is at least 1/(replications + 1).
_SMALLEST = 0.0001


def _small(amount: float, language: Language) -> str:
    """A value below 0.01 with two significant digits: a hotspot's p-value of 0.001 read
    '0,00' beside its reason, as if certain; now '0,001', and '< 0,0001' below that."""
    if 0 < amount < _SMALLEST:
        return f"< {number(_SMALLEST, 4, language)}"
    digits = 1 - math.floor(math.log10(abs(amount)))
    text = number(amount, digits, language).rstrip("0")
    return text.rstrip(",.")


def branch_kind(branch_type: BranchType, language: Language) -> str:
    return ONE_BRANCH_TYPE[branch_type][language]


def signed(amount: float, language: Language) -> str:
    """A contribution to a score, always with its sign: '+2,10'."""
    return ("+" if amount >= 0 else "-") + number(abs(amount), 2, language)


def percent(share: float, language: Language) -> str:
    return f"{number(share * 100, 0, language)}%"


def distance(distance_m: float | None, language: Language) -> str:
    """'850 m', '3,0 km' (Dutch) or '3.0 km' (English)."""
    if distance_m is None:
        return "-"
    if distance_m < 1000:
        return f"{number(distance_m, 0, language)} m"
    return f"{number(distance_m / 1000, 1, language)} km"
