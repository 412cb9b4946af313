"""Plate pseudonyms: keyed, stable under formatting, different under another key."""

from __future__ import annotations

import pytest

from schemas.pseudonym import normalise_plate, pseudonymise_plate

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
