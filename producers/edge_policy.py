"""Intake policy, checked once where an event enters: no time in the future or years back, no
point abroad, no alarm verified before it was pressed.

The contract (schemas/) checks shape only, so that a record valid when it was produced stays
valid for every reader, whatever its clock or gazetteer. What depends on the moment of arrival
or on the place data is judged here, by each edge: the API (single, batch, /meld), the CBL
import, the SIA receiver and the simulator.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails

from heterdaad.event_time import duration_text, in_the_future, too_far_ahead
from heterdaad.settings import get_settings
from schemas.common import EVENT_TIME, Location
from schemas.events import AlarmActivation, Verification
from schemas.geography import is_in_netherlands

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

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
    window = _window(clock_skew, max_age, now)
    errors = [_error(loc, value, reason) for loc, value, reason in _violations(model, (), window)]
    if errors:
        raise ValidationError.from_exception_data(type(model).__name__, errors)
    return model


def refusals_of_parts(
    model: type[BaseModel],
    data: Mapping[str, Any],
    *,
    clock_skew: timedelta | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[tuple[Loc, str]]:
    """What admit would refuse in the fields of data that are valid on their own: (loc, reason).

    For a body the model refuses as a whole (one field malformed): an edge that lists every
    reason at once names the time and the place as well, instead of after the next attempt.
    A field that does not validate alone is looked into if it is a model (a branch with one
    bad cell still has its location judged), else left to the model's own error.
    """
    window = _window(clock_skew, max_age, now)
    return [(loc, reason) for loc, _, reason in _part_violations(model, data, (), window)]


def with_refusals_of_parts(
    error: ValidationError, model: type[BaseModel], data: object
) -> list[ErrorDetails]:
    """The errors of a body `model` refused, and what admit refuses in its other fields.

    The API's answer to a malformed body: a count that is no number and a time in the future
    are named in one 422, in the words admit would use. A refusal of a field that already has
    an error of its own, or lies inside or around one, is left out: it says nothing new.
    """
    errors = error.errors(include_url=False)
    if not isinstance(data, dict):
        return errors
    named = [tuple(item["loc"]) for item in errors]
    refusals = [
        _error(loc, None, reason)
        for loc, reason in refusals_of_parts(model, data)
        if not any(_nested(loc, other) or _nested(other, loc) for other in named)
    ]
    if not refusals:
        return errors
    more = ValidationError.from_exception_data(model.__name__, refusals)
    return errors + more.errors(include_url=False)


def _nested(inner: Loc, outer: Loc) -> bool:
    return len(outer) > 0 and inner[: len(outer)] == outer


def _window(
    clock_skew: timedelta | None, max_age: timedelta | None, now: datetime | None
) -> _Window:
    if clock_skew is None or max_age is None:
        settings = get_settings()
        if clock_skew is None:
            clock_skew = timedelta(seconds=settings.clock_skew_seconds)
        if max_age is None:
            max_age = timedelta(days=settings.max_event_age_days)
    moment = now or datetime.now(UTC)
    return _Window(moment, moment - max_age, max_age, clock_skew)


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
        yield from _order_violations(type(value), vars(value), loc, window)
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


def _part_violations(
    model: type[BaseModel], data: Mapping[str, Any], loc: Loc, window: _Window
) -> Iterator[tuple[Loc, object, str]]:
    valid: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        try:
            value = _field_adapter(model, name).validate_python(data[name])
        except ValidationError:
            inner = _model_of(field.annotation)
            if inner is not None and isinstance(data[name], dict):
                yield from _part_violations(inner, data[name], (*loc, name), window)
            continue
        valid[name] = value
        if EVENT_TIME in field.metadata and isinstance(value, datetime):
            if (reason := window.reason(value)) is not None:
                yield (*loc, name), value.isoformat(), reason
        else:
            yield from _violations(value, (*loc, name), window)
    yield from _order_violations(model, valid, loc, window)


def _order_violations(
    model: type[BaseModel], fields: Mapping[str, Any], loc: Loc, window: _Window
) -> Iterator[tuple[Loc, object, str]]:
    """What the order of two times of a model refuses; `fields` are the valid ones it has.

    An alarm centre verifies a press after it came in: a verification more than the clock
    skew before the press (the centre's clock against the panel's) is a wrong time, and the
    desk would show a verdict older than the alarm it is about.
    """
    if not issubclass(model, AlarmActivation):
        return
    pressed, verification = fields.get("occurred_at"), fields.get("verification")
    if not isinstance(pressed, datetime) or not isinstance(verification, Verification):
        return  # a field refused on its own: the order cannot be judged
    if verification.at < pressed - window.skew:
        reason = (
            f"lies before occurred_at ({pressed.isoformat()}) by more than the allowed "
            f"clock skew ({duration_text(window.skew)})"
        )
        yield (*loc, "verification", "at"), verification.at.isoformat(), reason


@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    return TypeAdapter(annotation)


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (Branch, or Getaway | None), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [arg for arg in typing.get_args(annotation) if _model_of(arg) is not None]
        if len(models) == 1:
            return _model_of(models[0])
    return None


def _error(loc: Loc, value: object, reason: str) -> InitErrorDetails:
    return {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(reason)}}
