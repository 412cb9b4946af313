"""The store of alarm centres' tasks: kept once per task id, ended by either kind of verdict.

Decisions (docs/alarm-tasks.md):
- the sink stores `alarm-tasks.v1` (`UPSERT_TASK`); a replayed task changes nothing, not even
  a verdict recorded meanwhile;
- a task ends with the first verdict, whichever way it came: `record_verdict` (the API) or
  `settle` (an activation with a verification, as the sink stores it). Which press it answers
  is decided as the verifier does: a verification whose `occurred_at` lies within the
  sequential window after the task's first press;
- a verdict after the deadline is recorded all the same, marked `late`; `expire` marks open
  tasks past their deadline, so a list says which still wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from schemas.events import AlarmActivation
from schemas.tasks import AlarmTask, AlarmTaskKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    import asyncpg

    from schemas.common import Contract

logger = logging.getLogger(__name__)

UPSERT_TASK = """
INSERT INTO alarm_task (task_id, kind, alarm_centre, site_id, signal, activation_ids, dedup_key,
                        created_at, deadline)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (task_id) DO NOTHING
"""

# The earliest verification of each unanswered verify task of these sites, among the
# activations stored so far; the press is the task's first activation.
_SETTLE = """
WITH answer AS (
    SELECT DISTINCT ON (t.task_id)
           t.task_id, e.organisation_id,
           (e.payload -> 'verification' ->> 'at')::timestamptz AS at,
           e.payload -> 'verification' ->> 'method' AS method,
           (e.payload -> 'verification' ->> 'verified')::boolean AS verified
      FROM alarm_task t
      JOIN event p ON p.event_id = t.activation_ids[1]
      JOIN event e ON e.event_type = 'alarm_activation'
                  AND e.payload -> 'site' ->> 'site_id' = t.site_id
                  AND e.organisation_id = t.alarm_centre
                  AND jsonb_typeof(e.payload -> 'verification') = 'object'
                  AND e.occurred_at >= p.occurred_at
                  AND e.occurred_at <= p.occurred_at + make_interval(secs => $2)
     WHERE t.site_id = ANY($1::text[]) AND t.kind = 'verify' AND t.status <> 'answered'
     ORDER BY t.task_id, 3
)
UPDATE alarm_task t
   SET status = 'answered', answered_via = 'activation', answered_by = a.organisation_id,
       answered_at = a.at, verdict_method = a.method, verified = a.verified,
       late = a.at > t.deadline
  FROM answer a
 WHERE t.task_id = a.task_id
RETURNING t.task_id, t.site_id, a.verified, t.late
"""


def stored_channel(schema: str) -> str:
    """The PostgreSQL notification channel told when new tasks are stored (per schema: channels
    are database-wide). Listeners use it to look at once instead of at their next poll."""
    return f"{schema}.alarm_task"


async def tell_stored(
    connection: asyncpg.Connection, models: Iterable[Contract], schema: str
) -> None:
    """Notify listeners of new tasks, delivered when the caller's transaction commits."""
    if any(isinstance(model, AlarmTask) for model in models):
        await connection.execute("SELECT pg_notify($1, '')", stored_channel(schema))


def task_row(task: AlarmTask) -> tuple[object, ...]:
    """The arguments of UPSERT_TASK for one task: its deadline is raised time + respond_within."""
    deadline = task.created_at + timedelta(seconds=task.respond_within_s)
    return (
        task.task_id, task.kind.value, task.alarm_centre, task.site_id, task.signal.value,
        task.activation_ids, task.dedup_key, task.created_at, deadline,
    )  # fmt: skip


def sites_to_settle(models: Iterable[Contract]) -> list[str]:
    """Sites whose tasks a batch may end: new verify tasks, and new verifications."""
    sites = set()
    for model in models:
        if isinstance(model, AlarmTask) and model.kind is AlarmTaskKind.VERIFY:
            sites.add(model.site_id)
        elif isinstance(model, AlarmActivation) and model.verification is not None:
            sites.add(model.site.site_id)
    return sorted(sites)


async def settle(
    connection: asyncpg.Connection, site_ids: list[str], sequential_window_seconds: float
) -> int:
    """End the tasks of these sites that a stored verification answers; returns how many.

    Run after the batch's rows are in: the task and its verification come on two topics, in
    either order, and whichever comes second finds the other.
    """
    if not site_ids:
        return 0
    ended = await connection.fetch(_SETTLE, site_ids, sequential_window_seconds)
    for row in ended:
        logger.info(
            "alarm task answered by an activation",
            extra={"task_id": str(row["task_id"]), "site_id": row["site_id"],
                   "verified": row["verified"], "late": row["late"]},
        )  # fmt: skip
    return len(ended)


async def expire(
    connection: asyncpg.Connection | asyncpg.Pool, now: datetime, alarm_centre: str | None = None
) -> None:
    """Mark open tasks (of one centre, or all) past their deadline expired (a verdict may
    still end them)."""
    await connection.execute(
        "UPDATE alarm_task SET status = 'expired' WHERE status = 'open' AND deadline < $1 "
        "AND ($2::text IS NULL OR alarm_centre = $2)",
        now, alarm_centre,
    )  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """What an alarm centre found, as the API records it."""

    method: str
    verified: bool
    note: str | None
    at: datetime
    by: str


async def record_verdict(
    connection: asyncpg.Connection | asyncpg.Pool, task_id: UUID, verdict: Verdict
) -> bool | None:
    """Record the verdict on an unanswered task: its `late` flag, or None when it was answered."""
    row = await connection.fetchrow(
        """UPDATE alarm_task
              SET status = 'answered', answered_via = 'api', answered_by = $2, answered_at = $3,
                  verdict_method = $4, verified = $5, verdict_note = $6, late = $3 > deadline
            WHERE task_id = $1 AND status <> 'answered'
        RETURNING late""",
        task_id, verdict.by, verdict.at, verdict.method, verdict.verified, verdict.note,
    )  # fmt: skip
    return None if row is None else bool(row["late"])


async def withdraw_verdict(pool: asyncpg.Pool, task_id: UUID, at: datetime) -> None:
    """Take back a verdict recorded at `at` through the API that never reached the broker."""
    await pool.execute(
        """UPDATE alarm_task
              SET status = CASE WHEN deadline < now() THEN 'expired' ELSE 'open' END,
                  answered_at = NULL, answered_via = NULL, answered_by = NULL,
                  verdict_method = NULL, verified = NULL, verdict_note = NULL, late = NULL
            WHERE task_id = $1 AND answered_via = 'api' AND answered_at = $2""",
        task_id, at,
    )  # fmt: skip
