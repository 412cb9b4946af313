"""Numbers as a Dutch or English reader writes them: one notation for alerts, desk and edges."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heterdaad.language import Language


def number(amount: float, digits: int, language: Language) -> str:
    """'3,0' in Dutch, '3.0' in English; thousands grouped ('1.441' / '1,441')."""
    text = f"{amount:,.{digits}f}"
    if language == "nl":
        return text.translate(str.maketrans(",.", ".,"))
    return text
