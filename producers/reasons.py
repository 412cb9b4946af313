"""Why an edge refuses a field, for staff: one wording for the /meld form and the CBL import.

pydantic, the contract and the intake policy word their reasons in English, as the API answers
them. Staff on the form and whoever fixes a CBL export read Dutch by default, so the reasons
they can meet are translated here, once, in one table that says each of them in Dutch and in
plain English (the /meld form's English: no settings' names, clock skew or strings). The CBL
import's English report keeps the API's wording (in_english), with a field's regular
expression said as what to enter in either language. A reason the table does not know is
kept in English: an untranslated reason is better than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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
# A duration as the intake policy words it (heterdaad/event_time.py duration_text).
_UNITS = {
    "second": ("seconde", "seconden"),
    "minute": ("minuut", "minuten"),
    "hour": ("uur", "uur"),
}


# How staff read a reason: a template for Match.expand, or a function of the match.
_Words = str | Callable[[re.Match[str]], str]


def _dutch_duration(found: re.Match[str]) -> str:
    count, unit = int(found["count"]), found["unit"]
    return f"{count} {_UNITS[unit][0 if count == 1 else 1]}"


def _english_duration(found: re.Match[str]) -> str:
    count, unit = int(found["count"]), found["unit"]
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _notation(text: str, language: Language) -> str:
    """A bound of pydantic's ('50.7', '100000') as the reader writes it ('50,7' and '100.000'
    in Dutch, '100,000' in English)."""
    try:
        amount = float(text)
    except ValueError:
        return text  # a date or other bound: as it is
    digits = len(text.partition(".")[2]) if "e" not in text.lower() else 0
    return number(amount, digits, language)


def _bound(template: str, language: Language) -> _Words:
    return lambda found: template.format(_notation(found[1], language))


def _counted(template: str, one: str, many: str) -> _Words:
    """A bound with its noun, singular for 1, and the count found: 'mag ten hoogste 1 waarde
    hebben, niet 2' (the table said '1 waarden' and '1 entries')."""
    return lambda found: template.format(found[1], one if found[1] == "1" else many, found[2])


@dataclass(frozen=True)
class _Reason:
    """A reason as the API words it (matched whole) and as staff read it in each language."""

    api: re.Pattern[str]
    nl: _Words
    en: _Words  # plain: without settings' names, clock skew or strings

    def said(self, found: re.Match[str], language: Language) -> str:
        words = self.nl if language == "nl" else self.en
        return words(found) if callable(words) else found.expand(words)


# API reason -> Dutch, plain English. First match wins: specific before general.
_REASONS: tuple[_Reason, ...] = tuple(
    _Reason(re.compile(api), nl, en)
    for api, nl, en in (
        # the intake policy (producers/edge_policy.py) and the contract (schemas/common.py)
        (r"lies in the future by more than the allowed clock skew "
         r"\((?P<count>\d+) (?P<unit>second|minute|hour)s?\)",
         lambda found: f"ligt meer dan {_dutch_duration(found)} in de toekomst",
         lambda found: f"is more than {_english_duration(found)} in the future"),
        (r"lies in the future by more than the allowed clock skew \((.+)\)",
         r"ligt meer dan \1 in de toekomst",
         r"is more than \1 in the future"),
        (r"lies more than (\d+) days in the past \(max_event_age_days\)",
         r"ligt meer dan \1 dagen in het verleden",
         r"is more than \1 days in the past"),
        (r"lies outside (\S+) to (\S+) \(UTC\)",
         r"ligt buiten \1 tot \2",
         r"lies outside \1 to \2"),
        (r"lies outside the Netherlands.*",
         "ligt buiten Nederland",
         "lies outside the Netherlands"),
        (r"has a UTC offset beyond (\S+), which no place has",
         r"heeft een verschil met UTC van meer dan \1, dat geen plaats heeft",
         r"differs from UTC by more than \1, which no place does"),
        (r"contains a control character",
         "bevat een teken dat niet in tekst hoort",
         "contains a character that does not belong in text"),
        (r"a licence plate has 2 to 12 letters and digits",
         "een kenteken heeft 2 tot 12 letters en cijfers",
         "a licence plate has 2 to 12 letters and digits"),
        # ownership (producers/api/permissions.py)
        (r"branch (\S+) is not a branch of yours or of your member organisations",
         r"filiaal \1 is geen filiaal van u of van een van uw leden",
         r"branch \1 is not a branch of yours or of your member organisations"),
        (r"branch (\S+) is not one of your branches",
         r"filiaal \1 is geen filiaal van u",
         r"branch \1 is not one of your branches"),
        # pydantic's messages for the types of the edge models
        (r"Field required", "is verplicht", "is required"),
        (r"Extra inputs are not permitted", "hoort hier niet", "does not belong here"),
        (r"Input should be greater than or equal to (\S+)",
         _bound("moet ten minste {} zijn", "nl"), _bound("should be at least {}", "en")),
        (r"Input should be greater than (\S+)",
         _bound("moet groter zijn dan {}", "nl"), _bound("should be more than {}", "en")),
        (r"Input should be less than or equal to (\S+)",
         _bound("mag ten hoogste {} zijn", "nl"), _bound("may be at most {}", "en")),
        (r"Input should be less than (\S+)",
         _bound("moet kleiner zijn dan {}", "nl"), _bound("should be less than {}", "en")),
        (r"Input should be a finite number", "moet een eindig getal zijn",
         "should be a finite number"),
        (r"Input should be a valid number.*", "moet een getal zijn", "should be a number"),
        (r"Input should be a valid integer.*", "moet een geheel getal zijn",
         "should be a whole number"),
        (r"Input should be a valid datetime.*", "moet een datum met tijd zijn",
         "should be a date and time"),
        (r"Input should have timezone info", "mist de tijdzone", "is missing the time zone"),
        (r"Input should be a valid UUID.*", "moet een UUID zijn", "should be a UUID"),
        (r"Input should be a valid string", "moet tekst zijn", "should be text"),
        (r"Input should be a valid list", "moet een lijst zijn", "should be a list"),
        # an enum: "Input should be 'a', 'b' or 'c'", or one value alone
        (r"Input should be ('.*') or ('[^']*')", r"moet \1 of \2 zijn", r"should be \1 or \2"),
        (r"Input should be ('[^']*')", r"moet \1 zijn", r"should be \1"),
        (r"String should have at most 1 character",
         "mag ten hoogste 1 teken hebben", "may have at most 1 character"),
        (r"String should have at least 1 character",
         "moet ten minste 1 teken hebben", "should not be empty"),
        (r"String should have at most (\d+) characters",
         r"mag ten hoogste \1 tekens hebben", r"may have at most \1 characters"),
        (r"String should have at least (\d+) characters",
         r"moet ten minste \1 tekens hebben", r"should have at least \1 characters"),
        (r"String should match pattern (.+)",  # a pattern without a hint yet
         r"moet het patroon \1 volgen", r"should match the pattern \1"),
        (r"List should have at most (\d+) items? after validation, not (\d+)",
         _counted("mag ten hoogste {} {} hebben, niet {}", "waarde", "waarden"),
         _counted("may have at most {} {}, not {}", "entry", "entries")),
        (r"List should have at least (\d+) items? after validation, not (\d+)",
         _counted("moet ten minste {} {} hebben, niet {}", "waarde", "waarden"),
         _counted("should have at least {} {}, not {}", "entry", "entries")),
        # a length checked on a secret: the raw plate is the only one
        (r"Value should have at most (\d+) items? after validation, not (\d+)",
         _counted("mag ten hoogste {} {} hebben, niet {}", "teken", "tekens"),
         _counted("may have at most {} {}, not {}", "character", "characters")),
        (r"Value should have at least (\d+) items? after validation, not (\d+)",
         _counted("moet ten minste {} {} hebben, niet {}", "teken", "tekens"),
         _counted("should have at least {} {}, not {}", "character", "characters")),
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


def _from_table(reason: str, language: Language) -> str:
    """A plain reason (no 'Value error, ') said in the language, else as it is."""
    if (hint := _pattern_hint(reason, language)) is not None:
        return hint
    for known in _REASONS:
        if (found := known.api.fullmatch(reason)) is not None:
            return known.said(found, language)
    return reason


def in_dutch(reason: str) -> str:
    """The reason in Dutch, or in plain English when the table does not know it."""
    return _from_table(plain(reason), "nl")


def in_plain_english(reason: str) -> str:
    """The reason for staff reading English: as plain as in Dutch where the table knows it,
    else as the API says it (in_english)."""
    return _from_table(plain(reason), "en")


def said_in(reason: str, language: Language) -> str:
    """The reason in the reader's language, for staff (the /meld form)."""
    return in_dutch(reason) if language == "nl" else in_plain_english(reason)
