"""Thresholds of reconnaissance linkage (streams/link_reconnaissance.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReconThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: float = Field(
        7, gt=0, le=60, description="Sightings within this many days can form one pattern."
    )
