"""`heterdaad desk tail`: a unit's new alerts as one Dutch (or English) line each, in a terminal."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from consumers.alert_text import UNIT, summary
from consumers.desk.live import open_alert_reader
from heterdaad.notation import DUTCH_TIME

if TYPE_CHECKING:
    from collections.abc import Callable

    from heterdaad.events import Batch, Refusal
    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from schemas.alerts import Alert
    from schemas.common import PoliceUnit

logger = logging.getLogger(__name__)

_LISTENING: dict[Language, str] = {
    "nl": "Live meldingen van eenheid {unit} (Ctrl-C stopt)",
    "en": "Live alerts of unit {unit} (Ctrl-C stops)",
}
_LISTENING_WITH_HISTORY: dict[Language, str] = {
    "nl": "Meldingen van eenheid {unit}, live en historie (Ctrl-C stopt)",
    "en": "Alerts of unit {unit}, live and history (Ctrl-C stops)",
}


def tail_line(alert: Alert, language: Language = "nl") -> str:
    """An alert as the terminal shows it: local time, summary, and its id to look it up."""
    at = alert.created_at.astimezone(DUTCH_TIME).strftime("%H:%M:%S")
    return f"{at} {summary(alert, language)} · {alert.alert_id}"


async def tail(
    settings: Settings,
    unit: PoliceUnit,
    say: Callable[[str], None],
    *,
    language: Language = "nl",
    historical: bool = False,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Say each new alert of the unit until `stop` is set; `ready` is set once listening.

    Reads ALERTS from its end without a consumer group, like an open desk: a terminal tail
    takes nothing away from any other reader and commits nothing. Historical alerts are left
    out unless `historical`, as the desk's live list leaves them out: a year of CBL exports
    loaded while the tail runs would otherwise bury a live hold-up under hundreds of lines.
    """
    reader = await open_alert_reader(settings, stage="desk-tail")

    async def say_the_units(batch: Batch[Alert]) -> list[Refusal]:
        for alert in batch.models:
            if alert.police_unit is unit and (historical or not alert.historical):
                say(tail_line(alert, language))
        return []

    try:
        heading = _LISTENING_WITH_HISTORY if historical else _LISTENING
        say(heading[language].format(unit=UNIT[unit]))
        if ready is not None:
            ready.set()
        await reader.run(say_the_units, stop)
    finally:
        await reader.stop()
