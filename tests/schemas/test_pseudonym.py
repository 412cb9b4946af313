"""Plate pseudonyms: keyed, stable under formatting, different under another key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas.pseudonym import (
    SIDECODES,
    normalise_plate,
    plates_in,
    pseudonymise_free_text,
    pseudonymise_plate,
    pseudonymise_plates_in,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("12-ABC-3", "12ABC3"),  # dashes as printed on the plate
        ("12 abc 3", "12ABC3"),  # typed in lower case with spaces
        ("GB-123-X", "GB123X"),
    ],
)
def test_normalise(raw: str, normalised: str) -> None:
    assert normalise_plate(raw) == normalised


def test_equal_plates_match_whatever_the_formatting() -> None:
    assert pseudonymise_plate("12-ABC-3", KEY, "k1") == pseudonymise_plate("12abc3", KEY, "k1")


def test_another_key_gives_another_pseudonym() -> None:
    assert pseudonymise_plate("12-ABC-3", KEY, "k1") != pseudonymise_plate(
        "12-ABC-3", b"x" * 32, "k1"
    )


def test_pseudonym_shows_nothing_of_the_plate() -> None:
    pseudonym = pseudonymise_plate("12-ABC-3", KEY, "k1")
    assert pseudonym.startswith("hp1:k1:")
    assert "ABC" not in pseudonym.upper()[7:]


def test_garbage_is_not_a_plate() -> None:
    with pytest.raises(ValueError, match="2 to 12"):
        normalise_plate("-")


# --- plates typed into free text (issue 11 #9) --------------------------------------------------

# One plate of each sidecode (RDW), as printed.
SIDECODE_PLATES = {
    1: "AB-12-34",
    2: "12-34-AB",
    3: "12-AB-34",
    4: "AB-12-CD",
    5: "AB-CD-12",
    6: "12-AB-CD",
    7: "12-ABC-3",
    8: "1-ABC-23",
    9: "AB-123-C",
    10: "A-123-BC",
    11: "ABC-12-D",
    12: "A-12-BCD",
    13: "1-AB-234",
    14: "123-AB-4",
}


def test_every_sidecode_has_a_plate() -> None:
    assert set(SIDECODE_PLATES) == set(SIDECODES) == set(range(1, 15))


@pytest.mark.parametrize("sidecode", sorted(SIDECODE_PLATES))
@pytest.mark.parametrize(
    "written",
    [
        lambda plate: plate,  # as printed
        lambda plate: plate.replace("-", ""),  # without dashes
        lambda plate: plate.lower(),  # typed in lower case
        lambda plate: plate.replace("-", "").lower(),  # both
        lambda plate: plate.replace("-", " "),  # spaced, in capitals
    ],
    ids=["printed", "no dashes", "lower case", "lower, no dashes", "spaced"],
)
def test_a_plate_of_every_sidecode_is_found_in_a_sentence(
    sidecode: int, written: Callable[[str], str]
) -> None:
    plate = written(SIDECODE_PLATES[sidecode])
    text = f"Auto met kenteken {plate}, richting A10."
    assert plates_in(text) == [plate]
    replaced = pseudonymise_plates_in(text, KEY, "k1")
    assert plate not in replaced
    assert pseudonymise_plate(plate, KEY, "k1") in replaced
    assert replaced.startswith("Auto met kenteken hp1:k1:") and replaced.endswith(", richting A10.")


@pytest.mark.parametrize(
    "text",
    [
        "Om 22:00 kwamen twee mannen binnen, om 22.15 waren ze weg.",  # times
        "AH-1001",  # a branch number: the separators do not make a plate
        "Filiaal AH-1001 en BM-0412, melding CBL-2025-000101.",  # ids of the CBL tool
        "om 22 uur 5 minuten gewacht",  # words and numbers, spaced like sidecode 7
        "2 man 15 minuten voor sluiting",  # like sidecode 8, spaced
        "zwarte jas, grijze trainingsbroek, witte sneakers",
        "Piaggio, zwart; richting Centraal Station via de A10 en N201",
        "COVID-19 mondkapje, maat 42, 1.80 m lang",
        "postcode 1012 LG, Damrak 1",
        "telefoon 06-12345678",
        "",
    ],
)
def test_ordinary_dutch_is_not_a_plate(text: str) -> None:
    assert plates_in(text) == []
    assert pseudonymise_plates_in(text, KEY, "k1") == text


def test_every_free_text_field_of_a_report_is_pseudonymised_and_identifiers_kept() -> None:
    from tests import factories

    report = factories.incident_report()
    typed = report.model_validate(
        report.model_dump()
        | {
            "free_text": "Vluchtten in 12-ABC-3",
            "getaway": {
                "mode": "car",
                "direction": "richting A10, kenteken AB1234",
                "vehicle": {"kind": "car", "make": "VW 12ABC3", "colour": "grijs XX-999-Z"},
            },
            "offenders": [{"clothing": ["jas", "pet met 1-AB-234"], "language": "12-AB-CD"}],
        }
    )
    out = pseudonymise_free_text(typed, KEY, "k1")
    dumped = out.model_dump_json()
    for plate in ("12-ABC-3", "AB1234", "1-AB-234", "12-AB-CD"):
        assert plate not in dumped
        assert pseudonymise_plate(plate, KEY, "k1") in dumped
    # Make (40) and colour (30) are too short for a pseudonym: the plate is masked there.
    assert out.getaway is not None and out.getaway.vehicle is not None
    assert out.getaway.vehicle.make == "VW ******"
    assert out.getaway.vehicle.colour == "grijs **-***-*"
    assert out.event_id == typed.event_id and out.branch == typed.branch
    # Nothing typed, nothing changed: the same object back.
    assert pseudonymise_free_text(report, KEY, "k1") is report
