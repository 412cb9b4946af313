"""False alarms per alarm centre: presses grouped into episodes, episodes matched to escalations.

The rule follows the alarm stage (streams/verify_alarms.py) and its settings, and uses only the
anonymous columns, so it still holds once payloads are purged:

- a *press* is a panic, hold-up or duress activation (tests, restores and cancels are not);
- a *site* is an alarm centre plus the spot the press came from;
- presses at one site within `episode_window` of the episode's first press belong to it (a
  colleague's second press, a repeat, the centre's verification update), as in the stage;
- an episode counts in the month its first press falls in;
- an escalation alert (hold-up in progress, verified hold-up alarm) belongs to the latest
  episode within `radius_m` (setting `digest.alarm_escalation_radius_m`, 100 m) that began
  before it (allowing `lead`, `digest.alarm_escalation_lead_seconds`, for clocks),
  if it came at most `escalation_window` after that episode's last press: the stage keeps an
  episode that long for late evidence such as a robbery report entered after the police left;
- all of this by event time: an escalation is placed at its alert's `occurred_at` (the press
  it is about), not when the alert was made, so a backlog of presses replayed and verified
  days later counts exactly as it would have live (docs/time.md);
- an episode with no escalation is a *false alarm*.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from schemas.distance import metres_between_many

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime, timedelta

    from consumers.digest.period import Month
    from consumers.digest.read import Escalation, Press

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Episode:
    alarm_centre: str
    lat: float
    lon: float
    first: datetime
    last: datetime
    presses: int


@dataclass(frozen=True, slots=True)
class CentreAlarms:
    """One alarm centre's episodes of the month and how many of them were false."""

    alarm_centre: str
    name: str
    episodes: int
    escalated: int

    @property
    def false_alarms(self) -> int:
        return self.episodes - self.escalated

    @property
    def false_share(self) -> float | None:
        return self.false_alarms / self.episodes if self.episodes else None


def episodes(presses: Sequence[Press], window: timedelta) -> list[Episode]:
    """Presses grouped per site into episodes, in order of their first press."""
    current: dict[tuple[str, float, float], Episode] = {}
    found: list[Episode] = []
    for press in sorted(presses, key=lambda p: p.occurred_at):
        site = (press.alarm_centre, press.lat, press.lon)
        episode = current.get(site)
        if episode is not None and press.occurred_at - episode.first <= window:
            current[site] = Episode(
                episode.alarm_centre, episode.lat, episode.lon, episode.first,
                max(episode.last, press.occurred_at), episode.presses + 1,
            )  # fmt: skip
            continue
        if episode is not None:
            found.append(episode)
        current[site] = Episode(
            press.alarm_centre, press.lat, press.lon, press.occurred_at, press.occurred_at, 1
        )
    found.extend(current.values())
    return sorted(found, key=lambda e: (e.first, e.alarm_centre, e.lat, e.lon))


def escalated_mask(
    found: Sequence[Episode],
    escalations: Sequence[Escalation],
    window: timedelta,
    *,
    radius_m: float,
    lead: timedelta,
) -> list[bool]:
    """For each episode (sorted by first press), whether an escalation alert belongs to it."""
    mask = [False] * len(found)
    if not found:
        return mask
    lats = np.array([e.lat for e in found], dtype=np.float64)
    lons = np.array([e.lon for e in found], dtype=np.float64)
    firsts = np.array([e.first.timestamp() for e in found])
    lasts = np.array([e.last.timestamp() for e in found])
    lead_s, after = lead.total_seconds(), window.total_seconds()
    # Escalations are few (about one press in a hundred is real): one vector pass each.
    for escalation in escalations:
        at = escalation.at.timestamp()
        here = metres_between_many(escalation.lat, escalation.lon, lats, lons) <= radius_m
        begun = np.flatnonzero(here & (firsts - lead_s <= at))
        if begun.size == 0:
            continue
        latest = int(begun[np.argmax(firsts[begun])])
        if at <= lasts[latest] + after:
            mask[latest] = True
    return mask


def false_alarms_by_centre(
    presses: Sequence[Press],
    escalations: Sequence[Escalation],
    month: Month,
    names: Mapping[str, str],
    *,
    episode_window: timedelta,
    escalation_window: timedelta,
    escalation_radius_m: float,
    escalation_lead: timedelta,
) -> list[CentreAlarms]:
    """Episodes that began in the month, per alarm centre, busiest centre first."""
    every = episodes(presses, episode_window)
    # Episodes of the day before the month are kept: an alert may belong to one of them.
    mask = escalated_mask(
        every, escalations, escalation_window, radius_m=escalation_radius_m, lead=escalation_lead
    )
    totals: dict[str, list[int]] = {}
    for episode, was_escalated in zip(every, mask, strict=True):
        if not month.start <= episode.first < month.end:
            continue
        counts = totals.setdefault(episode.alarm_centre, [0, 0])
        counts[0] += 1
        counts[1] += int(was_escalated)
    rows = [
        CentreAlarms(centre, names.get(centre, centre), episodes=count, escalated=up)
        for centre, (count, up) in totals.items()
    ]
    logger.info(
        "digest.alarm_episodes month=%s episodes=%d escalated=%d",
        month, sum(r.episodes for r in rows), sum(r.escalated for r in rows),
    )  # fmt: skip
    return sorted(rows, key=lambda row: (-row.episodes, row.alarm_centre))


def total(rows: Sequence[CentreAlarms], name: str) -> CentreAlarms:
    """All centres together, for the bottom line of the table."""
    return CentreAlarms("all", name, sum(r.episodes for r in rows), sum(r.escalated for r in rows))
