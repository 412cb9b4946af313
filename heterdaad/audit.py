"""The one writer of the audit trail: who did or saw what, as rows of `audit_log`.

Every part writes its audit rows here, in the transaction of what it audits where it has one,
so that a change and its trail are stored together or not at all (Wet politiegegevens art.
32a asks for logs of collection, consultation and disclosure). There is no audit topic: a row
that depended on a broker round trip could be lost between the action and the log, and the
only reader of the trail is PostgreSQL (the retention of `audit_log` is its own,
`audit_retention_days`). The rows' shape is `schemas.events.AuditEvent`'s; callers that hold
one convert it with `row_of`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    import asyncpg

    from schemas.events import AuditEvent

SUBJECT_CHARACTERS = 200  # a subject names a thing; a longer one is cut, never refused

_INSERT = (
    "INSERT INTO audit_log (audit_id, at, actor, action, subject, details) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (audit_id) DO NOTHING"
)


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any] = field(default_factory=dict)
    audit_id: uuid.UUID = field(default_factory=uuid.uuid4)


def row_of(event: AuditEvent) -> AuditRow:
    return AuditRow(event.at, event.actor, event.action.value, event.subject, event.details,
                    event.audit_id)  # fmt: skip


async def write_audit_rows(
    db: asyncpg.Connection | asyncpg.Pool, rows: Sequence[AuditRow]
) -> None:
    """Store the rows; one written twice (a retried transaction) is stored once."""
    if not rows:
        return
    await db.executemany(
        _INSERT,
        [
            (row.audit_id, row.at, row.actor, row.action, row.subject[:SUBJECT_CHARACTERS],
             json.dumps(row.details, default=str))
            for row in rows
        ],
    )  # fmt: skip
