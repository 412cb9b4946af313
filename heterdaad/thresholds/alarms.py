"""Thresholds of alarm verification and false-alarm suppression (streams/verify_alarms.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The press signals by name: importing schemas here would import the settings back.
PressSignal = Literal["panic", "hold_up", "duress"]


class AlarmThresholds(BaseModel):
    """How an unverified press is followed up; docs/alarm-verification.md has the procedure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    restore_grace_seconds: float = Field(
        120, gt=0, le=3600, description="A restore or cancel this soon after a press: no alert."
    )
    sequential_window_seconds: float = Field(
        300,
        gt=0,
        le=3600,
        description="Presses at one site within this many seconds (event time) of the first "
        "are one episode: a second press by another staff member verifies it (sequential "
        "verification), a repeat by the same person is only noted.",
    )
    verify_timeout_seconds: float = Field(
        600,
        gt=0,
        le=24 * 3600,
        description="The alarm centre's time to verify (respond_within_s of its task); a press "
        "of a timeout signal unresolved by then escalates to the police at high severity.",
    )
    timeout_signals: frozenset[PressSignal] = Field(
        frozenset({"duress"}),
        description="Presses that escalate when the centre leaves them unresolved. Under the "
        "2021 procedure an unverified button press goes to the site's contact, not the police; "
        "a duress code is entered deliberately, so its silence is taken seriously.",
    )
    unreliable_site_false_alarms: int = Field(
        3,
        ge=1,
        le=1000,
        description="A site with this many false alarms and none verified gets no timeout "
        "escalation; its verified alarms still alert.",
    )
    late_press_seconds: float = Field(
        900,
        gt=0,
        le=24 * 3600,
        description="A press that reaches this stage more than this long after it occurred gets "
        "no verify task and no timeout: the centre has long dealt with it.",
    )
    episode_retention_hours: float = Field(
        6,
        gt=0,
        le=7 * 24,
        description="How long (event time) an episode waits for late evidence: a verification, "
        "an out-of-order press, a robbery report entered after the police have been.",
    )
    report_match_radius_m: float = Field(
        50,
        gt=0,
        le=250,
        description="A robbery report of a branch of the site's type within this distance of the "
        "site is a report from the site's branch.",
    )
    report_match_seconds: float = Field(
        900,
        gt=0,
        le=6 * 3600,
        description="...if the robbery's time lies within this many seconds of the first press.",
    )
    timer_seconds: float = Field(
        5, gt=0, le=300, description="How often a worker looks for overdue verify tasks."
    )
    maintenance_refresh_seconds: float = Field(
        60,
        gt=0,
        le=3600,
        description="How often a worker reads the sites' maintenance windows "
        "(alarm_site_maintenance) from the database.",
    )
    batch_max: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Most inputs decided together: their alerts and tasks wait for the broker's "
        "acknowledgement once, together, before the cells' state is saved.",
    )
    batch_wait_seconds: float = Field(
        0.005,
        gt=0,
        le=1,
        description="How long a batch waits to fill up; every input may be delayed this long.",
    )

    @model_validator(mode="after")
    def _windows_fit(self) -> AlarmThresholds:
        # Evidence must be able to arrive within the time an episode is kept.
        retention = self.episode_retention_hours * 3600
        longest = max(self.sequential_window_seconds, self.verify_timeout_seconds,
                      self.report_match_seconds, self.restore_grace_seconds)  # fmt: skip
        if longest > retention:
            raise ValueError("episode_retention_hours must cover every window and the timeout")
        return self
