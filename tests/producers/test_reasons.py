"""The Dutch wording of the reasons an edge refuses a field, shared by /meld and the CBL import."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from producers.reasons import in_dutch, plain
from schemas.events import Build


@pytest.mark.parametrize(
    ("english", "dutch"),
    [
        # pydantic's prefix for a validator's ValueError goes, in both languages
        ("Value error, lies in the future by more than the allowed clock skew (0:05:00)",
         "ligt meer dan 0:05:00 in de toekomst"),
        ("Value error, lies more than 1826 days in the past (max_event_age_days)",
         "ligt meer dan 1826 dagen in het verleden"),
        ("Value error, lies outside the Netherlands (its border and territorial sea)",
         "ligt buiten Nederland"),
        # ownership, as the API words a 403
        ("branch AK-0001 is not a branch of yours or of your member organisations",
         "filiaal AK-0001 is geen filiaal van u of van een van uw leden"),
        ("branch b-001 is not one of your branches", "filiaal b-001 is geen filiaal van u"),
        # numbers out of range: the bound is kept
        ("Input should be greater than or equal to 50.7", "moet ten minste 50.7 zijn"),
        ("Input should be less than or equal to 20", "mag ten hoogste 20 zijn"),
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
