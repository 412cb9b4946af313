"""Simulated time: days of the period, Dutch hours of the day, and seeded event ids."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from heterdaad.notation import DUTCH_TIME

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

NL_TIME = DUTCH_TIME
DAY = timedelta(days=1)

# Relative weight of each local hour 0..23. Robberies peak around closing time in the evening
# (the action programme asks for times to be monitored; shops are hit when the till is full).
ROBBERY_HOURS = (0.4, 0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.0, 1.0, 1.0,
                 1.0, 1.0, 1.0, 1.2, 1.5, 2.0, 2.6, 2.8, 2.6, 2.2, 1.6, 0.8)  # fmt: skip
# Ram raids and ATM attacks happen at night when nobody is around.
NIGHT_HOURS = (2.0, 2.5, 3.0, 3.0, 3.0, 2.0, 0.5, 0, 0, 0, 0, 0,
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.3, 1.0)  # fmt: skip
# False presses follow footfall: staff bump buttons while working.
SHOP_HOURS = (0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.2, 0.6, 1.0, 1.2, 1.3, 1.4,
              1.4, 1.3, 1.3, 1.3, 1.4, 1.5, 1.4, 1.2, 0.9, 0.6, 0.3, 0.1)  # fmt: skip
# Reconnaissance is seen by staff, so only while the shop is open.
RECON_HOURS = (0, 0, 0, 0, 0, 0, 0, 0.3, 1.0, 1.2, 1.3, 1.4,
               1.4, 1.3, 1.3, 1.3, 1.4, 1.5, 1.4, 1.2, 0.9, 0.5, 0, 0)  # fmt: skip
OFFICE_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, 0.5, 1, 1, 1, 0.5, 1, 1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0)
ANY_HOUR = (1.0,) * 24


def new_id(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from the seeded generator, so a replay has the same ids."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass(frozen=True)
class Clock:
    """The period [start, end] laid over Dutch calendar days numbered from the first one."""

    start: datetime
    end: datetime

    @property
    def _first_midnight(self) -> datetime:
        return datetime.combine(self.start.astimezone(NL_TIME).date(), time(), tzinfo=NL_TIME)

    @property
    def day_count(self) -> int:
        """Calendar days the period touches, partly or wholly."""
        return (
            self.end.astimezone(NL_TIME).date() - self.start.astimezone(NL_TIME).date()
        ).days + 1

    def full_days(self) -> range:
        """Indices of the days that lie wholly in the period; planted patterns live there."""
        first = 0 if self.local(0, 0) >= self.start else 1
        last = self.day_count - 1
        if self.local(last + 1, 0) > self.end:
            last -= 1
        return range(first, last + 1)

    def local(self, day: int, seconds: float) -> datetime:
        """Local wall-clock time `seconds` into day `day`, in UTC."""
        # Adding to an aware datetime is wall-clock arithmetic, which keeps hours right over DST.
        moment = self._first_midnight + timedelta(days=day, seconds=seconds)
        return moment.astimezone(UTC)

    def draw(self, rng: random.Random, hours: Sequence[float], *, margin: timedelta) -> datetime:
        """A moment on any day of the period, at an hour drawn from `hours`."""
        day = rng.randrange(self.day_count)
        return self.fold(self.local(day, draw_seconds_of_day(rng, hours)), margin=margin)

    def draw_on(self, rng: random.Random, day: int, hours: Sequence[float]) -> datetime:
        return self.fold(self.local(day, draw_seconds_of_day(rng, hours)), margin=timedelta(0))

    def fold(self, moment: datetime, *, margin: timedelta) -> datetime:
        """Bring a moment inside [start, end - margin] by whole days, keeping its hour."""
        latest = self.end - margin
        while moment < self.start:
            moment += DAY
        while moment > latest:
            moment -= DAY
        # A period shorter than a day cannot keep the hour: the moment's place in the day is
        # wrapped into the period, so that moments stay apart (a live tick of a minute had all
        # its events at its middle, to the microsecond). One shorter than the margin has no
        # room for the margin: the whole period.
        if moment < self.start:
            latest = latest if latest > self.start else self.end
            span = latest - self.start
            moment = self.start + (moment - self.start) % span if span else self.start
        return moment

    def cap(self, moment: datetime) -> datetime:
        """Never after the end of the period: the contract refuses future times."""
        return min(moment, self.end)


def draw_seconds_of_day(rng: random.Random, hours: Sequence[float]) -> float:
    hour = rng.choices(range(24), weights=hours)[0]
    return hour * 3600 + rng.uniform(0, 3600)


def spread_days(
    rng: random.Random,
    clock: Clock,
    gaps_days: Sequence[float],
    hours: Sequence[Sequence[float]],
) -> list[datetime]:
    """Moments separated by about `gaps_days`, squeezed in when the period is too short.

    The first lands on a random whole day that leaves room for the rest; gaps are whole-day
    steps plus an hour drawn from that moment's table in `hours`, so each moment has a
    plausible time of day.
    """
    if len(hours) != len(gaps_days) + 1:
        raise ValueError("give one table of hours per moment")
    days = clock.full_days() or range(clock.day_count)
    room = max(0, len(days) - 1)
    total = sum(gaps_days)
    scale = min(1.0, room / total) if total > 0 else 1.0
    offsets = [0.0]
    for gap in gaps_days:
        offsets.append(offsets[-1] + gap * scale)
    first = days[0] + rng.randint(0, max(0, room - math.ceil(offsets[-1])))
    drawn = sorted(
        clock.draw_on(rng, first + math.floor(offset), hours_of_moment)
        for offset, hours_of_moment in zip(offsets, hours, strict=True)
    )
    moments: list[datetime] = []
    for moment in drawn:
        if moments and moment <= moments[-1] + timedelta(minutes=30):
            # Two on one day close together: leave the crew time to move on.
            moment = clock.cap(moments[-1] + timedelta(hours=rng.uniform(1, 3)))
        moments.append(moment)
    return moments
