"""The Dutch wording of the reasons an edge refuses a field, shared by /meld and the CBL import."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, Field, ValidationError

from producers.edge_policy import duration_text
from producers.reasons import in_dutch, in_english, plain
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
