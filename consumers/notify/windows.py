"""Time windows of a subscription (opening hours): when its webhook may be notified."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.alerts import AlertKind

if TYPE_CHECKING:
    from collections.abc import Sequence

Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 Monday ... 7 Sunday.")]


class TimeWindow(BaseModel):
    """Weekly hours, e.g. Mon-Sat 08:00-22:00; a window whose end is before its start runs
    past midnight into the next day (the weekday is the day it opens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekdays: Annotated[frozenset[Weekday], Field(min_length=1)]
    starts: time
    ends: time
    time_zone: str = "Europe/Amsterdam"
    alert_kinds: frozenset[AlertKind] = Field(
        frozenset(), description="Kinds the window holds back; empty: every kind."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.starts == self.ends:
            raise ValueError("starts and ends are equal: the window would be empty")
        if self.starts.tzinfo is not None or self.ends.tzinfo is not None:
            raise ValueError("give starts and ends without a zone; time_zone says which")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def applies_to(self, kind: AlertKind) -> bool:
        return not self.alert_kinds or kind in self.alert_kinds

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        clock, day = local.time().replace(tzinfo=None), local.isoweekday()
        if self.starts < self.ends:
            return day in self.weekdays and self.starts <= clock < self.ends
        yesterday = 7 if day == 1 else day - 1
        return (day in self.weekdays and clock >= self.starts) or (
            yesterday in self.weekdays and clock < self.ends
        )

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself when the window is open, else the next time it opens (UTC)."""
        if self.contains(moment):
            return moment
        local_day = moment.astimezone(self.zone).date()
        for offset in range(8):
            day = local_day + timedelta(days=offset)
            if day.isoweekday() not in self.weekdays:
                continue
            opening = datetime.combine(day, self.starts, tzinfo=self.zone)
            if opening >= moment:
                return opening.astimezone(UTC)
        raise AssertionError("a weekly window opens within eight days")  # weekdays is not empty


def first_opening(
    windows: Sequence[TimeWindow] | None, kind: AlertKind, moment: datetime
) -> datetime:
    """When an alert of `kind` may be sent at the earliest: `moment` unless windows hold it."""
    applicable = [window for window in windows or () if window.applies_to(kind)]
    if not applicable:
        return moment
    return min(window.next_opening(moment) for window in applicable)
