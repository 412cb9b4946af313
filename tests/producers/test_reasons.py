"""The Dutch and plain English wording of the reasons an edge refuses a field, shared by /meld
and the CBL import."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import BaseModel, Field, ValidationError

from heterdaad.event_time import duration_text
from producers.reasons import _REASONS, in_dutch, in_english, in_plain_english, plain
from schemas.common import Address, Branch
from schemas.events import Build


@pytest.mark.parametrize(
    ("english", "dutch"),
    [
        # pydantic's prefix for a validator's ValueError goes, in both languages
        # a span in words, not a timedelta's 0:05:00
        ("Value error, lies in the future by more than the allowed clock skew (5 minutes)",
         "ligt meer dan 5 minuten in de toekomst"),
        ("Value error, lies in the future by more than the allowed clock skew (1 minute)",
         "ligt meer dan 1 minuut in de toekomst"),
        ("Value error, lies in the future by more than the allowed clock skew (90 seconds)",
         "ligt meer dan 90 seconden in de toekomst"),
        ("Value error, lies more than 1826 days in the past (max_event_age_days)",
         "ligt meer dan 1826 dagen in het verleden"),
        ("Value error, lies outside the Netherlands (its border and territorial sea)",
         "ligt buiten Nederland"),
        ("Value error, has a UTC offset beyond ±14:00, which no place has",
         "heeft een verschil met UTC van meer dan ±14:00, dat geen plaats heeft"),
        # ownership, as the API words a 403
        ("branch AK-0001 is not a branch of yours or of your member organisations",
         "filiaal AK-0001 is geen filiaal van u of van een van uw leden"),
        ("branch b-001 is not one of your branches", "filiaal b-001 is geen filiaal van u"),
        # numbers out of range: the bound is kept
        # ... in Dutch notation: a decimal comma, thousands grouped
        ("Input should be greater than or equal to 50.7", "moet ten minste 50,7 zijn"),
        ("Input should be less than or equal to 20", "mag ten hoogste 20 zijn"),
        ("Input should be less than or equal to 100000", "mag ten hoogste 100.000 zijn"),
        ("Input should be less than 7.25", "moet kleiner zijn dan 7,25"),
        ("Input should be greater than 0", "moet groter zijn dan 0"),
        ("Input should be a valid integer, unable to parse string as an integer",
         "moet een geheel getal zijn"),
        ("Input should be a valid datetime, invalid character in year",
         "moet een datum met tijd zijn"),
        # a value outside an enum: its choices are kept, joined in Dutch
        ("Input should be 'slim', 'medium' or 'heavy'", "moet 'slim', 'medium' of 'heavy' zijn"),
        ("Input should be 'slim'", "moet 'slim' zijn"),
        ("String should have at most 60 characters", "mag ten hoogste 60 tekens hebben"),
        ("String should have at least 1 character", "moet ten minste 1 teken hebben"),
        ("List should have at most 10 items after validation, not 11",
         "mag ten hoogste 10 waarden hebben, niet 11"),
    ],
)  # fmt: skip
def test_known_reasons_are_given_in_dutch(english: str, dutch: str) -> None:
    assert in_dutch(english) == dutch


# One reason of every kind the table knows, as the API words it, in Dutch and in the /meld
# form's plain English. Those marked 'was English' had no plain English and reached the
# English form in the API's wording; 'was 1 ...' were plural for a bound of 1.
EVERY_REASON = [
    ("lies in the future by more than the allowed clock skew (1 minute)",
     "ligt meer dan 1 minuut in de toekomst", "is more than 1 minute in the future"),
    ("lies in the future by more than the allowed clock skew (0:02:00)",
     "ligt meer dan 0:02:00 in de toekomst", "is more than 0:02:00 in the future"),
    ("lies more than 1826 days in the past (max_event_age_days)",
     "ligt meer dan 1826 dagen in het verleden", "is more than 1826 days in the past"),
    ("lies outside 1900-01-01 to 2200-01-01 (UTC)",
     "ligt buiten 1900-01-01 tot 2200-01-01", "lies outside 1900-01-01 to 2200-01-01"),
    ("lies outside the Netherlands (its border and territorial sea)",
     "ligt buiten Nederland", "lies outside the Netherlands"),
    ("has a UTC offset beyond ±14:00, which no place has",  # was English
     "heeft een verschil met UTC van meer dan ±14:00, dat geen plaats heeft",
     "differs from UTC by more than ±14:00, which no place does"),
    ("contains a control character", "bevat een teken dat niet in tekst hoort",
     "contains a character that does not belong in text"),
    ("a licence plate has 2 to 12 letters and digits",
     "een kenteken heeft 2 tot 12 letters en cijfers",
     "a licence plate has 2 to 12 letters and digits"),
    ("branch AK-0001 is not a branch of yours or of your member organisations",
     "filiaal AK-0001 is geen filiaal van u of van een van uw leden",
     "branch AK-0001 is not a branch of yours or of your member organisations"),
    ("branch b-001 is not one of your branches", "filiaal b-001 is geen filiaal van u",
     "branch b-001 is not one of your branches"),
    ("Field required", "is verplicht", "is required"),
    ("Extra inputs are not permitted", "hoort hier niet", "does not belong here"),  # was English
    # was English; the bound in the reader's notation
    ("Input should be greater than or equal to 50.7", "moet ten minste 50,7 zijn",
     "should be at least 50.7"),
    ("Input should be greater than 0", "moet groter zijn dan 0", "should be more than 0"),
    ("Input should be less than or equal to 100000", "mag ten hoogste 100.000 zijn",
     "may be at most 100,000"),
    ("Input should be less than 7.25", "moet kleiner zijn dan 7,25", "should be less than 7.25"),
    ("Input should be a finite number", "moet een eindig getal zijn", "should be a finite number"),
    ("Input should be a valid number, unable to parse string as a number", "moet een getal zijn",
     "should be a number"),
    ("Input should be a valid integer, unable to parse string as an integer",
     "moet een geheel getal zijn", "should be a whole number"),
    ("Input should be a valid datetime, invalid character in year",
     "moet een datum met tijd zijn", "should be a date and time"),
    ("Input should have timezone info", "mist de tijdzone", "is missing the time zone"),
    ("Input should be a valid UUID, invalid length", "moet een UUID zijn", "should be a UUID"),
    ("Input should be a valid string", "moet tekst zijn", "should be text"),
    ("Input should be a valid list", "moet een lijst zijn", "should be a list"),
    ("Input should be 'slim', 'medium' or 'heavy'", "moet 'slim', 'medium' of 'heavy' zijn",
     "should be 'slim', 'medium' or 'heavy'"),
    ("Input should be 'slim'", "moet 'slim' zijn", "should be 'slim'"),
    ("String should have at most 1 character", "mag ten hoogste 1 teken hebben",
     "may have at most 1 character"),
    ("String should have at least 1 character", "moet ten minste 1 teken hebben",
     "should not be empty"),
    ("String should have at most 60 characters", "mag ten hoogste 60 tekens hebben",
     "may have at most 60 characters"),
    ("String should have at least 3 characters", "moet ten minste 3 tekens hebben",
     "should have at least 3 characters"),
    ("String should match pattern '^x$'", "moet het patroon '^x$' volgen",  # no hint for it
     "should match the pattern '^x$'"),
    ("List should have at most 1 item after validation, not 2",  # was 1 waarden, 1 entries
     "mag ten hoogste 1 waarde hebben, niet 2", "may have at most 1 entry, not 2"),
    ("List should have at least 2 items after validation, not 1",  # was English
     "moet ten minste 2 waarden hebben, niet 1", "should have at least 2 entries, not 1"),
    ("Value should have at most 1 item after validation, not 2",  # was 1 tekens, 1 characters
     "mag ten hoogste 1 teken hebben, niet 2", "may have at most 1 character, not 2"),
    ("Value should have at least 2 items after validation, not 1",
     "moet ten minste 2 tekens hebben, niet 1", "should have at least 2 characters, not 1"),
]  # fmt: skip


@pytest.mark.parametrize(("english", "dutch", "plain_english"), EVERY_REASON)
def test_every_known_reason_is_said_in_both_languages(
    english: str, dutch: str, plain_english: str
) -> None:
    assert (in_dutch(english), in_plain_english(english)) == (dutch, plain_english)
    # pydantic's prefix makes no difference
    assert in_plain_english(f"Value error, {english}") == plain_english


def test_the_examples_cover_every_reason_of_the_table() -> None:
    """Every reason of the table is tried above in both languages: a new one needs its line."""
    examples = [english for english, _, _ in EVERY_REASON]
    untried = [known.api.pattern for known in _REASONS
               if not any(known.api.fullmatch(english) for english in examples)]  # fmt: skip
    assert untried == []


def test_plain_english_never_keeps_the_api_wording() -> None:
    api_words = re.compile(r"^(Input|String|List|Value|Field|Extra)\b|clock skew|max_event_age")
    for english, _, _ in EVERY_REASON:
        assert not api_words.search(in_plain_english(english)), english


def test_an_unknown_reason_stays_english_rather_than_being_lost() -> None:
    assert in_dutch("Value error, give plate or plate_pseudonym, not both") == (
        "give plate or plate_pseudonym, not both"
    )
    assert plain("Value error, contains a control character") == "contains a control character"


class _Person(BaseModel):
    build: Build
    clothing: list[str] = Field(max_length=1)


@pytest.mark.parametrize(
    "body",
    [
        # the messages of the installed pydantic, not copies of them: a new wording shows here
        {},
        {"build": "reusachtig"},
        {"build": "slim", "clothing": ["jas", "pet"]},
    ],
)
def test_pydantic_messages_are_known(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as raised:
        _Person.model_validate(body)
    for error in raised.value.errors():
        assert in_dutch(error["msg"]) != error["msg"], error["msg"]


@pytest.mark.parametrize(
    ("body", "dutch", "english"),
    [
        # every pattern an edge checks is said as what to enter, never as a regular expression
        ({"street": "Damrak 1", "postcode": "1012LGX", "city": "Amsterdam"},
         "moet een postcode zijn, bijvoorbeeld 1012 JL",
         "should be a Dutch postcode, for example 1012 JL"),
    ],
)  # fmt: skip
def test_a_pattern_is_said_as_what_to_enter(body: dict[str, str], dutch: str, english: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Address.model_validate(body)
    [error] = raised.value.errors()
    assert (in_dutch(error["msg"]), in_english(error["msg"])) == (dutch, english)


def test_every_pattern_of_the_edge_models_has_a_hint() -> None:
    branch = {"branch_id": "filiaal 1", "chain": "x", "branch_type": "supermarket",
              "location": {"lat": 52.37, "lon": 4.89}}  # fmt: skip
    with pytest.raises(ValidationError) as raised:
        Branch.model_validate(branch)
    [error] = raised.value.errors()
    assert "patroon" not in in_dutch(error["msg"]) and "^" not in in_english(error["msg"])
    plate = "Value error, String should match pattern '^hp1:[a-z0-9]{1,8}:[0-9a-f]{32}$'"
    assert "pattern" not in in_english(plate) and "patroon" not in in_dutch(plate)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(120, "2 minutes"), (60, "1 minute"), (90, "90 seconds"), (1, "1 second"),
     (3600, "1 hour"), (7200, "2 hours")],
)  # fmt: skip
def test_a_span_is_said_in_words(seconds: int, text: str) -> None:
    assert duration_text(timedelta(seconds=seconds)) == text
