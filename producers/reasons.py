"""Why an edge refuses a field, for staff: one wording for the /meld form and the CBL import.

pydantic, the contract and the intake policy word their reasons in English, as the API answers
them. Staff on the form and whoever fixes a CBL export read Dutch by default, so the reasons
they can meet are translated here, once; in English they get the same reasons, with a field's
regular expression said as what to enter. A reason the table does not know is kept in English:
an untranslated reason is better than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from heterdaad.language import Language
from heterdaad.notation import number
from schemas.common import IDENTIFIER_PATTERN, POSTCODE_PATTERN
from schemas.pseudonym import PSEUDONYM_PATTERN

# pydantic's wording for an error raised in a validator; no reader needs it.
_VALUE_ERROR = "Value error, "

# Every pattern an edge model checks (schemas/common.py, schemas/pseudonym.py), as what to enter.
_PATTERN_HINTS: dict[str, dict[Language, str]] = {
    POSTCODE_PATTERN: {
        "nl": "moet een postcode zijn, bijvoorbeeld 1012 JL",
        "en": "should be a Dutch postcode, for example 1012 JL",
    },
    IDENTIFIER_PATTERN: {
        "nl": "mag alleen letters, cijfers en . _ : - bevatten, zonder spaties",
        "en": "should hold only letters, digits and . _ : -, without spaces",
    },
    PSEUDONYM_PATTERN: {
        "nl": "moet een kentekenpseudoniem zijn zoals Heterdaad het maakt (hp1:…)",
        "en": "should be a plate pseudonym as Heterdaad makes it (hp1:…)",
    },
}
_PATTERN = re.compile(r"String should match pattern '(.+)'")
# A duration as the intake policy words it (producers/edge_policy.py duration_text).
_UNITS = {
    "second": ("seconde", "seconden"),
    "minute": ("minuut", "minuten"),
    "hour": ("uur", "uur"),
}


def _dutch_duration(found: re.Match[str]) -> str:
    count, unit = int(found["count"]), found["unit"]
    return f"{count} {_UNITS[unit][0 if count == 1 else 1]}"


def _dutch_number(text: str) -> str:
    """A bound of pydantic's ('50.7', '100000') in Dutch notation ('50,7', '100.000')."""
    try:
        amount = float(text)
    except ValueError:
        return text  # a date or other bound: as it is
    digits = len(text.partition(".")[2]) if "e" not in text.lower() else 0
    return number(amount, digits, "nl")


def _bound(template: str) -> Callable[[re.Match[str]], str]:
    return lambda found: template.format(_dutch_number(found[1]))


_Dutch = str | Callable[[re.Match[str]], str]

# English reason (fullmatch) -> Dutch template. First match wins: specific before general.
_DUTCH: tuple[tuple[re.Pattern[str], _Dutch], ...] = tuple(
    (re.compile(english), dutch)
    for english, dutch in (
        # the intake policy (producers/edge_policy.py) and the contract (schemas/common.py)
        (r"lies in the future by more than the allowed clock skew "
         r"\((?P<count>\d+) (?P<unit>second|minute|hour)s?\)",
         lambda found: f"ligt meer dan {_dutch_duration(found)} in de toekomst"),
        (r"lies in the future by more than the allowed clock skew \((.+)\)",
         r"ligt meer dan \1 in de toekomst"),
        (r"lies more than (\d+) days in the past \(max_event_age_days\)",
         r"ligt meer dan \1 dagen in het verleden"),
        (r"lies outside (\S+) to (\S+) \(UTC\)", r"ligt buiten \1 tot \2"),
        (r"lies outside the Netherlands.*", "ligt buiten Nederland"),
        (r"has a UTC offset beyond (\S+), which no place has",
         r"heeft een verschil met UTC van meer dan \1, dat geen plaats heeft"),
        (r"contains a control character", "bevat een teken dat niet in tekst hoort"),
        (r"a licence plate has 2 to 12 letters and digits",
         "een kenteken heeft 2 tot 12 letters en cijfers"),
        # ownership (producers/api/permissions.py)
        (r"branch (\S+) is not a branch of yours or of your member organisations",
         r"filiaal \1 is geen filiaal van u of van een van uw leden"),
        (r"branch (\S+) is not one of your branches", r"filiaal \1 is geen filiaal van u"),
        # pydantic's messages for the types of the edge models
        (r"Field required", "is verplicht"),
        (r"Extra inputs are not permitted", "hoort hier niet"),
        (r"Input should be greater than or equal to (\S+)", _bound("moet ten minste {} zijn")),
        (r"Input should be greater than (\S+)", _bound("moet groter zijn dan {}")),
        (r"Input should be less than or equal to (\S+)", _bound("mag ten hoogste {} zijn")),
        (r"Input should be less than (\S+)", _bound("moet kleiner zijn dan {}")),
        (r"Input should be a finite number", "moet een eindig getal zijn"),
        (r"Input should be a valid number.*", "moet een getal zijn"),
        (r"Input should be a valid integer.*", "moet een geheel getal zijn"),
        (r"Input should be a valid datetime.*", "moet een datum met tijd zijn"),
        (r"Input should have timezone info", "mist de tijdzone"),
        (r"Input should be a valid UUID.*", "moet een UUID zijn"),
        (r"Input should be a valid string", "moet tekst zijn"),
        (r"Input should be a valid list", "moet een lijst zijn"),
        # an enum: "Input should be 'a', 'b' or 'c'", or one value alone
        (r"Input should be ('.*') or ('[^']*')", r"moet \1 of \2 zijn"),
        (r"Input should be ('[^']*')", r"moet \1 zijn"),
        (r"String should have at most 1 character", "mag ten hoogste 1 teken hebben"),
        (r"String should have at least 1 character", "moet ten minste 1 teken hebben"),
        (r"String should have at most (\d+) characters", r"mag ten hoogste \1 tekens hebben"),
        (r"String should have at least (\d+) characters", r"moet ten minste \1 tekens hebben"),
        (r"String should match pattern (.+)", r"moet het patroon \1 volgen"),  # no hint yet
        (r"List should have at most (\d+) items? after validation, not (\d+)",
         r"mag ten hoogste \1 waarden hebben, niet \2"),
        (r"List should have at least (\d+) items? after validation, not (\d+)",
         r"moet ten minste \1 waarden hebben, niet \2"),
        # a length checked on a secret: the raw plate is the only one
        (r"Value should have at most (\d+) items? after validation, not (\d+)",
         r"mag ten hoogste \1 tekens hebben, niet \2"),
        (r"Value should have at least (\d+) items? after validation, not (\d+)",
         r"moet ten minste \1 tekens hebben, niet \2"),
    )
)  # fmt: skip


def plain(reason: str) -> str:
    """The reason as English readers get it: without pydantic's 'Value error, '."""
    return reason.removeprefix(_VALUE_ERROR)


def _pattern_hint(reason: str, language: Language) -> str | None:
    found = _PATTERN.fullmatch(reason)
    hint = _PATTERN_HINTS.get(found[1]) if found is not None else None
    return None if hint is None else hint[language]


def in_english(reason: str) -> str:
    """The reason for an English reader: plain, a field's pattern said as what to enter."""
    reason = plain(reason)
    return _pattern_hint(reason, "en") or reason


def in_dutch(reason: str) -> str:
    """The reason in Dutch, or in plain English when the table does not know it."""
    reason = plain(reason)
    if (hint := _pattern_hint(reason, "nl")) is not None:
        return hint
    for english, dutch in _DUTCH:
        if (found := english.fullmatch(reason)) is not None:
            return dutch(found) if callable(dutch) else found.expand(dutch)
    return reason


def _english_duration(found: re.Match[str]) -> str:
    count, unit = int(found["count"]), found["unit"]
    return f"{count} {unit}{'' if count == 1 else 's'}"


# The reasons staff on the English form can meet, as plainly as the Dutch ones: the API's
# wording names settings ('max_event_age_days'), clock skew and strings.
_PLAIN_ENGLISH: tuple[tuple[re.Pattern[str], _Dutch], ...] = tuple(
    (re.compile(english), plain_words)
    for english, plain_words in (
        (r"lies in the future by more than the allowed clock skew "
         r"\((?P<count>\d+) (?P<unit>second|minute|hour)s?\)",
         lambda found: f"is more than {_english_duration(found)} in the future"),
        (r"lies in the future by more than the allowed clock skew \((.+)\)",
         r"is more than \1 in the future"),
        (r"lies more than (\d+) days in the past \(max_event_age_days\)",
         r"is more than \1 days in the past"),
        (r"lies outside (\S+) to (\S+) \(UTC\)", r"lies outside \1 to \2"),
        (r"lies outside the Netherlands.*", "lies outside the Netherlands"),
        (r"contains a control character", "contains a character that does not belong in text"),
        (r"Field required", "is required"),
        (r"String should have at most 1 character", "may have at most 1 character"),
        (r"String should have at most (\d+) characters", r"may have at most \1 characters"),
        (r"String should have at least 1 character", "should not be empty"),
        (r"String should have at least (\d+) characters", r"should have at least \1 characters"),
        (r"List should have at most (\d+) items? after validation, not (\d+)",
         r"may have at most \1 entries, not \2"),
        (r"Value should have at most (\d+) items? after validation, not (\d+)",
         r"may have at most \1 characters, not \2"),
        (r"Value should have at least (\d+) items? after validation, not (\d+)",
         r"should have at least \1 characters, not \2"),
        (r"Input should be a valid datetime.*", "should be a date and time"),
    )
)  # fmt: skip


def in_plain_english(reason: str) -> str:
    """The reason for staff reading English: as plain as in Dutch where the table knows it,
    else as the API says it (in_english)."""
    reason = in_english(reason)
    for english, plain_words in _PLAIN_ENGLISH:
        if (found := english.fullmatch(reason)) is not None:
            return plain_words(found) if callable(plain_words) else found.expand(plain_words)
    return reason


def said_in(reason: str, language: Language) -> str:
    """The reason in the reader's language, for staff (the /meld form)."""
    return in_dutch(reason) if language == "nl" else in_plain_english(reason)
