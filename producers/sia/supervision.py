"""Link supervision: when each site was last heard, and which sites have gone silent too long."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.events import AlarmActivation, AlarmSignal

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime, timedelta

    import asyncpg

    from producers.sia.accounts import SiaAccount

logger = logging.getLogger(__name__)

SILENCE_NAMESPACE = uuid.UUID("3b0e5c55-7a7b-4f53-9a52-8b1f0e5a11e7")


@dataclass(frozen=True)
class Link:
    """The last time a site was heard, and its own supervision interval if it has one."""

    site_id: str
    last_seen: datetime
    supervision: timedelta | None


def silent_after(link: Link, default: timedelta) -> datetime:
    """The moment the site counts as silent if nothing more arrives."""
    return link.last_seen + (link.supervision or default)


def silent_links(links: Iterable[Link], now: datetime, default: timedelta) -> list[Link]:
    """The links whose silence has lasted longer than their supervision interval."""
    return [link for link in links if silent_after(link, default) < now]


def silence_event_id(link: Link) -> uuid.UUID:
    """One id per silence: a second check, or a second receiver, reports the same event."""
    return uuid.uuid5(SILENCE_NAMESPACE, f"{link.site_id}:{link.last_seen.isoformat()}")


def site_silent(
    link: Link, account: SiaAccount, now: datetime, default: timedelta
) -> AlarmActivation:
    """The site_silent activation for a silent link."""
    return AlarmActivation(
        event_id=silence_event_id(link),
        alarm_centre=account.alarm_centre,
        subscriber_account=account.subscriber_account,
        site=account.site,
        signal=AlarmSignal.SITE_SILENT,
        occurred_at=silent_after(link, default),
        received_at=now,
    )


async def record_heard(
    pool: asyncpg.Pool, site_id: str, at: datetime, signal: str
) -> datetime | None:
    """Note that a site was heard; returns since when it had been reported silent, if it was."""
    silent_since: datetime | None = await pool.fetchval(
        """
        WITH before AS (SELECT silent_since FROM sia_link WHERE site_id = $1)
        INSERT INTO sia_link (site_id, last_seen, last_signal) VALUES ($1, $2, $3)
        ON CONFLICT (site_id) DO UPDATE
            SET last_seen = greatest(sia_link.last_seen, excluded.last_seen),
                last_signal = excluded.last_signal,
                silent_since = NULL
        RETURNING (SELECT silent_since FROM before)
        """,
        site_id,
        at,
        signal,
    )
    return silent_since


async def unsilenced_links(pool: asyncpg.Pool) -> list[Link]:
    """Every link not yet reported silent."""
    rows = await pool.fetch(
        """
        SELECT l.site_id, l.last_seen, s.sia_supervision
          FROM sia_link l JOIN alarm_site s USING (site_id)
         WHERE l.silent_since IS NULL
        """
    )
    return [Link(row["site_id"], row["last_seen"], row["sia_supervision"]) for row in rows]


async def mark_silent(pool: asyncpg.Pool, link: Link, at: datetime) -> bool:
    """Remember the silence was reported, unless the site was heard meanwhile."""
    status: str = await pool.execute(
        """
        UPDATE sia_link SET silent_since = $3
         WHERE site_id = $1 AND last_seen = $2 AND silent_since IS NULL
        """,
        link.site_id,
        link.last_seen,
        at,
    )
    return status.endswith(" 1")
