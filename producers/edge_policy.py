"""Intake policy, checked once where an event enters: no time in the future, no point abroad.

The contract (schemas/) checks shape only, so that a record valid when it was produced stays
valid for every reader, whatever its clock or gazetteer. What depends on the moment of arrival
or on the place data is judged here, by each edge: the API (single, batch, /meld), the CBL
import, the SIA receiver and the simulator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails

from heterdaad.settings import get_settings
from schemas.common import EVENT_TIME, Location
from schemas.geography import is_in_netherlands

if TYPE_CHECKING:
    from collections.abc import Iterator

Model = TypeVar("Model", bound=BaseModel)
Loc = tuple[str | int, ...]

OUTSIDE_NETHERLANDS = "lies outside the Netherlands (its border and territorial sea)"


def admit(
    model: Model, *, clock_skew: timedelta | None = None, now: datetime | None = None
) -> Model:
    """The model itself when it passes the intake policy, else a ValidationError naming each field.

    The error has pydantic's shape (type value_error, loc, msg), so an edge reports it as it
    reports a malformed field. clock_skew defaults to Settings.clock_skew_seconds.
    """
    if clock_skew is None:
        clock_skew = timedelta(seconds=get_settings().clock_skew_seconds)
    latest = (now or datetime.now(UTC)) + clock_skew
    found = _violations(model, (), latest, clock_skew)
    errors = [_error(loc, value, reason) for loc, value, reason in found]
    if errors:
        raise ValidationError.from_exception_data(type(model).__name__, errors)
    return model


def _violations(
    value: object, loc: Loc, latest: datetime, skew: timedelta
) -> Iterator[tuple[Loc, object, str]]:
    if isinstance(value, Location):
        if not is_in_netherlands(value):
            yield loc, value.model_dump(), OUTSIDE_NETHERLANDS
        return
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            child = getattr(value, name)
            if EVENT_TIME in field.metadata and isinstance(child, datetime):
                if child > latest:
                    reason = f"lies in the future by more than the allowed clock skew ({skew})"
                    yield (*loc, name), child.isoformat(), reason
            else:
                yield from _violations(child, (*loc, name), latest, skew)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _violations(item, (*loc, index), latest, skew)


def _error(loc: Loc, value: object, reason: str) -> InitErrorDetails:
    return {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(reason)}}
