"""Intake policy, checked once where an event enters: no time in the future or years back, no
point abroad.

The contract (schemas/) checks shape only, so that a record valid when it was produced stays
valid for every reader, whatever its clock or gazetteer. What depends on the moment of arrival
or on the place data is judged here, by each edge: the API (single, batch, /meld), the CBL
import, the SIA receiver and the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails

from heterdaad.event_time import in_the_future, too_far_ahead
from heterdaad.settings import get_settings
from schemas.common import EVENT_TIME, Location
from schemas.geography import is_in_netherlands

if TYPE_CHECKING:
    from collections.abc import Iterator

Model = TypeVar("Model", bound=BaseModel)
Loc = tuple[str | int, ...]

OUTSIDE_NETHERLANDS = "lies outside the Netherlands (its border and territorial sea)"


def admit(
    model: Model,
    *,
    clock_skew: timedelta | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> Model:
    """The model itself when it passes the intake policy, else a ValidationError naming each field.

    The error has pydantic's shape (type value_error, loc, msg), so an edge reports it as it
    reports a malformed field. clock_skew and max_age default to Settings.clock_skew_seconds
    and Settings.max_event_age_days.
    """
    if clock_skew is None or max_age is None:
        settings = get_settings()
        if clock_skew is None:
            clock_skew = timedelta(seconds=settings.clock_skew_seconds)
        if max_age is None:
            max_age = timedelta(days=settings.max_event_age_days)
    moment = now or datetime.now(UTC)
    window = _Window(moment, moment - max_age, max_age, clock_skew)
    errors = [_error(loc, value, reason) for loc, value, reason in _violations(model, (), window)]
    if errors:
        raise ValidationError.from_exception_data(type(model).__name__, errors)
    return model


@dataclass(frozen=True)
class _Window:
    now: datetime
    earliest: datetime
    max_age: timedelta
    skew: timedelta

    def reason(self, moment: datetime) -> str | None:
        """Why an event time is refused, or None."""
        # The rule and its wording are the readers' too (heterdaad/event_time.py).
        if too_far_ahead(moment, now=self.now, skew=self.skew):
            return in_the_future(self.skew)
        if moment < self.earliest:
            return f"lies more than {self.max_age.days} days in the past (max_event_age_days)"
        return None


def _violations(value: object, loc: Loc, window: _Window) -> Iterator[tuple[Loc, object, str]]:
    if isinstance(value, Location):
        if not is_in_netherlands(value):
            yield loc, value.model_dump(), OUTSIDE_NETHERLANDS
        return
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            child = getattr(value, name)
            if EVENT_TIME in field.metadata and isinstance(child, datetime):
                if (reason := window.reason(child)) is not None:
                    yield (*loc, name), child.isoformat(), reason
            else:
                yield from _violations(child, (*loc, name), window)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _violations(item, (*loc, index), window)


def _error(loc: Loc, value: object, reason: str) -> InitErrorDetails:
    return {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(reason)}}
