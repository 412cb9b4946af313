"""Thresholds of robbery series linkage (streams/link_series.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SeriesThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_gap_days: float = Field(
        21, gt=0, le=365, description="Robberies further apart in time are never linked."
    )
