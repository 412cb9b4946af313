"""Throttling desk logins (issue 11 finding 12): failures counted per user name and per address.

Once a name has `login_failures_per_user` failures within `login_window_minutes`, or an address
`login_failures_per_address`, a login for it is answered 429 with Retry-After, before any
password is checked: the guesser gets no answer and costs no scrypt. A name unknown to the desk
is counted like a known one, so the answer tells nothing about which names exist. A successful
login clears its name's failures. Counting lives in PostgreSQL, so every desk replica and a
restart see the same count.

What this allows an attacker: to hold a known name's logins off for one window by failing on
purpose. The window is short (15 minutes by default) and the user can be given another
password; locking for good, or CAPTCHAs, would cost the coordinator more during a robbery.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consumers.desk.users import Database
    from heterdaad.thresholds.desk import DeskThresholds

NAME_KEPT = 40  # characters of a typed name kept: a name field is no place for a long text


async def wait_seconds(
    db: Database, username: str, address: str, now: datetime, thresholds: DeskThresholds
) -> int | None:
    """Seconds until a login for this name from this address may be tried again, or None."""
    since = now - timedelta(minutes=thresholds.login_window_minutes)
    row = await db.fetchrow(
        "SELECT"
        " (SELECT array_agg(at ORDER BY at DESC) FROM desk_login_failure"
        "   WHERE username = $1 AND at > $3) AS by_user,"
        " (SELECT array_agg(at ORDER BY at DESC) FROM desk_login_failure"
        "   WHERE address = $2 AND at > $3) AS by_address",
        username[:NAME_KEPT], address, since,
    )  # fmt: skip
    waits = [
        _wait(list(failures), limit, now, thresholds.login_window_minutes)
        for failures, limit in (
            (row["by_user"] or [], thresholds.login_failures_per_user),
            (row["by_address"] or [], thresholds.login_failures_per_address),
        )
    ]
    longest = max((w for w in waits if w is not None), default=None)
    return longest


def _wait(newest_first: list[datetime], limit: int, now: datetime, window: float) -> int | None:
    if len(newest_first) < limit:
        return None
    # Free again once the failure that made the count reach the limit has left the window.
    frees_at = newest_first[limit - 1] + timedelta(minutes=window)
    return max(1, math.ceil((frees_at - now).total_seconds()))


async def record_failure(
    db: Database, username: str, address: str, now: datetime, thresholds: DeskThresholds
) -> None:
    await db.execute(
        "INSERT INTO desk_login_failure (username, address, at) VALUES ($1, $2, $3)",
        username[:NAME_KEPT], address, now,
    )  # fmt: skip
    await db.execute(
        "DELETE FROM desk_login_failure WHERE at < $1",
        now - timedelta(minutes=thresholds.login_window_minutes),
    )


async def clear_failures(db: Database, username: str) -> None:
    await db.execute("DELETE FROM desk_login_failure WHERE username = $1", username[:NAME_KEPT])
