"""Keyed-hash pseudonyms for licence plates: raw plates never leave the edge that received them."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated

from pydantic import Field

PlatePseudonym = Annotated[
    str,
    Field(
        pattern=r"^hp1:[a-z0-9]{1,8}:[0-9a-f]{32}$",
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
