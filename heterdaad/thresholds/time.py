"""The model of time every stage and consumer follows (docs/time.md): live, history, lateness.

Each event carries when it happened (`occurred_at`, event time) and, where the edge knows it,
when it reached us (`received_at`). Urgency follows event time only: whatever arrives, a thing
that happened longer ago than its live horizon is history. History gets no in-progress alert,
task, desk escalation or urgent severity, but it still feeds every pattern (series,
reconnaissance, hotspots) up to `late_bound_days` late, in any order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RobberyPhase = Literal["in_the_act", "live", "history"]


class TimeModel(BaseModel):
    """Live horizons and the lateness bound (HETERDAAD_TIME__<FIELD> variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hold_up_live_minutes: float = Field(
        30,
        gt=0,
        le=24 * 60,
        description="A hold-up or panic press is 'in progress' this long after it was pressed. "
        "An older press (a centre forwarding its backlog, a replay) is history: no in-progress "
        "alert, no verify task, no desk escalation.",
    )
    robbery_in_the_act_minutes: float = Field(
        30,
        gt=0,
        le=24 * 60,
        description="A robbery is 'in the act' this long after it happened: offenders may be "
        "near, so its alert is critical. Later, up to robbery_live_hours, it still warns "
        "branches (high); after that it is history.",
    )
    robbery_live_hours: float = Field(
        24,
        gt=0,
        le=24 * 14,
        description="A robbery reported within this many hours of its time still warns its "
        "unit and the branches around it as a live alert; an older one is history.",
    )
    reconnaissance_live_days: float = Field(
        14,
        gt=0,
        le=90,
        description="A reconnaissance pattern whose newest sighting is this recent still warns "
        "branches; an older one is history (it still links to later robberies).",
    )
    pattern_live_days: float = Field(
        21,
        gt=0,
        le=365,
        description="A series or hotspot whose newest member happened within this many days "
        "is live: its alert warns the next likely targets. Otherwise it is raised as history.",
    )
    late_bound_days: float = Field(
        62,
        ge=1,
        le=3650,
        description="How late (event time against the newest event seen) a report may arrive "
        "and still count in every pattern. At least the personal-data retention, so that a "
        "monthly CBL import (one to sixty days late by design) counts.",
    )

    @model_validator(mode="after")
    def _in_the_act_within_live(self) -> TimeModel:
        if self.robbery_in_the_act_minutes > self.robbery_live_hours * 60:
            raise ValueError("robbery_in_the_act_minutes must lie within robbery_live_hours")
        return self

    # The decisions every stage takes the same way. An event time in the future (clock skew
    # within the edge's tolerance) counts as now: it is live.

    def press_is_live(self, occurred_at: datetime, now: datetime) -> bool:
        """A hold-up press is still in progress: it may raise in-progress alerts and tasks."""
        return now - occurred_at <= timedelta(minutes=self.hold_up_live_minutes)

    def robbery_phase(self, occurred_at: datetime, now: datetime) -> RobberyPhase:
        """In the act (critical), live (warns, not critical) or history (never urgent)."""
        age = now - occurred_at
        if age <= timedelta(minutes=self.robbery_in_the_act_minutes):
            return "in_the_act"
        if age <= timedelta(hours=self.robbery_live_hours):
            return "live"
        return "history"
