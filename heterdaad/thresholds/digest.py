"""Tunable rules of the monthly digest: when a sighting was followed, when an alarm escalated."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class DigestThresholds(BaseModel):
    """Nested in Settings as `digest` (HETERDAAD_DIGEST__<FIELD> variables; docs/digest.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recon_follow_up_days: int = Field(
        14,
        ge=1,
        le=365,
        description="A reconnaissance sighting counts as 'followed by a robbery' when a robbery "
        "took place at most this many days after it (near enough, see recon_follow_up_radius_m); "
        "a sighting whose days have not passed and that nothing followed yet is 'still open'.",
    )
    recon_follow_up_radius_m: float = Field(
        1000.0,
        gt=0,
        le=50_000,
        description="How close to the sighted spot the robbery must be: 1 km takes in the "
        "branch itself and its neighbours, as the stream's reconnaissance link does.",
    )
    alarm_escalation_radius_m: float = Field(
        100.0,
        gt=0,
        le=5_000,
        description="An escalation alert (hold-up in progress, verified hold-up alarm) belongs "
        "to an alarm episode within this distance: the alert is centred on the site itself, so "
        "the margin only absorbs rounding; the shop next door is another site.",
    )
    alarm_escalation_lead_seconds: float = Field(
        300.0,
        ge=0,
        le=3600,
        description="An escalation alert may be timed this long before the episode's first "
        "press and still belong to it, for an alarm centre's clock running ahead.",
    )

    @property
    def recon_follow_up(self) -> timedelta:
        return timedelta(days=self.recon_follow_up_days)

    @property
    def alarm_escalation_lead(self) -> timedelta:
        return timedelta(seconds=self.alarm_escalation_lead_seconds)
