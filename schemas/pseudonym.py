"""Keyed-hash pseudonyms for licence plates: raw plates never leave the edge that received them."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

PSEUDONYM_PATTERN = r"^hp1:[a-z0-9]{1,8}:[0-9a-f]{32}$"
PlatePseudonym = Annotated[
    str,
    Field(
        pattern=PSEUDONYM_PATTERN,
        description="HMAC-SHA256 of the normalised plate under a key from settings, as "
        "'hp1:<key id>:<first 128 bits, hex>'. Equal plates give equal pseudonyms under one key.",
        examples=["hp1:k1:3f2a9c0d4b1e7a6f8c5d2e1b0a9f8e7d"],
    ),
]

_NOT_PLATE_CHARACTERS = re.compile(r"[^A-Z0-9]")


def normalise_plate(raw: str) -> str:
    """Upper case without dashes or spaces, so '12-ABC-3' and '12abc3' match."""
    normalised = _NOT_PLATE_CHARACTERS.sub("", raw.upper())
    if not 2 <= len(normalised) <= 12:
        raise ValueError("a licence plate has 2 to 12 letters and digits")
    return normalised


def pseudonymise_plate(raw: str, key: bytes, key_id: str) -> str:
    """The pseudonym of a plate; the key keeps it from being reversed by trying all plates."""
    digest = hmac.new(key, normalise_plate(raw).encode(), hashlib.sha256).hexdigest()
    return f"hp1:{key_id}:{digest[:32]}"


# Dutch plates by sidecode (RDW): L a letter, D a digit, groups as the plate shows them.
SIDECODES = {
    1: ("LL", "DD", "DD"),
    2: ("DD", "DD", "LL"),
    3: ("DD", "LL", "DD"),
    4: ("LL", "DD", "LL"),
    5: ("LL", "LL", "DD"),
    6: ("DD", "LL", "LL"),
    7: ("DD", "LLL", "D"),
    8: ("D", "LLL", "DD"),
    9: ("LL", "DDD", "L"),
    10: ("L", "DDD", "LL"),
    11: ("LLL", "DD", "L"),
    12: ("L", "DD", "LLL"),
    13: ("D", "LL", "DDD"),
    14: ("DDD", "LL", "D"),
}


def _group(shape: str, letters: str) -> str:
    return "".join(letters if symbol == "L" else "[0-9]" for symbol in shape)


def _plate_pattern() -> re.Pattern[str]:
    """Every sidecode, written with two dashes, without separators, or with two spaces.

    The separators must agree: "AH-1001" (a branch number) is not "AH-10-01". With spaces, the
    letters are capitals or consonants (plates since sidecode 4 have no vowels), so that
    "om 22 uur 5" in a sentence is not read as sidecode 7 while "xx 999 z" still is.
    """
    any_letter, consonant = "[A-Za-z]", "[B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]"
    forms = (("-", any_letter), ("", any_letter), (" ", "[A-Z]"), (" ", consonant))
    shapes = []
    for groups in SIDECODES.values():
        for separator, letters in forms:
            shapes.append(separator.join(_group(group, letters) for group in groups))
    return re.compile(rf"(?<![A-Za-z0-9-])(?:{'|'.join(shapes)})(?![A-Za-z0-9]|-[A-Za-z0-9])")


PLATE_IN_TEXT = _plate_pattern()


def plates_in(text: str) -> list[str]:
    """The Dutch licence plates written in a free text, as written."""
    return PLATE_IN_TEXT.findall(text)


def pseudonymise_plates_in(text: str, key: bytes, key_id: str) -> str:
    """The text with every plate in it replaced by its pseudonym, so matching still works."""
    return PLATE_IN_TEXT.sub(lambda match: pseudonymise_plate(match[0], key, key_id), text)


# Fields whose text is an identifier or a pseudonym chosen by the system, never typed prose.
_NOT_FREE_TEXT = frozenset(
    {
        "event_id",
        "branch_id",
        "site_id",
        "alarm_centre",
        "subscriber_account",
        "reporting_org",
        "reporter_org",
        "plate_pseudonym",
        "button_id",
        "user_id",
        "postcode",
    }
)

ModelT = TypeVar("ModelT", bound=BaseModel)
# Where a text sits in a model's dump: field names and list indexes.
Loc = tuple[str | int, ...]


def pseudonymise_free_text(model: ModelT, key: bytes, key_id: str) -> ModelT:
    """The model with plates in every free-text field pseudonymised (toelichting, make, colour,
    clothing, direction...): whatever a person typed, at any depth, except identifiers.

    A field too short for a pseudonym (a colour of 30 characters) gets the plate masked instead,
    character for character, so the text stays as long as it was typed.

    Invisible format characters (zero-width space, soft hyphen, direction overrides) are taken
    out first: '12-A\u200bBC-3' reads as the plate on every screen but escaped the plate
    pattern, and an override shows text in another order than it was stored.
    """

    def pseudonym(text: str, at: Loc) -> str:
        return PLATE_IN_TEXT.sub(
            lambda match: pseudonymise_plate(match[0], key, key_id), without_invisible(text)
        )

    changed = _walk(model.model_dump(), pseudonym)
    if changed is None:
        return model
    try:
        return type(model).model_validate(changed)
    except ValidationError as error:
        too_long = {e["loc"] for e in error.errors() if e["type"] == "string_too_long"}
        if not too_long:
            raise

    def pseudonym_or_mask(text: str, at: Loc) -> str:
        if at in too_long:
            return PLATE_IN_TEXT.sub(lambda match: _mask(match[0]), without_invisible(text))
        return pseudonym(text, at)

    return type(model).model_validate(_walk(model.model_dump(), pseudonym_or_mask))


PSEUDONYM_IN_TEXT = re.compile(r"hp1:[a-z0-9]{1,8}:[0-9a-f]{32}")
PSEUDONYM_MASK = "**-**-**"


def without_pseudonyms(model: ModelT) -> ModelT:
    """The model with every plate pseudonym in its free texts masked, for the views that carry
    no personal data (branches, chains): a plate typed into a clothing field was pseudonymised
    at the edge, and a pseudonym still links records about one person."""

    def masked(text: str, at: Loc) -> str:
        return PSEUDONYM_IN_TEXT.sub(PSEUDONYM_MASK, text)

    changed = _walk(model.model_dump(), masked)
    return model if changed is None else type(model).model_validate(changed)


def _mask(plate: str) -> str:
    return re.sub(r"[A-Za-z0-9]", "*", plate)



def without_invisible(text: str) -> str:
    """The text without Unicode format characters (category Cf). A text of nothing else stays
    as it is: it hides no plate, and a chain or street must not turn empty after its row or
    body was checked (the CBL import stopped on one)."""
    visible = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return visible or text


def _walk(value: Any, edit: Callable[[str, Loc], str], *, at: Loc = ()) -> Any:
    """The value with `edit` applied to every free text, or None when nothing changed."""
    if type(value) is str:  # not a StrEnum member: a vocabulary word is no free text
        edited = edit(value, at)
        return None if edited == value else edited
    if isinstance(value, dict):
        changes = {
            name: new
            for name, item in value.items()
            if name not in _NOT_FREE_TEXT and (new := _walk(item, edit, at=(*at, name))) is not None
        }
        return {**value, **changes} if changes else None
    if isinstance(value, list):
        items = [_walk(item, edit, at=(*at, index)) for index, item in enumerate(value)]
        if all(item is None for item in items):
            return None
        return [old if new is None else new for old, new in zip(value, items, strict=True)]
    return None


_PLATE_IN_BYTES = re.compile(PLATE_IN_TEXT.pattern.encode())


def mask_plates(data: bytes) -> bytes:
    """The bytes with every plate-shaped text masked character for character (no key needed).

    For what is kept without being understood, such as a dead letter: its length and shape stay
    for whoever investigates it, a raw plate does not (issue 11 #11).
    """
    return _PLATE_IN_BYTES.sub(lambda match: re.sub(rb"[A-Za-z0-9]", b"*", match[0]), data)
