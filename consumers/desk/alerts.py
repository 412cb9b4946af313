"""The desk's alert table work: a unit's alerts, acknowledge, resolve, escalate, each audited.

Every query names the user's unit, so another unit's alert is not found rather than refused:
the desk does not even confirm that it exists. Each change notifies the desk's channel in the
same transaction, so every desk instance hears of it once it is committed (consumers/desk/live).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import ValidationError

from consumers.desk.audit import SYSTEM_ACTOR, DeskAction, write_audit
from consumers.desk.places import with_places
from consumers.desk.silences import inhibitor_key_of, with_silences
from consumers.retention import Purge
from consumers.sink import store
from schemas.alerts import HOLD_UP_KINDS, Alert, AlertKind, Severity
from schemas.alerts import Outcome as Outcome  # the desk's word for it; the contract's enum
from schemas.common import PoliceUnit

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

    from consumers.desk.places import BranchFacts, Member
    from consumers.desk.silences import SilenceFacts
    from consumers.desk.users import DeskUser

logger = logging.getLogger(__name__)

Change = Literal["alert", "acknowledged", "resolved", "escalated"]
CardState = Literal["open", "escalated", "acknowledged", "resolved"]


class AlertNotFound(Exception):
    """No alert with this id in the user's unit (whether it exists elsewhere is not said)."""


@dataclass(frozen=True)
class AlertCard:
    """One alert as the desk shows it: its columns, its payload if kept, and its handling."""

    alert_id: UUID
    kind: AlertKind
    severity: Severity
    police_unit: PoliceUnit
    lat: float
    lon: float
    created_at: datetime
    # None once the payload was purged after the retention period (or no longer parses).
    alert: Alert | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: Outcome | None
    escalated_at: datetime | None
    # From the registry (consumers/desk/places): the branch it is about, a series' robberies.
    branch: BranchFacts | None = None
    members: tuple[Member, ...] = ()
    # The branches of the events it links: the evidence names a branch by its id.
    linked_branches: tuple[BranchFacts, ...] = ()
    # The events it links as stored: the evidence names each by when, where and what, not by
    # its id (docs/desk.md).
    linked_events: tuple[Member, ...] = ()
    # Why notify muted the unit's desk row ("silence <id>", "inhibited by <key>"): the desk
    # shows such an alert as silenced rather than hiding it (docs/notify.md, docs/desk.md).
    muted_by: str | None = None
    # The silence of a "silence <id>": what it mutes, who set it, until when (in words).
    silence: SilenceFacts | None = None
    # The alert of an "inhibited by <key>", as stored (its kind, branch and time in words).
    inhibitor: AlertCard | None = None
    # When its personal data went after the retention period: what stays is a branch's view.
    purged_at: datetime | None = None
    # A hold-up at an alarm site with Liveview: where the police watch live (docs/cameras.md).
    liveview_url: str | None = None

    @classmethod
    def of(cls, alert: Alert) -> AlertCard:
        """The card of an alert nobody has handled yet (not read from the table)."""
        center = alert.area.center
        return cls(
            alert_id=alert.alert_id, kind=alert.kind, severity=alert.severity,
            police_unit=alert.police_unit, lat=center.lat, lon=center.lon,
            created_at=alert.created_at, alert=alert, acknowledged_at=None, acknowledged_by=None,
            resolved_at=None, resolved_by=None, outcome=None, escalated_at=None,
        )  # fmt: skip

    @property
    def state(self) -> CardState:
        if self.resolved_at is not None:
            return "resolved"
        if self.acknowledged_at is not None:
            return "acknowledged"
        return "escalated" if self.escalated_at is not None else "open"

    @property
    def attention(self) -> int:
        """How much it needs action, 0 first: the list's first sort key (_ORDER mirrors it)."""
        if self.acknowledged_at is not None:
            return 3 if self.resolved_at is None else 4
        if self.resolved_at is not None:
            return 4
        if self.escalated_at is not None:
            return 0
        return 1 if self.kind in HOLD_UP_KINDS else 2

    @property
    def order(self) -> str:
        """The list's sort key as text, for the page to place a live row where a reload would:
        attention, then severity, then the latest event first (as _ORDER in SQL)."""
        moment = self.occurred_at or self.created_at
        latest_first = 10**13 - int(moment.timestamp() * 1000)
        return f"{self.attention}{self.severity.rank}{latest_first:014d}{self.created_at_key}"

    @property
    def created_at_key(self) -> str:
        return f"{10**13 - int(self.created_at.timestamp() * 1000):014d}"

    @property
    def historical(self) -> bool:
        """Past its live horizon (docs/time.md): the history view, never the live list."""
        return self.alert is not None and self.alert.historical

    @property
    def occurred_at(self) -> datetime | None:
        return self.alert.occurred_at if self.alert is not None else None

    @property
    def radius_m(self) -> float | None:
        return self.alert.area.radius_m if self.alert is not None else None

    @property
    def series_id(self) -> str | None:
        return self.alert.series_id if self.alert is not None else None

    @property
    def hotspot_id(self) -> str | None:
        return self.alert.hotspot_id if self.alert is not None else None


# A historical alert says so in its payload; a purged payload was never live for that long.
_HISTORICAL = "coalesce((payload->>'historical')::boolean, false)"

# What needs action first: escalated unacknowledged hold-ups, then unacknowledged hold-ups, then
# other open alerts, then acknowledged ones, handled last; within each, the most severe first and
# the latest event first. AlertCard.order is the same key for rows that arrive live.
_OPEN = "acknowledged_at IS NULL AND resolved_at IS NULL"
_HOLD_UPS = ", ".join(f"'{kind.value}'" for kind in sorted(HOLD_UP_KINDS))
_ORDER = f"""CASE
        WHEN {_OPEN} AND escalated_at IS NOT NULL THEN 0
        WHEN {_OPEN} AND kind IN ({_HOLD_UPS}) THEN 1
        WHEN {_OPEN} THEN 2
        WHEN resolved_at IS NULL THEN 3
        ELSE 4 END,
    CASE severity {" ".join(f"WHEN '{s.value}' THEN {s.rank}" for s in Severity)} ELSE 9 END,
    coalesce(occurred_at, created_at) DESC, created_at DESC"""

_COLUMNS = """alert_id, kind, severity, police_unit, lat, lon, created_at, payload,
    payload_purged_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome,
    escalated_at,
    (SELECT d.muted_by FROM delivery d WHERE d.alert_id = alert.alert_id
        AND d.channel = 'desk' AND d.state = 'muted' ORDER BY d.created_at LIMIT 1) AS muted_by"""


def _outcome(row: asyncpg.Record) -> Outcome | None:
    if not row["outcome"]:
        return None
    try:
        return Outcome(row["outcome"])
    except ValueError:
        # Written by something other than the desk: shown as resolved, without the word.
        logger.warning(
            "unknown outcome", extra={"alert_id": str(row["alert_id"]), "outcome": row["outcome"]}
        )
        return None


def _card(row: asyncpg.Record) -> AlertCard:
    alert = None
    if row["payload"] is not None:
        try:
            alert = Alert.model_validate_json(row["payload"])
        except ValidationError as error:
            logger.warning(
                "stored alert unreadable", extra={"alert_id": str(row["alert_id"]), "error": error}
            )
    return AlertCard(
        alert_id=row["alert_id"],
        kind=AlertKind(row["kind"]),
        severity=Severity(row["severity"]),
        police_unit=PoliceUnit(row["police_unit"]),
        lat=row["lat"],
        lon=row["lon"],
        created_at=row["created_at"],
        alert=alert,
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        outcome=_outcome(row),
        escalated_at=row["escalated_at"],
        muted_by=row.get("muted_by"),
        purged_at=row.get("payload_purged_at"),
    )


async def _completed(pool: asyncpg.Pool, cards: list[AlertCard]) -> list[AlertCard]:
    """The cards with what the registry and notify's silences say of them."""
    completed = await with_silences(pool, await with_places(pool, cards))
    return await _with_inhibitors(pool, completed)


async def _with_inhibitors(pool: asyncpg.Pool, cards: list[AlertCard]) -> list[AlertCard]:
    """The inhibited cards with the alert that muted them: its latest version of the card's
    unit (another unit's alert is not named), with its branch; one query for the list."""
    keys = sorted({key for card in cards if (key := inhibitor_key_of(card.muted_by))})
    if not keys:
        return cards
    rows = await pool.fetch(
        f"SELECT DISTINCT ON (dedup_key, police_unit) dedup_key, {_COLUMNS} FROM alert "
        "WHERE dedup_key = ANY($1::text[]) ORDER BY dedup_key, police_unit, created_at DESC",
        keys,
    )
    found = await with_places(pool, [_card(row) for row in rows])
    by_key = {
        (row["dedup_key"], card.police_unit): card
        for row, card in zip(rows, found, strict=True)
    }
    return [
        replace(card, inhibitor=by_key.get((key, card.police_unit)))
        if (key := inhibitor_key_of(card.muted_by))
        else card
        for card in cards
    ]


class AlertStore:
    """The alert table as the desk uses it, with one clock for every time it writes."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channel: str,
        clock: Callable[[], datetime],
        retention_days: int | None = None,
    ):
        self.pool = pool
        self.channel = channel
        self.clock = clock
        # Personal data past retention is never written, by the sink or here (docs/time.md).
        self.retention_days = retention_days

    async def recent(
        self, unit: PoliceUnit, *, hours: float, limit: int, actor: str | None = None
    ) -> tuple[list[AlertCard], list[AlertCard]]:
        """The unit's live alerts of the past hours and every one still open, what needs action
        first (_ORDER); and apart from them its history view (`history`).

        With an actor, the listing is audited as one alert_viewed row naming the alerts.
        """
        since = self.clock() - timedelta(hours=hours)
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM alert WHERE police_unit = $1 AND NOT {_HISTORICAL} "
            f"AND (created_at >= $2 OR resolved_at IS NULL) ORDER BY {_ORDER} LIMIT $3",
            unit.value,
            since,
            limit,
        )
        cards = await _completed(self.pool, [_card(row) for row in rows])
        history = await self.history(unit, hours=hours, limit=limit)
        if actor is not None:
            # One row for the page: its live list and its history view.
            await write_audit(
                self.pool, at=self.clock(), actor=actor, action=DeskAction.ALERT_VIEWED,
                subject=f"list:{unit.value}",
                details={"view": "list", "alert_ids": [str(card.alert_id) for card in cards],
                         "history_ids": [str(card.alert_id) for card in history]},
            )  # fmt: skip
        return cards, history

    async def history(self, unit: PoliceUnit, *, hours: float, limit: int) -> list[AlertCard]:
        """The unit's historical alerts raised in the past hours, latest event time first."""
        since = self.clock() - timedelta(hours=hours)
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM alert WHERE police_unit = $1 AND {_HISTORICAL} "
            "AND created_at >= $2 "
            "ORDER BY occurred_at DESC NULLS LAST, created_at DESC "
            "LIMIT $3",
            unit.value,
            since,
            limit,
        )
        return await _completed(self.pool, [_card(row) for row in rows])

    async def card(self, unit: PoliceUnit, alert_id: UUID) -> AlertCard | None:
        """The alert if it belongs to the unit; not audited (for live updates of the list)."""
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM alert WHERE alert_id = $1 AND police_unit = $2",
            alert_id,
            unit.value,
        )
        if row is None:
            return None
        [card] = await _completed(self.pool, [_card(row)])
        return card

    async def view(self, user: DeskUser, alert_id: UUID) -> AlertCard:
        """The alert with its evidence for a user of its unit; every view is audited."""
        card = await self.card(user.police_unit, alert_id)
        if card is None:
            logger.info(
                "alert not in user's unit",
                extra={"alert_id": str(alert_id), "username": user.username},
            )
            raise AlertNotFound(alert_id)
        await write_audit(
            self.pool, at=self.clock(), actor=user.actor, action=DeskAction.ALERT_VIEWED,
            subject=str(alert_id), details={"view": "detail", "police_unit": card.police_unit},
        )  # fmt: skip
        return card

    async def acknowledge(self, user: DeskUser, alert_id: UUID) -> bool:
        """Acknowledge for the user; False when it was acknowledged already (nothing written)."""
        now = self.clock()
        async with self.pool.acquire() as connection, connection.transaction():
            row = await self._lock(connection, user, alert_id)
            if row["acknowledged_at"] is not None:
                return False
            await connection.execute(
                "UPDATE alert SET acknowledged_at = $2, acknowledged_by = $3 WHERE alert_id = $1",
                alert_id, now, user.username,
            )  # fmt: skip
            await self._acknowledged(connection, user, row, now)
            await self._notify(connection, alert_id, user.police_unit, "acknowledged")
        logger.info(
            "alert acknowledged", extra={"alert_id": str(alert_id), "username": user.username}
        )
        return True

    async def resolve(self, user: DeskUser, alert_id: UUID, outcome: Outcome) -> bool:
        """Close with an outcome (acknowledging too if nobody did); False if closed already."""
        now = self.clock()
        async with self.pool.acquire() as connection, connection.transaction():
            row = await self._lock(connection, user, alert_id)
            if row["resolved_at"] is not None:
                return False
            if row["acknowledged_at"] is None:
                # Resolving is handling it: the acknowledgement is implied, and audited as such,
                # so the escalation stops and the log shows who took it up.
                await connection.execute(
                    "UPDATE alert SET acknowledged_at = $2, acknowledged_by = $3 "
                    "WHERE alert_id = $1",
                    alert_id, now, user.username,
                )  # fmt: skip
                await self._acknowledged(connection, user, row, now, implied=True)
            await connection.execute(
                "UPDATE alert SET resolved_at = $2, resolved_by = $3, outcome = $4 "
                "WHERE alert_id = $1",
                alert_id, now, user.username, outcome.value,
            )  # fmt: skip
            await write_audit(
                connection, at=now, actor=user.actor, action=DeskAction.ALERT_RESOLVED,
                subject=str(alert_id), details={"outcome": outcome.value},
            )  # fmt: skip
            await self._notify(connection, alert_id, user.police_unit, "resolved")
        logger.info(
            "alert resolved",
            extra={"alert_id": str(alert_id), "username": user.username, "outcome": outcome},
        )
        return True

    async def escalate_due(self, *, after: timedelta, window: timedelta) -> list[UUID]:
        """Mark open hold-ups older than `after` (and younger than `window`) escalated: those
        the stage took as real and those verified, unless notify muted the unit's desk row (a
        silence over a site's maintenance; a hold-up at the same site, which escalates itself).

        Each is escalated once, however many desk instances sweep: the update only takes rows
        not escalated yet, and a concurrent sweep waits for this one's commit and skips them.
        """
        now = self.clock()
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "UPDATE alert SET escalated_at = $1 WHERE kind = ANY($2::text[]) "
                "AND acknowledged_at IS NULL "
                "AND resolved_at IS NULL AND escalated_at IS NULL "
                f"AND created_at <= $3 AND created_at >= $4 AND NOT {_HISTORICAL} "
                "AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.alert_id = alert.alert_id "
                "AND d.channel = 'desk' AND d.state = 'muted') "
                "RETURNING alert_id, police_unit, created_at",
                now, sorted(HOLD_UP_KINDS), now - after, now - window,
            )  # fmt: skip
            for row in rows:
                waited = (now - row["created_at"]).total_seconds()
                await write_audit(
                    connection, at=now, actor=SYSTEM_ACTOR, action=DeskAction.ALERT_ESCALATED,
                    subject=str(row["alert_id"]),
                    details={"police_unit": row["police_unit"], "unacknowledged_s": waited},
                )  # fmt: skip
                await self._notify(
                    connection, row["alert_id"], PoliceUnit(row["police_unit"]), "escalated"
                )
                logger.warning(
                    "hold-up alert escalated: not acknowledged in time",
                    extra={
                        "alert_id": str(row["alert_id"]),
                        "police_unit": row["police_unit"],
                        "unacknowledged_s": round(waited, 1),
                    },
                )
        return [row["alert_id"] for row in rows]

    async def take_in(self, alert: Alert) -> AlertCard | None:
        """Store an alert from the topic (the sink's idempotent upsert) and return its card.

        The desk may read an alert before the sink has written it; writing it here too means
        an alert on screen can always be acknowledged. A replay changes nothing.
        """
        purge = None
        if self.retention_days is not None:
            purge = Purge.after(self.retention_days, self.clock())
        async with self.pool.acquire() as connection:
            await store(connection, alert, purge=purge)
        return await self.card(alert.police_unit, alert.alert_id)

    async def _lock(
        self, connection: asyncpg.Connection, user: DeskUser, alert_id: UUID
    ) -> asyncpg.Record:
        row: asyncpg.Record | None = await connection.fetchrow(
            "SELECT alert_id, police_unit, acknowledged_at, resolved_at, escalated_at, created_at "
            "FROM alert WHERE alert_id = $1 AND police_unit = $2 FOR UPDATE",
            alert_id,
            user.police_unit.value,
        )
        if row is None:
            logger.warning(
                "change refused: alert not in user's unit",
                extra={"alert_id": str(alert_id), "username": user.username},
            )
            raise AlertNotFound(alert_id)
        return row

    async def _acknowledged(
        self,
        connection: asyncpg.Connection,
        user: DeskUser,
        row: asyncpg.Record,
        now: datetime,
        *,
        implied: bool = False,
    ) -> None:
        await write_audit(
            connection, at=now, actor=user.actor, action=DeskAction.ALERT_ACKNOWLEDGED,
            subject=str(row["alert_id"]),
            details={
                "after_s": (now - row["created_at"]).total_seconds(),
                "was_escalated": row["escalated_at"] is not None,
                "implied_by_resolve": implied,
            },
        )  # fmt: skip

    async def _notify(
        self, connection: asyncpg.Connection, alert_id: UUID, unit: PoliceUnit, change: Change
    ) -> None:
        payload = json.dumps({"alert_id": str(alert_id), "police_unit": unit, "change": change})
        await connection.execute("SELECT pg_notify($1, $2)", self.channel, payload)
