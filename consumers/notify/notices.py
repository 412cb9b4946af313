"""Follow-up notices: an alert resolved (with its outcome) or escalated, told to subscribers.

The alert table is the outbox: the desk writes `resolved_at`/`outcome` and `escalated_at`
there, and nothing else. Each delivery pass looks for recent ones and writes notice rows into
the notification log, which sends them like alerts (mute, form, rate limit, signed POST,
retries). A notice row has the dedup key `<alert dedup key>#resolved` or `#escalated`, so
the log's primary key keeps it to one per (alert, recipient) across restarts and instances.

- **resolved**: every webhook recipient the alert (or its escalation) was delivered to gets
  one, in the view it had: the outcome and, for police, who resolved it. A recipient whose
  alert is delivered after the resolution gets it then.
- **escalated**: the escalation receivers (route.escalation_routes) get one, as the police
  view; `notify_notice` records that an alert's escalation was dispatched, even to nobody.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from consumers.alert_text import escalated_summary, resolved_summary
from consumers.notify import nflog
from consumers.notify.labels import alert_labels
from consumers.notify.route import escalation_routes
from schemas.alerts import (
    Alert,
    AlertKind,
    Outcome,
    PoliceAlertView,
    RecipientRole,
    alert_reference,
    alert_reference_id,
)
from schemas.common import PoliceUnit

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    import asyncpg

    from consumers.notify.route import Directory, Route
    from consumers.retention import Purge
    from heterdaad.language import Language
    from heterdaad.thresholds.notify import NotifyThresholds

logger = logging.getLogger(__name__)

# Notices are sent apart from alerts and from each other: their own group per recipient.
RESOLVED_GROUP = "notice=resolved"
ESCALATED_GROUP = "notice=escalated"


@dataclass(frozen=True)
class Resolution:
    """How an alert ended, as the alert table holds it (the payload may have been purged)."""

    alert_id: UUID
    dedup_key: str
    kind: AlertKind
    police_unit: PoliceUnit
    created_at: datetime
    resolved_at: datetime
    resolved_by: str | None
    outcome: Outcome | None
    alert: Alert | None


@dataclass(frozen=True)
class Notified:
    """A webhook recipient the alert was delivered to, as its delivery row says."""

    recipient: str
    organisation_id: str
    webhook_url: str
    language: Language
    labels: dict[str, str]
    # None for rows written before roles were kept: formed as a chain's, which shows least.
    role: RecipientRole | None


def resolved_delivery(
    resolution: Resolution, notified: Notified, now: datetime, reference_key: bytes
) -> nflog.Delivery:
    """The resolved notice for one recipient, in its own view, due now; its `dedup_key` is the
    one the recipient's view of the alert had (keyed with `reference_key` but for the police)."""
    role = notified.role or RecipientRole.CHAIN
    payload: dict[str, Any] = {
        "alert_id": str(alert_reference_id(resolution.dedup_key, reference_key)),
        "dedup_key": alert_reference(resolution.dedup_key, reference_key),
        "kind": resolution.kind.value,
        "outcome": None if resolution.outcome is None else resolution.outcome.value,
        "resolved_at": resolution.resolved_at.isoformat(),
        "view": None
        if resolution.alert is None
        else resolution.alert.view_for(role, reference_key=reference_key).model_dump(mode="json"),
    }
    if role is RecipientRole.POLICE:
        payload["alert_id"] = str(resolution.alert_id)
        payload["dedup_key"] = resolution.dedup_key
        payload["resolved_by"] = resolution.resolved_by  # a colleague's name: police only
    return nflog.Delivery(
        dedup_key=nflog.notice_key(resolution.dedup_key, "resolved"),
        recipient=notified.recipient,
        alert_id=resolution.alert_id,
        channel="webhook",
        organisation_id=notified.organisation_id,
        group_key=RESOLVED_GROUP,
        labels=notified.labels | {"notice": "resolved"},
        language=notified.language,
        summary=resolved_summary(
            resolution.kind,
            resolution.police_unit,
            resolution.outcome,
            notified.language,
            alert=resolution.alert,
            created_at=resolution.created_at,
            now=now,
        ),
        alert_created_at=resolution.created_at,
        payload=payload,
        webhook_url=notified.webhook_url,
        next_attempt_at=now,
        notice="resolved",
        role=role,
    )


def escalated_delivery(
    alert: Alert, route: Route, escalated_at: datetime, now: datetime
) -> nflog.Delivery:
    """The escalation notice for one escalation receiver (police), due now."""
    assert route.role is RecipientRole.POLICE and route.webhook_url is not None
    unacknowledged_s = (escalated_at - alert.created_at).total_seconds()
    labels = alert_labels(alert) | {
        "organisation_id": route.organisation_id,
        "channel": "webhook",
        "recipient": route.recipient,
        "notice": "escalated",
    }
    return nflog.Delivery(
        dedup_key=nflog.notice_key(alert.dedup_key, "escalated"),
        recipient=route.recipient,
        alert_id=alert.alert_id,
        channel="webhook",
        organisation_id=route.organisation_id,
        group_key=ESCALATED_GROUP,
        labels=labels,
        language=route.language,
        summary=escalated_summary(alert, unacknowledged_s, route.language),
        alert_created_at=alert.created_at,
        payload={
            "alert_id": str(alert.alert_id),
            "dedup_key": alert.dedup_key,
            "kind": alert.kind.value,
            "escalated_at": escalated_at.isoformat(),
            "unacknowledged_seconds": round(unacknowledged_s),
            "view": PoliceAlertView(role=route.role, alert=alert).model_dump(mode="json"),
        },
        webhook_url=route.webhook_url,
        next_attempt_at=now,
        notice="escalated",
        role=route.role,
    )


_RESOLVED_TO_TELL = """
SELECT DISTINCT ON (a.dedup_key, d.recipient)
       a.alert_id, a.dedup_key, a.kind, a.police_unit, a.created_at, a.payload AS alert,
       a.resolved_at, a.resolved_by, a.outcome,
       d.recipient, d.organisation_id, d.webhook_url, d.language, d.labels, d.role
FROM alert a
JOIN delivery d ON d.dedup_key IN (a.dedup_key, a.dedup_key || '#escalated')
WHERE a.resolved_at IS NOT NULL AND a.resolved_at >= $1
  AND d.channel = 'webhook' AND d.state = 'delivered' AND d.webhook_url IS NOT NULL
  -- A neighbourhood watch is not told outcomes: whether someone was arrested is police news.
  AND d.role IS DISTINCT FROM 'neighbourhood_watch'
  AND NOT EXISTS (SELECT 1 FROM delivery r
                  WHERE r.dedup_key = a.dedup_key || '#resolved' AND r.recipient = d.recipient)
ORDER BY a.dedup_key, d.recipient, d.notice
LIMIT $2
"""


async def dispatch_resolved(
    pool: asyncpg.Pool,
    now: datetime,
    thresholds: NotifyThresholds,
    reference_key: bytes,
    purge: Purge,
) -> int:
    """Write the resolved notices not written yet; returns how many were new. The alert in
    a notice's view is stripped by `purge` once past the period, as a new alert's is
    (dispatch.py): the stored one may still be whole until the next retention pass."""
    since = now - timedelta(hours=thresholds.notice_lookback_hours)
    rows = await pool.fetch(_RESOLVED_TO_TELL, since, thresholds.claim_batch)
    written = 0
    async with pool.acquire() as connection, connection.transaction():
        for row in rows:
            delivery = resolved_delivery(
                _resolution(row, purge), _notified(row), now, reference_key
            )
            # A concurrent sweep may have written it meanwhile: the key keeps it one.
            if await nflog.record(connection, delivery, now):
                written += 1
                logger.info(
                    "resolved notice recorded",
                    extra={"dedup_key": delivery.dedup_key, "recipient": delivery.recipient,
                           "outcome": row["outcome"]},
                )  # fmt: skip
    return written


_ESCALATIONS_TO_TELL = """
SELECT a.alert_id, a.dedup_key, a.payload, a.escalated_at
FROM alert a
WHERE a.escalated_at IS NOT NULL AND a.escalated_at >= $1
  AND NOT EXISTS (SELECT 1 FROM notify_notice n
                  WHERE n.dedup_key = a.dedup_key AND n.notice = 'escalated')
ORDER BY a.escalated_at
LIMIT $2
"""


async def dispatch_escalations(
    pool: asyncpg.Pool,
    directory: Directory,
    now: datetime,
    thresholds: NotifyThresholds,
    purge: Purge,
) -> int:
    """Write the escalation notices of escalations not dispatched yet; returns rows written
    (the alert stripped by `purge` once past the period, as in dispatch_resolved)."""
    since = now - timedelta(hours=thresholds.notice_lookback_hours)
    written = 0
    for row in await pool.fetch(_ESCALATIONS_TO_TELL, since, thresholds.claim_batch):
        alert = _alert(row["payload"], row["alert_id"], purge)
        routes = [] if alert is None else escalation_routes(alert, directory)
        async with pool.acquire() as connection, connection.transaction():
            claimed = await connection.fetchval(
                "INSERT INTO notify_notice (dedup_key, notice, dispatched_at, recipients) "
                "VALUES ($1, 'escalated', $2, $3) ON CONFLICT DO NOTHING RETURNING dedup_key",
                row["dedup_key"], now, len(routes),
            )  # fmt: skip
            if claimed is None:
                continue  # another instance dispatched it
            for route in routes:
                assert alert is not None
                delivery = escalated_delivery(alert, route, row["escalated_at"], now)
                written += await nflog.record(connection, delivery, now)
        logger.info(
            "escalation notice dispatched",
            extra={"dedup_key": row["dedup_key"], "recipients": [r.recipient for r in routes]},
        )
    return written


def _resolution(row: asyncpg.Record, purge: Purge) -> Resolution:
    outcome = row["outcome"]
    return Resolution(
        alert_id=row["alert_id"],
        dedup_key=row["dedup_key"],
        kind=AlertKind(row["kind"]),
        police_unit=PoliceUnit(row["police_unit"]),
        created_at=row["created_at"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        # Written by the desk from its enum; anything else is told as "resolved", no outcome.
        outcome=Outcome(outcome) if outcome in Outcome.__members__.values() else None,
        alert=_alert(row["alert"], row["alert_id"], purge),
    )


def _notified(row: asyncpg.Record) -> Notified:
    return Notified(
        recipient=row["recipient"],
        organisation_id=row["organisation_id"],
        webhook_url=row["webhook_url"],
        language="en" if row["language"] == "en" else "nl",
        labels=json.loads(row["labels"]),
        role=None if row["role"] is None else RecipientRole(row["role"]),
    )


def _alert(payload: str | None, alert_id: UUID, purge: Purge) -> Alert | None:
    """The alert as stored, as `purge` leaves it; None if cleared (or if it no longer
    parses)."""
    if payload is None:
        return None
    try:
        return purge.applied(Alert.model_validate_json(payload))
    except ValidationError:
        logger.warning("stored alert does not parse", extra={"alert_id": str(alert_id)})
        return None
