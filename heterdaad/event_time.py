"""An event time ahead of the clock: the one rule, in the one wording, wherever an event enters.

The edges (producers/edge_policy.py: the API, /meld, the CBL import, the SIA receiver, the
simulator) refuse an event whose time lies further in the future than the allowed clock skew
(Settings.clock_skew_seconds) when it arrives. A record written to a source topic straight,
past every edge, is held to the same rule where it is read, by the reader's clock then and
with READ_MARGIN more (read_skew): the worker's intake (streams/intake.py) and the sink's
(heterdaad/events, consumers/sink.py) dead-letter it with the edge's words. One such record
a year ahead became a live alert and moved every stage's event-time clock (the series stage
would have forgotten every report it kept), and the history listed it first.

Only the source topics (`ENTERING`) are held to it: alerts and alarm tasks are written by the
worker, with its own clock, not by an edge.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, get_args

from pydantic import BaseModel

from schemas.common import EVENT_TIME
from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from schemas.topics import TopicSpec

ENTERING: tuple[TopicSpec, ...] = (ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS)
"""The topics whose events come in through an edge (or straight, past them)."""


def duration_text(span: timedelta) -> str:
    """'2 minutes', '90 seconds', '1 hour': a setting's span as staff read it, not '0:02:00'."""
    seconds = round(span.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


READ_MARGIN = timedelta(minutes=10)
"""What a reader allows beyond the edges' skew. An edge judged the time by its own clock; a
reader whose clock lags the edge's must not refuse what the edge took (a live hold-up lost),
while a record days ahead, the harm this guards against, is refused all the same."""


def read_skew(edge_skew: timedelta) -> timedelta:
    """How far ahead of a reader's clock an event time may lie: the edges' skew and READ_MARGIN."""
    return edge_skew + READ_MARGIN


def in_the_future(skew: timedelta) -> str:
    """Why an event time is refused that lies beyond `skew` ahead of the clock."""
    return f"lies in the future by more than the allowed clock skew ({duration_text(skew)})"


def too_far_ahead(moment: datetime, *, now: datetime, skew: timedelta) -> bool:
    """Whether `moment` lies further ahead of `now` than `skew`; exactly `skew` is allowed."""
    return moment > now + skew


def ahead_of_clock(model: BaseModel, *, now: datetime, skew: timedelta) -> str | None:
    """Why `model` is refused, naming the first event time too far ahead of `now`
    ('occurred_at: lies in the future by more than the allowed clock skew (2 minutes)'),
    or None when every event time in it is at most `skew` ahead."""
    for where, moment in event_times(model):
        if too_far_ahead(moment, now=now, skew=skew):
            return f"{where}: {in_the_future(skew)}"
    return None


def event_times(value: object, where: str = "") -> Iterator[tuple[str, datetime]]:
    """Every event time (a field marked EVENT_TIME) in a model, with its path ('history.0.at')."""
    if isinstance(value, BaseModel):
        if not _may_hold_times(type(value)):
            return  # a branch, an address, a description: nothing to walk (on every record)
        for name, field in type(value).model_fields.items():
            child = getattr(value, name)
            path = f"{where}.{name}" if where else name
            if EVENT_TIME in field.metadata and isinstance(child, datetime):
                yield path, child
            else:
                yield from event_times(child, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from event_times(item, f"{where}.{index}" if where else str(index))


@cache
def _may_hold_times(model: type[BaseModel]) -> bool:
    """Whether a model's fields, or the models they may hold, include an event time."""
    return _holds_times(model, set())


def _holds_times(model: type[BaseModel], visiting: set[type[BaseModel]]) -> bool:
    if model in visiting:  # a model that holds itself, at any depth
        return False
    visiting.add(model)
    return any(
        EVENT_TIME in field.metadata
        or any(_holds_times(inner, visiting) for inner in _models_in(field.annotation))
        for field in model.model_fields.values()
    )


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The models an annotation names: X, list[X], X | None, dict[str, X], ..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in get_args(annotation):
        yield from _models_in(argument)
