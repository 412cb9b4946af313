"""One event per event id: a repeat under a stored id is the same event again, else a collision.

The sink writes each id once, so an event arriving under an id already held (stored, or
earlier in the batch) is either a repeat, which changes nothing (at-least-once redelivery, a
panel's retransmission, a second receiver's site_silent, the simulator's history again), or
another event, which would be lost without a word: that one is dead-lettered with why.

The same event is one of the same type, from the same organisation, with the same content
apart from its times: a retransmitted SIA frame is re-stamped (producers/sia/handling.py), a
second receiver stamps its own received_at, and a history run again shifts every time. Only
the held ids are compared, from the rows the sink looks up anyway (consumers/sink.copy_new);
a payload purged by retention leaves type and organisation to compare.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from schemas.events import AlarmActivation, IncidentReport, ReconSighting

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from uuid import UUID

    import asyncpg

    from schemas.common import Contract

logger = logging.getLogger(__name__)

# What the look-up of the held ids returns, in this order (the key first).
HELD = "event_id, event_type, organisation_id, payload::text AS payload"

# The event table's `event_type` of each kind of event; the sink writes it, a collision reads it.
MODELS: dict[str, type[Contract]] = {
    "alarm_activation": AlarmActivation,
    "incident_report": IncidentReport,
    "recon_sighting": ReconSighting,
}
EVENT_TYPE = {model: name for name, model in MODELS.items()}
# Fields, at any depth, that a repeat of an event may carry anew (a verification's `at` too).
TIMES = frozenset({"occurred_at", "received_at", "observed_at", "at"})


@dataclass(frozen=True)
class Collision:
    """A model of a batch (by its place in it) not stored: another event holds its id."""

    index: int
    reason: str


@dataclass(frozen=True)
class Arrival:
    """An event of a batch: its place in the batch, and its type and organisation as stored."""

    index: int
    model: Contract
    event_type: str
    organisation_id: str

    @property
    def event_id(self) -> UUID:
        return getattr(self.model, "event_id")  # type: ignore[no-any-return]  # noqa: B009


@dataclass(frozen=True)
class _Holder:
    """What holds an id: a stored row (its payload None once purged) or an earlier arrival."""

    event_type: str
    organisation_id: str
    model: Contract | None = None
    payload: str | None = None

    def same_content(self, model: Contract) -> bool | None:
        """Whether `model` says what the holder says, its times aside; None when the payload
        was purged (or is of an older shape), so that only type and organisation count."""
        mine = content_of(model)
        if self.model is not None:
            return bool(content_of(self.model) == mine)
        if self.payload is None:
            return None
        # The common case, a redelivery: the stored JSON as it is, cheaper than validating it
        # again (bench/RESULTS.md, the sink's redelivery); only a difference is looked closer at.
        if _without_times(json.loads(self.payload)) == mine:
            return True
        try:
            stored = MODELS[self.event_type].model_validate_json(self.payload)
        except ValidationError:  # stored under an older shape: type and organisation only
            return None
        return bool(content_of(stored) == mine)


def content_of(model: Contract) -> Any:
    """An event as compared with another under its id: its fields without their times."""
    return _without_times(model.model_dump(mode="json"))


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_times(item) for key, item in value.items() if key not in TIMES}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    return value


def collisions(
    arrivals: Sequence[Arrival], held: Mapping[object, asyncpg.Record]
) -> list[Collision]:
    """The arrivals whose id another event holds, in the rows of `held` (looked up with HELD,
    by event id) or earlier in `arrivals`; repeats are left out."""
    holders: dict[object, _Holder] = {
        key: _Holder(record["event_type"], record["organisation_id"], payload=record["payload"])
        for key, record in held.items()
    }
    found: list[Collision] = []
    for arrival in arrivals:
        holder = holders.get(arrival.event_id)
        if holder is None:
            holders[arrival.event_id] = _Holder(
                arrival.event_type, arrival.organisation_id, model=arrival.model
            )
            continue
        reason = _taken(holder, arrival)
        if reason is not None:
            logger.warning(
                "event id taken by another event",
                extra={"event_id": str(arrival.event_id), "event_type": arrival.event_type,
                       "organisation_id": arrival.organisation_id,
                       "held_by_type": holder.event_type,
                       "held_by_organisation": holder.organisation_id},
            )  # fmt: skip
            found.append(Collision(arrival.index, reason))
    return found


def _taken(holder: _Holder, arrival: Arrival) -> str | None:
    """Why `arrival` is not the event `holder` is, or None for a repeat."""
    taken = f"event id {arrival.event_id} is taken: another event holds it"
    if (holder.event_type, holder.organisation_id) != (
        arrival.event_type,
        arrival.organisation_id,
    ):
        return (
            f"{taken} ({holder.event_type} of {holder.organisation_id}; this is "
            f"{arrival.event_type} of {arrival.organisation_id})"
        )
    if holder.same_content(arrival.model) is False:
        return f"{taken} ({holder.event_type} of {holder.organisation_id} with other content)"
    return None
