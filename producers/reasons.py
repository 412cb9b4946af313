"""Why an edge refuses a field, in Dutch: one wording for the /meld form and the CBL import.

pydantic, the contract and the intake policy word their reasons in English, as the API answers
them. Staff on the form and whoever fixes a CBL export read Dutch by default, so the reasons
they can meet are translated here, once. A reason the table does not know is kept in English:
an untranslated reason is better than none.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["nl", "en"]

# pydantic's wording for an error raised in a validator; no reader needs it.
_VALUE_ERROR = "Value error, "

# English reason (fullmatch) -> Dutch template. First match wins: specific before general.
_DUTCH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(english), dutch)
    for english, dutch in (
        # the intake policy (producers/edge_policy.py) and the contract (schemas/common.py)
        (r"lies in the future by more than the allowed clock skew \((.+)\)",
         r"ligt meer dan \1 in de toekomst"),
        (r"lies more than (\d+) days in the past \(max_event_age_days\)",
         r"ligt meer dan \1 dagen in het verleden"),
        (r"lies outside (\S+) to (\S+) \(UTC\)", r"ligt buiten \1 tot \2"),
        (r"lies outside the Netherlands.*", "ligt buiten Nederland"),
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
        (r"Input should be greater than or equal to (\S+)", r"moet ten minste \1 zijn"),
        (r"Input should be greater than (\S+)", r"moet groter zijn dan \1"),
        (r"Input should be less than or equal to (\S+)", r"mag ten hoogste \1 zijn"),
        (r"Input should be less than (\S+)", r"moet kleiner zijn dan \1"),
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
        (r"String should match pattern (.+)", r"moet het patroon \1 volgen"),
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


def in_dutch(reason: str) -> str:
    """The reason in Dutch, or in plain English when the table does not know it."""
    reason = plain(reason)
    for english, dutch in _DUTCH:
        if (found := english.fullmatch(reason)) is not None:
            return found.expand(dutch)
    return reason
