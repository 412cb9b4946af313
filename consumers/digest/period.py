"""The digest's month: Dutch calendar boundaries in UTC, and the twelve months of the trend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from heterdaad.notation import DUTCH_TIME

# Counts follow the Dutch calendar: a robbery at 00:30 on 1 November local time belongs to
# November even though it is still October in UTC.
NL_TIME = DUTCH_TIME

_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
# The trend reaches a year back and the hotspot scan weeks beyond the month: at the ends of
# what a date can hold ('0000-01', '9999-12') the digest stopped with a traceback.
FIRST_YEAR, LAST_YEAR = 1900, 9998


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in the Netherlands."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1 to 12, not {self.month}")

    @classmethod
    def parse(cls, value: date | str, *, now: datetime | None = None) -> Month:
        """From a date (any day of the month) or 'YYYY-MM', of the years FIRST_YEAR to
        LAST_YEAR; given `now`, not a month that begins after it (a mistyped year would give a
        digest of zeros that looks like a quiet month)."""
        if isinstance(value, date):
            year, month, shown = value.year, value.month, value.isoformat()
        else:
            match = _MONTH_PATTERN.match(value.strip())
            if match is None:
                raise ValueError(f"give the month as YYYY-MM, not {value!r}")
            year, month, shown = int(match[1]), int(match[2]), value.strip()
        if not FIRST_YEAR <= year <= LAST_YEAR:
            years = f"{FIRST_YEAR} to {LAST_YEAR}"
            raise ValueError(f"give a month of the years {years}, not {shown!r}")
        chosen = cls(year, month)
        if now is not None and chosen > cls.of(now):
            raise ValueError(f"month {chosen} has not begun yet (it is {cls.of(now)} now)")
        return chosen

    @classmethod
    def of(cls, moment: datetime) -> Month:
        """The Dutch month a moment falls in."""
        local = moment.astimezone(NL_TIME)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """Local midnight of the first day, in UTC."""
        return datetime.combine(date(self.year, self.month, 1), time(), NL_TIME).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Local midnight of the first day of the next month, in UTC (exclusive)."""
        return self.shift(1).start

    def shift(self, months: int) -> Month:
        """The month `months` later (earlier when negative)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def last(self, count: int) -> list[Month]:
        """The `count` months ending with this one, oldest first."""
        return [self.shift(offset) for offset in range(1 - count, 1)]
