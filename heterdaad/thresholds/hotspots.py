"""Thresholds of prospective hotspot detection (streams/detect_hotspots.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HotspotThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    monte_carlo_replications: int = Field(
        999, ge=99, le=99_999, description="Permutations for the significance of a cluster."
    )
