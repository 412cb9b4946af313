"""Ground truth: which planted pattern each simulated event belongs to, for scoring detection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.common import PoliceUnit
from schemas.events import AlarmActivation, IncidentReport, ReconSighting
from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS

if TYPE_CHECKING:
    import random

    from producers.simulator.config import SimulationConfig
    from producers.simulator.timeline import Clock
    from producers.simulator.world import SimBranch, World
    from schemas.topics import TopicSpec

SimEvent = AlarmActivation | IncidentReport | ReconSighting
EventType = Literal["alarm_activation", "incident_report", "recon_sighting"]
AlarmTruth = Literal["true", "false", "test"]
AlarmRole = Literal[
    "press", "repeat_press", "second_press", "verification", "restore", "cancel", "test"
]


class GroundTruth(BaseModel):
    """One line of the ground-truth file: an event and what it really was."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    event_type: EventType
    occurred_at: datetime
    emitted_at: datetime
    branch_id: str | None
    police_unit: PoliceUnit | None = None
    alarm: AlarmTruth | None = None
    alarm_episode: UUID | None = None
    alarm_role: AlarmRole | None = None
    robbery_id: UUID | None = None
    series_id: str | None = None
    series_index: int | None = None
    recon_pattern_id: str | None = None
    recon_role: Literal["sighting", "robbery"] | None = None
    hotspot_id: str | None = None


@dataclass(frozen=True)
class ScenarioEvent:
    """An event to send, with its ground truth."""

    model: SimEvent
    truth: GroundTruth

    @property
    def spec(self) -> TopicSpec:
        return spec_of(self.model)

    @property
    def emitted_at(self) -> datetime:
        return self.truth.emitted_at


@dataclass(frozen=True)
class Robbery:
    """An incident report that happened, kept so a hold-up alarm can be pressed during it."""

    report: IncidentReport
    where: SimBranch


@dataclass(frozen=True)
class PlantedSeries:
    series_id: str
    branch_type: str
    plate_pseudonym: str
    incident_ids: tuple[UUID, ...]


@dataclass(frozen=True)
class PlantedRecon:
    pattern_id: str
    branch_type: str
    plate_pseudonym: str
    sighting_ids: tuple[UUID, ...]
    robbery_id: UUID
    robbery_branch_id: str


@dataclass
class Draft:
    """What generation has produced so far; each part of the simulator adds to it."""

    config: SimulationConfig
    clock: Clock
    world: World
    plate_key: bytes
    plate_key_id: str
    events: list[ScenarioEvent] = field(default_factory=list)
    robberies: list[Robbery] = field(default_factory=list)
    series: list[PlantedSeries] = field(default_factory=list)
    recon: list[PlantedRecon] = field(default_factory=list)
    # Branches already used by a planted pattern, so two patterns never start at one branch.
    planted_branches: set[str] = field(default_factory=set)
    # Robberies imitating a planted series' modus operandi (the copycats dial): no series.
    copycats: list[UUID] = field(default_factory=list)

    def add(
        self,
        model: SimEvent,
        *,
        emitted_at: datetime,
        where: SimBranch | None,
        **labels: object,
    ) -> GroundTruth:
        truth = GroundTruth.model_validate(
            {
                "event_id": model.event_id,
                "event_type": event_type_of(model),
                "occurred_at": occurred_at_of(model),
                "emitted_at": self.clock.cap(emitted_at),
                "branch_id": where.branch_id if where else None,
                "police_unit": where.unit if where else None,
                **labels,
            }
        )
        self.events.append(ScenarioEvent(model=model, truth=truth))
        return truth

    def add_robbery(
        self, report: IncidentReport, where: SimBranch, rng: random.Random, **labels: object
    ) -> GroundTruth:
        # Retailers enter the report after the police have been and the shop is calm again.
        delay = timedelta(minutes=rng.uniform(20, 240))
        self.robberies.append(Robbery(report=report, where=where))
        return self.add(report, emitted_at=report.occurred_at + delay, where=where, **labels)


def spec_of(model: SimEvent) -> TopicSpec:
    match model:
        case AlarmActivation():
            return ALARM_ACTIVATIONS
        case IncidentReport():
            return INCIDENT_REPORTS
        case ReconSighting():
            return RECON_SIGHTINGS


def event_type_of(model: SimEvent) -> EventType:
    match model:
        case AlarmActivation():
            return "alarm_activation"
        case IncidentReport():
            return "incident_report"
        case ReconSighting():
            return "recon_sighting"


def occurred_at_of(model: SimEvent) -> datetime:
    match model:
        case AlarmActivation():
            return model.occurred_at
        case IncidentReport():
            return model.occurred_at
        case ReconSighting():
            return model.observed_at
