"""Thresholds of alarm verification and false-alarm suppression (streams/verify_alarms.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlarmThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    restore_grace_seconds: float = Field(
        120, gt=0, le=3600, description="A restore or cancel this soon after a press: no alert."
    )
