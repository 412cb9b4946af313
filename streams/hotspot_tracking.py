"""Prospective hotspots as pure decisions: the scan as of each event time, replayed if late."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from heterdaad.hotspot_scan import Hotspot, Status, parameters_of, step_at
from heterdaad.thresholds.series import SeriesThresholds
from heterdaad.thresholds.time import TimeModel
from schemas.common import BranchType, PoliceUnit
from schemas.events import IncidentReport, ReconSighting
from schemas.geography import police_unit_for
from streams.watermarks import newest_by_input, slowest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from heterdaad.thresholds.hotspots import HotspotThresholds

logger = logging.getLogger(__name__)

# The defaults of Settings.time and Settings.series; the stage passes its own.
LATE_BOUND_DAYS = TimeModel().late_bound_days
DUPLICATE_MINUTES = SeriesThresholds().duplicate_minutes


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Observation(_State):
    """What a scan needs of an event; no descriptions, vehicles or free text."""

    event_id: uuid.UUID
    event_type: Literal["incident_report", "recon_sighting"]
    at: AwareDatetime
    lat: float
    lon: float
    police_unit: PoliceUnit
    branch_type: BranchType | None = None
    # A robbery's branch, to know its second report (an Observation of before it has none).
    branch_id: str | None = None


class Evaluation(_State):
    """The hotspots open after the scan at one event time: where a replay starts from."""

    at: AwareDatetime
    hotspots: tuple[Hotspot, ...] = ()


class HotspotState(_State):
    """The whole country's state (table value, as JSON): recent events, open hotspots, the
    scans of the last `late_bound_days` to replay from, and the changes already sent."""

    since: AwareDatetime | None = None
    watermark: AwareDatetime | None = None
    # The newest event time of each kind of event (robberies, sightings); lateness and
    # forgetting are measured against the slowest kind (streams/watermarks.py).
    newest: dict[str, AwareDatetime] = {}
    observations: tuple[Observation, ...] = ()
    hotspots: tuple[Hotspot, ...] = ()
    evaluations: tuple[Evaluation, ...] = ()
    sent: dict[str, AwareDatetime] = {}
    too_late: int = 0


@dataclass(frozen=True, slots=True)
class HotspotChange:
    """A hotspot raised, materially updated or closed, with the events behind it."""

    status: Status
    hotspot: Hotspot
    events: tuple[Observation, ...]
    scanned_at: datetime


def observation_of(event: IncidentReport | ReconSighting) -> Observation:
    """The scan's view of a reported robbery or a reconnaissance sighting."""
    robbery = isinstance(event, IncidentReport)
    where = event.branch.location if isinstance(event, IncidentReport) else event.where
    at = event.occurred_at if isinstance(event, IncidentReport) else event.observed_at
    return Observation(
        event_id=event.event_id,
        event_type="incident_report" if robbery else "recon_sighting",
        at=at,
        lat=where.lat,
        lon=where.lon,
        police_unit=police_unit_for(where),
        branch_type=event.branch.branch_type if event.branch else None,
        branch_id=event.branch.branch_id if robbery and event.branch else None,
    )


def reported_twice(a: Observation, b: Observation, window: timedelta) -> bool:
    """Two reports of one robbery (the shop's and the trade association's): one branch, at
    most `window` apart, as the series stage tells them (docs/series-linkage.md)."""
    return (a.event_type == b.event_type == "incident_report" and a.branch_id is not None
            and a.branch_id == b.branch_id and abs(a.at - b.at) <= window)  # fmt: skip


class HotspotTracker:
    """Scans as of every event time and turns the clusters into hotspot changes (pure).

    The scan at event time p covers the events up to p (windows ending at p): what a
    prospective scan run when p was the newest event would have seen had every event arrived
    on time. A late event (up to `late_bound_days` behind the slower kind of event,
    streams/watermarks.py) replays the scans from its time on,
    starting from the hotspots open just before it, so the hotspots come out the same in any
    arrival order; changes the replay finds that were already sent are not sent again.
    An event further back (up to `study_days`) is history, a year's files loaded while live
    events come in: it joins the events kept, as baseline of the scans to come, and no scan
    is replayed for it. The days a scan's study period covers leave out spans of
    `baseline_gap_days` without any event, so a patchy history is not counted as unbroken.
    """

    def __init__(
        self,
        thresholds: HotspotThresholds,
        late_bound_days: float = LATE_BOUND_DAYS,
        duplicate_minutes: float = DUPLICATE_MINUTES,
    ) -> None:
        self.thresholds = thresholds
        self.late_bound = timedelta(days=late_bound_days)
        self.duplicate_window = timedelta(minutes=duplicate_minutes)
        self.parameters = parameters_of(thresholds)

    def observe(
        self, state: HotspotState, event: Observation
    ) -> tuple[HotspotState, list[HotspotChange]]:
        """The state after one more event, and what changed about the hotspots."""
        return self.observe_many(state, [event])

    def observe_many(
        self, state: HotspotState, events: Iterable[Observation]
    ) -> tuple[HotspotState, list[HotspotChange]]:
        """The state after a batch of events (a burst replays once), and what changed."""
        known = {o.event_id for o in state.observations}
        fresh: list[Observation] = []
        for event in events:
            if event.event_id in known:  # a redelivered event: nothing to learn
                continue
            known.add(event.event_id)
            # One robbery reported twice is one event: counted twice, a robbery and a
            # second one reported by shop and trade association made three, a hotspot.
            if not any(reported_twice(event, o, self.duplicate_window)
                       for o in (*state.observations, *fresh)):  # fmt: skip
                fresh.append(event)
        if not fresh:
            return state, []
        watermark = max([*(e.at for e in fresh), *filter(None, [state.watermark])])
        # State written before the kinds were told apart: each kind's newest among those kept.
        before = state.newest or newest_by_input((o.event_type, o.at) for o in state.observations)
        newest, slowest_kind = slowest(before, ((e.event_type, e.at) for e in fresh))
        study = timedelta(days=self.thresholds.study_days)
        # Up to the bound behind the slower kind: scanned, replayed if late. Beyond it, up to
        # study_days: history (a year's files loaded while live events come in), kept as
        # baseline for the scans still to come, but no scan is replayed for it. Older than
        # study_days: no scan's study period reaches it.
        timely = [e for e in fresh if e.at >= slowest_kind - min(self.late_bound, study)]
        history = [
            e for e in fresh if slowest_kind - study <= e.at < slowest_kind - self.late_bound
        ]
        too_late = [e for e in fresh if e.at < slowest_kind - study]
        if too_late:
            logger.warning(
                "observations too late for hotspot detection",
                extra={"event_ids": [str(e.event_id) for e in too_late],
                       "too_late_total": state.too_late + len(too_late)},
            )  # fmt: skip
        if history:
            logger.info(
                "observations beyond the lateness bound taken as baseline only",
                extra={"count": len(history), "oldest": min(e.at for e in history).isoformat(),
                       "newest": max(e.at for e in history).isoformat()},
            )  # fmt: skip
        if not timely and not history:
            return state.model_copy(update={"too_late": state.too_late + len(too_late)}), []
        since = min([*(e.at for e in (*timely, *history)), *filter(None, [state.since])])
        # Scans up to the bound back need their own study period before them.
        keep_from = slowest_kind - study - self.late_bound
        kept = sorted((*state.observations, *timely, *history),
                      key=lambda o: (o.at, str(o.event_id)))  # fmt: skip
        kept = [o for o in kept if o.at >= keep_from][-self.thresholds.max_events :]
        if not timely:
            # History only: the scans to come count it; none is replayed for it.
            return state.model_copy(update={
                "since": since, "watermark": watermark, "newest": newest,
                "observations": tuple(kept), "too_late": state.too_late + len(too_late),
            }), []  # fmt: skip
        replay_from = min(e.at for e in timely)
        evaluations = [e for e in state.evaluations if e.at < replay_from]
        if evaluations:
            open_now = evaluations[-1].hotspots
        else:  # nothing scanned before: a fresh state (or one from before the replays)
            open_now = () if state.evaluations else state.hotspots
        changes: list[HotspotChange] = []
        for at in sorted({o.at for o in kept if o.at >= replay_from}):
            open_now, found = self._scan_at(kept, at, since, open_now)
            evaluations.append(Evaluation(at=at, hotspots=open_now))
            changes += found
        # Keep the scans a late event may replay from: those within the bound, and the last
        # one before it as the starting point.
        cut = slowest_kind - self.late_bound
        start = max((i for i, e in enumerate(evaluations) if e.at < cut), default=0)
        evaluations = evaluations[start:]
        sent = {key: at for key, at in state.sent.items() if at >= evaluations[0].at}
        new = [c for c in changes if change_key(c) not in sent]
        sent |= {change_key(c): c.scanned_at for c in new}
        new_state = HotspotState(
            since=since,
            watermark=watermark,
            newest=newest,
            observations=tuple(kept),
            hotspots=open_now,
            evaluations=tuple(evaluations),
            sent=sent,
            too_late=state.too_late + len(too_late),
        )
        return new_state, new

    def _scan_at(
        self, observations: list[Observation], at: datetime, since: datetime,
        open_before: tuple[Hotspot, ...],
    ) -> tuple[tuple[Hotspot, ...], list[HotspotChange]]:  # fmt: skip
        """The prospective scan as of event time `at`: the hotspots open after it, and what
        changed about them."""
        step = step_at(
            observations, at, since, open_before, self.thresholds, parameters=self.parameters
        )
        return step.open, [
            self._change(status, hotspot, step.events, at) for status, hotspot in step.changes
        ]

    @staticmethod
    def _change(
        status: Status, hotspot: Hotspot, kept: list[Observation], at: datetime
    ) -> HotspotChange:
        ids = set(hotspot.event_ids)
        return HotspotChange(status, hotspot, tuple(o for o in kept if o.event_id in ids), at)


def change_key(change: HotspotChange) -> str:
    """What a change is, as its alert's dedup key says: one key, one notification."""
    suffix = "closed" if change.status == "closed" else f"v{change.hotspot.version}"
    return f"hotspot:{change.hotspot.hotspot_id}:{suffix}"
