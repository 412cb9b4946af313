"""Tasks for alarm centres: an unverified activation is theirs to verify, not a police alert."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field

from schemas.common import Contract, EventTime, Identifier
from schemas.events import AlarmSignal


class AlarmTaskKind(StrEnum):
    VERIFY = "verify"
    """Verify the activation (camera, audio, callback) and report the outcome."""
    SITE_SILENT = "site_silent"
    """A site's test signals stopped: check the link."""


class AlarmTask(Contract):
    """Work for the alarm centre that forwarded an activation, under the follow-up procedure."""

    task_id: UUID
    kind: AlarmTaskKind
    alarm_centre: Identifier
    site_id: Identifier
    signal: AlarmSignal
    activation_ids: Annotated[list[UUID], Field(min_length=1, max_length=50)]
    respond_within_s: Annotated[float, Field(gt=0)] = Field(
        description="Answer (verify, restore or cancel) within this time; an unresolved duress "
        "press then escalates to the police (see docs/alarm-verification.md)."
    )
    dedup_key: Annotated[str, Field(min_length=1, max_length=200)]
    created_at: EventTime
