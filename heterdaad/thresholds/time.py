"""The model of time every stage and consumer follows (docs/time.md): live, history, lateness.

Each event carries when it happened (`occurred_at`, event time) and, where the edge knows it,
when it reached us (`received_at`). Urgency follows event time only: whatever arrives, a thing
that happened longer ago than its live horizon is history. History gets no in-progress alert,
task, desk escalation or urgent severity, but it still feeds every pattern (series,
reconnaissance, hotspots) up to `late_bound_days` late, in any order.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
