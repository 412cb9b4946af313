"""Numbers and times as a Dutch or English reader writes them: one notation for alerts, desk,
digest, edges and the console log."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from heterdaad.language import Language


# Every time a person reads is Dutch local time, whatever zone the event was written in or the
# machine runs in.
DUTCH_TIME = ZoneInfo("Europe/Amsterdam")


def number(amount: float, digits: int, language: Language) -> str:
    """'3,0' in Dutch, '3.0' in English; thousands grouped ('1.441' / '1,441')."""
    text = f"{amount:,.{digits}f}"
    if language == "nl":
        return text.translate(str.maketrans(",.", ".,"))
    return text
