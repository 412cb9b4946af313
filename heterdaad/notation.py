"""Numbers and times as a Dutch or English reader writes them: one notation for alerts, desk,
digest, edges and the console log."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from datetime import datetime

    from heterdaad.language import Language


# Every time a person reads is Dutch local time, whatever zone the event was written in or the
# machine runs in.
DUTCH_TIME = ZoneInfo("Europe/Amsterdam")


class SkippedTime(ValueError):
    """A Dutch wall-clock time the clocks skip (02:00-02:59 the night summer time begins): no
    robbery or sighting happened then, so it is refused rather than moved an hour."""

    def __init__(self, moment: datetime) -> None:
        self.day, self.clock = f"{moment:%d-%m-%Y}", f"{moment:%H:%M}"
        super().__init__(self.reason("en"))

    def reason(self, language: Language) -> str:
        """'02:30 op 29-03-2026 bestaat niet in Nederlandse tijd: ...' in the language."""
        if language == "nl":
            return (
                f"{self.clock} op {self.day} bestaat niet in Nederlandse tijd: die nacht ging de "
                "klok van 02:00 naar 03:00 (begin zomertijd); controleer het tijdstip van het "
                "incident"
            )
        return (
            f"{self.clock} on {self.day} does not exist in Dutch time: that night the clocks went "
            "forward from 02:00 to 03:00 (summer time began); check the time of the incident"
        )


def dutch_wall_time(moment: datetime) -> datetime:
    """A time written without an offset (a form's, a CBL export's) as Dutch local time.

    An hour that is there twice (the night summer time ends) is taken the first time, in summer
    time (fold=0), as most Dutch systems read it (docs/cbl-import.md); one the clocks skip (the
    night summer time begins) raises SkippedTime. A time with an offset is returned as given.
    """
    if moment.tzinfo is not None:
        return moment
    local = moment.replace(tzinfo=DUTCH_TIME)
    earlier, later = local.utcoffset(), local.replace(fold=1).utcoffset()
    # In a gap fold=0 takes the offset before it and fold=1 the one after; in an hour that
    # comes twice the other way round.
    if earlier is not None and later is not None and earlier < later:
        raise SkippedTime(moment)
    return local


def number(amount: float, digits: int, language: Language) -> str:
    """'3,0' in Dutch, '3.0' in English; thousands grouped ('1.441' / '1,441')."""
    text = f"{amount:,.{digits}f}"
    if language == "nl":
        return text.translate(str.maketrans(",.", ".,"))
    return text
