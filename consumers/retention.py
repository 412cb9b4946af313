"""Retention: personal data goes after the configured period; anonymous counts stay; the audit
log goes after its own, longer period; and a schedule that runs it from a long-running part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from heterdaad.audit import AuditRow, write_audit_rows
from schemas.alerts import Alert

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

# When what a stored row describes happened (event time), per table that holds personal data
# in its payload. Retention counts from this, never from when the row was written: a monthly
# CBL import raises alerts today about robberies of one or two months ago, and dated by
# `created_at` their descriptions would be kept a full period again (docs/time.md,
# "Retention"). An alert stored before it carried its event time is dated by `created_at`.
EVENT_TIME = {
    "event": "occurred_at",
    "alert": "coalesce(occurred_at, created_at)",
}

# Alerts are read and stripped in pages of this many, in the order of their ids ($2: the last
# id of the page before, NULL for the first).
ALERT_BATCH = 1000


@dataclass(frozen=True)
class Purge:
    """The one rule for personal data in a payload: what happened before `cutoff` (event time)
    keeps none, and is marked purged at `at`. An event's payload goes whole; an alert keeps
    what happened, where and why, without descriptions (`Alert.without_personal_data`), so the
    desk's history and the digest still know its kind, pattern and evidence. The retention
    pass applies the rule to the rows stored. The sink and the desk apply it to each alert
    before it is written (`kept`), and notify before it builds any recipient's view
    (`applied`): what people read is never stored or sent with personal data past its period.
    An event is stored whole and cleared by the next pass (every `retention_every_hours`), so
    that an import can still be matched the day it arrives (solved cases, `heterdaad model
    fit`)."""

    cutoff: datetime
    at: datetime

    @classmethod
    def after(cls, retention_days: int, now: datetime | None = None) -> Purge:
        """The purge of a retention period of `retention_days`, as of `now`."""
        now = now or datetime.now(UTC)
        return cls(cutoff=now - timedelta(days=retention_days), at=now)

    def due(self, alert: Alert) -> bool:
        """Whether what the alert is about happened before the cutoff, dated as the pass dates
        it (EVENT_TIME)."""
        return (alert.occurred_at or alert.created_at) < self.cutoff

    def applied(self, alert: Alert) -> Alert:
        """The alert as anyone may still hold it: whole within the period, what may stay of
        it once past it. Notify builds every recipient's view from this (police included)."""
        return alert.without_personal_data() if self.due(alert) else alert

    def kept(self, alert: Alert) -> tuple[str, datetime | None]:
        """An alert's payload and purge time as stored: (the whole alert, None) while what it
        is about lies within the period, (what may stay of it, `at`) once past it."""
        if self.due(alert):
            return alert.without_personal_data().model_dump_json(), self.at
        return alert.model_dump_json(), None

    async def events(self, connection: asyncpg.Connection) -> int:
        """Clear the stored events' payloads past the cutoff."""
        status = await connection.execute(_EVENTS_DUE, self.cutoff, self.at)
        return int(status.rsplit(" ", 1)[-1])

    async def alerts(
        self,
        connection: asyncpg.Connection,
        keys: list[Any] | None = None,
        *,
        batch: int = ALERT_BATCH,
    ) -> int:
        """Strip the stored alerts past the cutoff to what may stay of them (those of `keys`
        only, if given), `batch` at a time: the first pass over a year of imported alerts must
        not hold them all in memory. An alert no reader can parse any more is cleared whole."""
        query = _ALERTS_DUE + (" AND alert_id = ANY($4)" if keys is not None else "")
        query += " ORDER BY alert_id LIMIT $3"
        stripped, after = 0, None
        while True:
            rows = await connection.fetch(
                query, self.cutoff, after, batch, *([keys] if keys is not None else [])
            )
            await connection.executemany(
                "UPDATE alert SET payload = $2::jsonb, payload_purged_at = $3 WHERE alert_id = $1",
                [(row["alert_id"], _stripped(row["payload"]), self.at) for row in rows],
            )
            stripped += len(rows)
            if len(rows) < batch:
                return stripped
            after = rows[-1]["alert_id"]


_EVENTS_DUE = (
    "UPDATE event SET payload = NULL, payload_purged_at = $2 "
    f"WHERE payload IS NOT NULL AND {EVENT_TIME['event']} < $1"
)
_ALERTS_DUE = (
    "SELECT alert_id, payload FROM alert "
    f"WHERE payload_purged_at IS NULL AND {EVENT_TIME['alert']} < $1 "
    "AND ($2::uuid IS NULL OR alert_id > $2)"
)


def _stripped(payload: str | None) -> str | None:
    if payload is None:
        return None
    try:
        return Alert.model_validate_json(payload).without_personal_data().model_dump_json()
    except ValidationError:
        return None


# What else goes with the retention period. The anonymous columns beside a payload (type, kind,
# branch type, police unit, time, coarse location) stay for the digest.
_PURGES = {
    # Receipts only answer replays of recent events; their bodies are ids, but old ones serve
    # no purpose and the event hash would still link a retained report to a purged one.
    "ingest_receipt": "DELETE FROM ingest_receipt WHERE created_at < $1",
    # A centre's verdict note is free text (docs/alarm-tasks.md); a task is long answered or
    # expired by then. Replayed from its topic after this, it is stored again past its deadline
    # and so sent to nobody.
    "alarm_task": "DELETE FROM alarm_task WHERE created_at < $1",
}
# The notification log is what keeps a replayed alert from being notified twice, so it must
# outlive the alerts topic (whose retention is at most the personal-data retention); a week's
# margin covers a replay that starts just before an alert leaves the topic.
_NOTIFICATION_LOG_MARGIN = timedelta(days=7)
_LOG_PURGES = {
    "delivery": "DELETE FROM delivery WHERE created_at < $1",
    "delivery_attempt": "DELETE FROM delivery_attempt WHERE at < $1",
}
# Where webhooks went (consumers/notify/change.py) serves only rows of the notification log
# written for the old webhook before the service re-read subscriptions (at most
# notify.directory_refresh_seconds, an hour at most, after the move) and sent however much
# later: a move goes a day after the log rows it could serve, never before them.
_MOVE_PURGE = "DELETE FROM webhook_move WHERE moved_at < $1"
_MOVE_MARGIN = timedelta(days=1)
# Who did what is kept far longer than what they did it to (audit_retention_days, docs).
_AUDIT_PURGE = "DELETE FROM audit_log WHERE at < $1"
# Spent or expired /meld codes and sessions name an organisation and a branch, nothing more;
# a day past their end they answer nothing anyone could ask.
_SESSION_PURGES = {
    "meld_code": "DELETE FROM meld_code WHERE expires_at < $1",
    "meld_session": "DELETE FROM meld_session WHERE expires_at < $1",
    # Failed desk logins (a name and an address) count for minutes (consumers/desk/throttle.py);
    # the desk deletes them on the next failure, this takes the last ones of a quiet desk.
    "desk_login_failure": "DELETE FROM desk_login_failure WHERE at < $1",
}
# One pass at a time across processes (every sink replica runs the schedule).
_ADVISORY_LOCK = 0x68657472


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    purged: dict[str, int]


async def purge_personal_data(
    connection: asyncpg.Connection,
    retention_days: int,
    *,
    audit_retention_days: int,
    now: datetime | None = None,
) -> RetentionReport:
    """Clear the payloads of what happened before the retention period (event time) and audit
    rows older than theirs, in one transaction, and audit it."""
    purge = Purge.after(retention_days, now)
    now, cutoff = purge.at, purge.cutoff
    purged: dict[str, int] = {}
    async with connection.transaction():
        purged["event"] = await purge.events(connection)
        purged["alert"] = await purge.alerts(connection)
        for table, statement in _PURGES.items():
            status = await connection.execute(statement, cutoff)
            purged[table] = int(status.rsplit(" ", 1)[-1])
        for table, statement in _LOG_PURGES.items():
            status = await connection.execute(statement, cutoff - _NOTIFICATION_LOG_MARGIN)
            purged[table] = int(status.rsplit(" ", 1)[-1])
        status = await connection.execute(
            _MOVE_PURGE, cutoff - _NOTIFICATION_LOG_MARGIN - _MOVE_MARGIN
        )
        purged["webhook_move"] = int(status.rsplit(" ", 1)[-1])
        for table, statement in _SESSION_PURGES.items():
            status = await connection.execute(statement, now - timedelta(days=1))
            purged[table] = int(status.rsplit(" ", 1)[-1])
        audit_cutoff = now - timedelta(days=audit_retention_days)
        status = await connection.execute(_AUDIT_PURGE, audit_cutoff)
        purged["audit_log"] = int(status.rsplit(" ", 1)[-1])
        await write_audit_rows(connection, [AuditRow(
            now, "system", "data_deleted", "retention",
            {"cutoff": cutoff.isoformat(), "purged": purged},
        )])  # fmt: skip
    logger.info("personal data purged", extra={"cutoff": cutoff.isoformat(), "purged": purged})
    return RetentionReport(cutoff=cutoff, purged=purged)


async def purge_once(pool: asyncpg.Pool, settings: Settings) -> RetentionReport | None:
    """One retention pass, unless another process is running one now (then None)."""
    async with pool.acquire() as connection:
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", _ADVISORY_LOCK):
            logger.info("retention already running elsewhere, skipped")
            return None
        try:
            return await purge_personal_data(
                connection,
                settings.personal_data_retention_days,
                audit_retention_days=settings.audit_retention_days,
            )
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK)


async def run_retention_schedule(
    pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event
) -> None:
    """Retention at start and then every `retention_every_hours` until `stop`; a failed pass is
    logged and tried again at the next one, never the end of the process that runs it."""
    every = settings.retention_every_hours * 3600
    while not stop.is_set():
        try:
            await purge_once(pool, settings)
        except Exception:
            logger.exception("retention pass failed, tried again at the next")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
