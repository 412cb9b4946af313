"""Alarm centres' verify tasks to their webhooks, through the notification log.

The sink stores `alarm-tasks.v1` in `alarm_task`; that table is the outbox, as the alert table
is for notices. Each delivery pass takes the tasks not dispatched yet and writes one row per
webhook of the task's centre (`notice` 'task', dedup key `<task dedup key>#task`), marking the
task dispatched in the same transaction, even when the centre has no webhook: a centre that
subscribes later long-polls its open tasks instead (docs/alarm-tasks.md). From there a task is
sent like an alert: rate limit, signed POST, retries, `delivery_attempt`.

Decisions:
- every webhook subscription of the centre receives its tasks; tasks are the centre's work, not
  alerts, so alert kinds, severity, areas and time windows do not filter them;
- silences and inhibition do not mute them (stages.MuteStage): a silence is about alerts to
  police and branches, and a task held back leaves an alarm unverified;
- a task whose deadline has passed before it is dispatched (a notify that was down) is marked
  dispatched to nobody: the centre can no longer answer it in time, and the list still shows it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from consumers.alert_text import local_time
from consumers.notify import nflog
from consumers.notify.route import webhook_recipient
from schemas.alerts import RecipientRole

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

    from consumers.notify.route import Directory, SubscriptionRule
    from heterdaad.language import Language
    from heterdaad.thresholds.notify import NotifyThresholds

logger = logging.getLogger(__name__)

TASK_GROUP = "notice=task"

SIGNAL: dict[str, dict[Language, str]] = {
    "panic": {"nl": "paniekknop", "en": "panic button"},
    "hold_up": {"nl": "overvalknop", "en": "hold-up button"},
    "duress": {"nl": "dwangcode", "en": "duress code"},
    "site_silent": {"nl": "verbinding stil", "en": "link silent"},
}
TASK_KIND: dict[str, dict[Language, str]] = {
    "verify": {"nl": "Verifieer alarm", "en": "Verify alarm"},
    "site_silent": {"nl": "Controleer verbinding", "en": "Check the link"},
}
_ANSWER_BY: dict[Language, str] = {"nl": "antwoord voor {time}", "en": "answer by {time}"}

_TO_DISPATCH = """
SELECT * FROM alarm_task
 WHERE dispatched_at IS NULL AND stored_at >= $1
 ORDER BY stored_at
 LIMIT $2
   FOR UPDATE SKIP LOCKED
"""


def task_summary(row: asyncpg.Record | dict[str, Any], language: Language) -> str:
    """One line: what to do, for which site and signal, and by when (Dutch local time)."""
    signal = SIGNAL.get(row["signal"], {}).get(language, row["signal"])
    deadline = _ANSWER_BY[language].format(time=local_time(row["deadline"], language))
    return f"{TASK_KIND[row['kind']][language]} · {row['site_id']} · {signal} · {deadline}"


def task_routes(alarm_centre: str, directory: Directory) -> list[SubscriptionRule]:
    """The centre's webhook subscriptions, one per endpoint (the first one's language)."""
    seen: dict[str, SubscriptionRule] = {}
    for rule in directory.subscriptions:
        if (
            rule.organisation_id == alarm_centre
            and rule.organisation_role == "alarm_centre"
            and rule.webhook_url is not None
        ):
            seen.setdefault(webhook_recipient(rule.organisation_id, rule.webhook_url), rule)
    return list(seen.values())


def task_delivery(row: asyncpg.Record, rule: SubscriptionRule, now: datetime) -> nflog.Delivery:
    """The task as one row of the log for one webhook, due now."""
    assert rule.webhook_url is not None
    recipient = webhook_recipient(rule.organisation_id, rule.webhook_url)
    respond_within = (row["deadline"] - row["created_at"]).total_seconds()
    payload = {
        "task_id": str(row["task_id"]),
        "kind": row["kind"],
        "site_id": row["site_id"],
        "signal": row["signal"],
        "activation_ids": [str(activation) for activation in row["activation_ids"]],
        "created_at": row["created_at"].isoformat(),
        "deadline": row["deadline"].isoformat(),
        "respond_within_s": respond_within,
        "verdict_path": f"/v1/alarm-tasks/{row['task_id']}/verdict",
    }
    return nflog.Delivery(
        dedup_key=nflog.notice_key(row["dedup_key"], "task"),
        recipient=recipient,
        alert_id=row["task_id"],
        channel="webhook",
        organisation_id=rule.organisation_id,
        group_key=TASK_GROUP,
        labels={
            "notice": "task",
            "task_kind": row["kind"],
            "site_id": row["site_id"],
            "organisation_id": rule.organisation_id,
            "channel": "webhook",
            "recipient": recipient,
        },
        language=rule.language,
        summary=task_summary(row, rule.language),
        alert_created_at=row["created_at"],
        payload=payload,
        webhook_url=rule.webhook_url,
        next_attempt_at=now,
        notice="task",
        role=RecipientRole.ALARM_CENTRE,
    )


async def dispatch_tasks(
    pool: asyncpg.Pool, directory: Directory, now: datetime, thresholds: NotifyThresholds
) -> int:
    """Write the delivery rows of tasks not dispatched yet; returns rows written."""
    since = now - timedelta(hours=thresholds.notice_lookback_hours)
    written = 0
    async with pool.acquire() as connection, connection.transaction():
        # Locked: two notify instances never dispatch one task twice.
        for row in await connection.fetch(_TO_DISPATCH, since, thresholds.claim_batch):
            rules = task_routes(row["alarm_centre"], directory) if row["deadline"] > now else []
            for rule in rules:
                written += await nflog.record(connection, task_delivery(row, rule, now), now)
            await connection.execute(
                "UPDATE alarm_task SET dispatched_at = $2 WHERE task_id = $1", row["task_id"], now
            )
            logger.info(
                "alarm task dispatched",
                extra={"task_id": str(row["task_id"]), "alarm_centre": row["alarm_centre"],
                       "recipients": len(rules)},
            )  # fmt: skip
    return written
