"""Retention: personal data goes after the configured period; anonymous counts stay."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

# What is personal in each table, and which column dates it. The anonymous columns beside the
# payload (type, kind, branch type, police unit, time, coarse location) stay for the digest.
_PURGES = {
    "event": "UPDATE event SET payload = NULL, payload_purged_at = $2 "
    "WHERE payload IS NOT NULL AND occurred_at < $1",
    "alert": "UPDATE alert SET payload = NULL, payload_purged_at = $2 "
    "WHERE payload IS NOT NULL AND created_at < $1",
    # Receipts only answer replays of recent events; their bodies are ids, but old ones serve
    # no purpose and the event hash would still link a retained report to a purged one.
    "ingest_receipt": "DELETE FROM ingest_receipt WHERE created_at < $1",
}
# The notification log is what keeps a replayed alert from being notified twice, so it must
# outlive the alerts topic (whose retention is at most the personal-data retention); a week's
# margin covers a replay that starts just before an alert leaves the topic.
_NOTIFICATION_LOG_MARGIN = timedelta(days=7)
_LOG_PURGES = {
    "delivery": "DELETE FROM delivery WHERE created_at < $1",
    "delivery_attempt": "DELETE FROM delivery_attempt WHERE at < $1",
}


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    purged: dict[str, int]


async def purge_personal_data(
    connection: asyncpg.Connection, retention_days: int, *, now: datetime | None = None
) -> RetentionReport:
    """Clear payloads older than the retention period, in one transaction, and audit it."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    purged: dict[str, int] = {}
    async with connection.transaction():
        for table, statement in _PURGES.items():
            arguments = (cutoff, now) if "$2" in statement else (cutoff,)
            status = await connection.execute(statement, *arguments)
            purged[table] = int(status.rsplit(" ", 1)[-1])
        for table, statement in _LOG_PURGES.items():
            status = await connection.execute(statement, cutoff - _NOTIFICATION_LOG_MARGIN)
            purged[table] = int(status.rsplit(" ", 1)[-1])
        await connection.execute(
            "INSERT INTO audit_log (audit_id, at, actor, action, subject, details) "
            "VALUES ($1, $2, 'system', 'data_deleted', 'retention', $3)",
            uuid.uuid4(),
            now,
            json.dumps({"cutoff": cutoff.isoformat(), "purged": purged}),
        )
    logger.info("personal data purged", extra={"cutoff": cutoff.isoformat(), "purged": purged})
    return RetentionReport(cutoff=cutoff, purged=purged)
