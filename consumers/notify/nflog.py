"""The notification log (table delivery): one row per (alert dedup key, recipient).

A row is written before anything is sent, with ON CONFLICT DO NOTHING, so a replayed alert
finds its rows and sends nothing again. States: pending -> delivered | failed -> ... | dead,
or muted (silenced, inhibited, outside a time window) instead of sent. A row tells the alert
itself or a follow-up notice of it (resolved, escalated; consumers/notify/notices.py), which
has a dedup key of its own: `<alert dedup key>#<notice>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from heterdaad.audit import AuditRow, write_audit_rows
from heterdaad.db import transaction
from schemas.alerts import RecipientRole, alert_reference
from schemas.events import AuditAction

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    import asyncpg

    from consumers.notify.admin import Database
    from consumers.notify.route import Channel

State = Literal["pending", "delivered", "failed", "dead", "muted"]
Notice = Literal["alert", "resolved", "escalated", "task"]


def notice_key(dedup_key: str, notice: Notice) -> str:
    """The dedup key of an alert's notice: one row per (notice, recipient), like the alert's."""
    return dedup_key if notice == "alert" else f"{dedup_key}#{notice}"


@dataclass(frozen=True)
class Delivery:
    """One row of the log, as written and as read back."""

    dedup_key: str
    recipient: str
    alert_id: UUID
    channel: Channel
    organisation_id: str
    group_key: str
    labels: dict[str, str]
    language: str
    summary: str
    alert_created_at: datetime
    payload: dict[str, Any] | None = None  # what is sent; cleared once the row is final
    webhook_url: str | None = None
    state: State = "pending"
    next_attempt_at: datetime | None = None
    muted_by: str | None = None
    notification_key: str | None = None
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    notice: Notice = "alert"
    role: RecipientRole | None = None  # in whose view it is formed (None: written before 0008)

    @property
    def alert_dedup_key(self) -> str:
        """The dedup key of the alert this row tells of (its own, for the alert itself)."""
        return self.dedup_key.removesuffix(f"#{self.notice}")

    def idempotency_key(self, reference_key: bytes) -> str:
        """What the recipient drops a repeat by: `<dedup key>:<recipient>` for the police; for
        everyone else the keyed reference of the row's dedup key in its place (schemas.alerts.
        alert_reference), as unique and as stable, naming no other organisation's event.
        A row without a role (before 0008) shows least."""
        if self.role is RecipientRole.POLICE or self.channel == "desk":
            return f"{self.dedup_key}:{self.recipient}"
        return f"{alert_reference(self.dedup_key, reference_key)}:{self.recipient}"


@dataclass(frozen=True)
class Attempt:
    """One webhook request of a notification (table delivery_attempt)."""

    notification_key: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def answered_at(self) -> datetime:
        """When the answer came: a delivery is delivered then, not when it was sent."""
        return self.at + timedelta(milliseconds=self.duration_ms)


_COLUMNS = (
    "dedup_key, recipient, alert_id, channel, organisation_id, group_key, labels, language, "
    "summary, alert_created_at, payload, webhook_url, state, next_attempt_at, muted_by, "
    "created_at, notice, role"
)


async def record(connection: asyncpg.Connection, delivery: Delivery, now: datetime) -> bool:
    """Write the row unless it exists; True when it is new (and so is to be sent)."""
    inserted = await connection.fetchval(
        f"INSERT INTO delivery ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
        "$11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (dedup_key, recipient) DO NOTHING "
        "RETURNING recipient",
        delivery.dedup_key, delivery.recipient, delivery.alert_id, delivery.channel,
        delivery.organisation_id, delivery.group_key, json.dumps(delivery.labels),
        delivery.language, delivery.summary, delivery.alert_created_at,
        None if delivery.payload is None else json.dumps(delivery.payload),
        delivery.webhook_url, delivery.state, delivery.next_attempt_at, delivery.muted_by, now,
        delivery.notice, None if delivery.role is None else delivery.role.value,
    )  # fmt: skip
    return inserted is not None


async def claim_fresh(
    db: Database, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    """Due rows not yet part of a notification, leased so that no other pass takes them."""
    rows = await db.fetch(
        """UPDATE delivery d SET next_attempt_at = $2
           FROM (SELECT dedup_key, recipient FROM delivery
                 WHERE state = 'pending' AND notification_key IS NULL AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, dedup_key LIMIT $3
                 FOR UPDATE SKIP LOCKED) due
           WHERE d.dedup_key = due.dedup_key AND d.recipient = due.recipient
           RETURNING d.*""",
        now, lease_until, limit,
    )  # fmt: skip
    return [_delivery(row) for row in rows]


async def claim_formed(
    db: Database, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    """Every row of due notifications that were formed before (retries, rate-limited ones)."""
    rows = await db.fetch(
        """UPDATE delivery d SET next_attempt_at = $2
           WHERE d.notification_key IN (
                 SELECT notification_key FROM delivery
                 WHERE state IN ('pending', 'failed') AND notification_key IS NOT NULL
                   AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             AND d.state IN ('pending', 'failed') AND d.next_attempt_at <= $1
           RETURNING d.*""",
        now, lease_until, limit,
    )  # fmt: skip
    return [_delivery(row) for row in rows]


async def mute(db: Database, delivery: Delivery, reason: str) -> None:
    await db.execute(
        "UPDATE delivery SET state = 'muted', muted_by = $3, payload = NULL, "
        "next_attempt_at = NULL WHERE dedup_key = $1 AND recipient = $2",
        delivery.dedup_key, delivery.recipient, reason,
    )  # fmt: skip


async def form(
    db: Database, members: Sequence[Delivery], notification_key: str, now: datetime
) -> None:
    """Bind rows into one notification for good: retries resend exactly these."""
    first = members[0]
    await db.execute(
        "UPDATE delivery SET notification_key = $3 "
        "WHERE recipient = $1 AND dedup_key = ANY($2::text[])",
        first.recipient, [member.dedup_key for member in members], notification_key,
    )  # fmt: skip
    await db.execute(
        "UPDATE notify_group SET last_flush_at = $3 WHERE recipient = $1 AND group_key = $2",
        first.recipient, first.group_key, now,
    )  # fmt: skip


async def deliver_to_desk(db: Database, delivery: Delivery, now: datetime) -> None:
    """The desk reads its rows from this table: being due is being delivered."""
    await db.execute(
        "UPDATE delivery SET state = 'delivered', delivered_at = $3, next_attempt_at = NULL, "
        "notification_key = $4 WHERE dedup_key = $1 AND recipient = $2",
        delivery.dedup_key, delivery.recipient, now, f"{delivery.dedup_key}:{delivery.recipient}",
    )  # fmt: skip


async def start_attempt(db: Database, notification_key: str, now: datetime) -> int:
    """Count an attempt before it is made, so a crash mid-request still counts it."""
    attempt: int | None = await db.fetchval(
        "UPDATE delivery SET attempts = attempts + 1, last_attempt_at = $2 "
        "WHERE notification_key = $1 RETURNING attempts",
        notification_key, now,
    )  # fmt: skip
    return attempt or 0


async def finish_attempt(
    db: Database,
    attempt: Attempt,
    *,
    state: Literal["delivered", "failed", "dead"],
    next_attempt_at: datetime | None = None,
) -> None:
    """Record the attempt and its outcome on every row of the notification."""
    final = state != "failed"
    async with transaction(db) as connection:
        rows = await connection.fetch(
            """UPDATE delivery SET state = $2, last_error = coalesce($3, last_error),
                   next_attempt_at = $4,
                   delivered_at = CASE WHEN $2 = 'delivered' THEN $5 ELSE delivered_at END,
                   payload = CASE WHEN $6 THEN NULL ELSE payload END
               WHERE notification_key = $1 AND state IN ('pending', 'failed')
               RETURNING recipient, dedup_key, alert_id""",
            attempt.notification_key, state, attempt.error, next_attempt_at, attempt.answered_at,
            final,
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO delivery_attempt (notification_key, attempt, at, status_code, error, "
            "duration_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            attempt.notification_key, attempt.attempt, attempt.at, attempt.status_code,
            attempt.error, attempt.duration_ms,
        )  # fmt: skip
        if state == "delivered" and rows:
            # A disclosure outside the system: in the audit trail, which outlives this log.
            await write_audit_rows(connection, [AuditRow(
                attempt.at, "notify", AuditAction.ALERT_DELIVERED.value, rows[0]["recipient"],
                {"notification_key": attempt.notification_key,
                 "dedup_keys": [row["dedup_key"] for row in rows],
                 "alert_ids": [str(row["alert_id"]) for row in rows]},
            )])  # fmt: skip


async def postpone(db: Database, notification_key: str, until: datetime) -> None:
    """Wait without counting an attempt (the receiver's rate limit)."""
    await db.execute(
        "UPDATE delivery SET next_attempt_at = $2 "
        "WHERE notification_key = $1 AND state IN ('pending', 'failed')",
        notification_key, until,
    )  # fmt: skip


async def give_up(db: Database, notification_key: str, reason: str, now: datetime) -> None:
    """Dead without an attempt: there is nowhere left to send it."""
    await db.execute(
        "UPDATE delivery SET state = 'dead', last_error = $2, next_attempt_at = NULL, "
        "payload = NULL, last_attempt_at = $3 "
        "WHERE notification_key = $1 AND state IN ('pending', 'failed')",
        notification_key, reason, now,
    )  # fmt: skip


async def deliveries_of(db: Database, dedup_key: str) -> list[Delivery]:
    """Who an alert went to and how it went: the delivery history of one alert."""
    rows = await db.fetch(
        "SELECT * FROM delivery WHERE dedup_key = $1 ORDER BY recipient", dedup_key
    )
    return [_delivery(row) for row in rows]


async def attempts_of(db: Database, notification_key: str) -> list[Attempt]:
    rows = await db.fetch(
        "SELECT * FROM delivery_attempt WHERE notification_key = $1 ORDER BY attempt",
        notification_key,
    )
    return [
        Attempt(
            row["notification_key"],
            row["attempt"],
            row["at"],
            row["status_code"],
            row["error"],
            row["duration_ms"],
        )
        for row in rows
    ]


def _delivery(row: asyncpg.Record) -> Delivery:
    payload = row["payload"]
    return Delivery(
        dedup_key=row["dedup_key"],
        recipient=row["recipient"],
        alert_id=row["alert_id"],
        channel=row["channel"],
        organisation_id=row["organisation_id"],
        group_key=row["group_key"],
        labels=json.loads(row["labels"]),
        language=row["language"],
        summary=row["summary"],
        alert_created_at=row["alert_created_at"],
        payload=None if payload is None else json.loads(payload),
        webhook_url=row["webhook_url"],
        state=row["state"],
        next_attempt_at=row["next_attempt_at"],
        muted_by=row["muted_by"],
        notification_key=row["notification_key"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
        notice=row["notice"],
        role=None if row["role"] is None else RecipientRole(row["role"]),
    )
