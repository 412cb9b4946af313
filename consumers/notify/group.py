"""Grouping: when an alert of a group is sent to a recipient (group_wait, group_interval)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.thresholds.notify import NotifyThresholds


@dataclass(frozen=True)
class GroupState:
    """What is remembered of one group of one recipient (table notify_group)."""

    opened_at: datetime
    touched_at: datetime  # when its last alert arrived
    next_flush_at: datetime  # when its waiting alerts are due
    last_flush_at: datetime | None = None  # when it was last notified


def schedule(
    state: GroupState | None, now: datetime, thresholds: NotifyThresholds
) -> tuple[datetime, GroupState]:
    """When a new alert of the group is due, and the group's state after it arrived.

    A new group waits group_wait, so that what belongs together (and what mutes it) arrives
    first; an alert joins a flush that is still to come; after a flush, the group's next alert
    waits until group_interval has passed since it.
    """
    forgotten = timedelta(seconds=thresholds.repeat_interval_seconds)
    if state is None or now - state.touched_at > forgotten:
        due = now + timedelta(seconds=thresholds.group_wait_seconds)
        return due, GroupState(opened_at=now, touched_at=now, next_flush_at=due)
    if state.next_flush_at > now or state.last_flush_at is None:
        # Waiting for a flush, or one is due and the delivery loop has not got to it yet.
        due = max(state.next_flush_at, now)
    else:
        due = max(now, state.last_flush_at + timedelta(seconds=thresholds.group_interval_seconds))
    return due, replace(state, touched_at=now, next_flush_at=due)


def desk_due(now: datetime, thresholds: NotifyThresholds) -> datetime:
    """The police desk shows every alert: only group_wait, so inhibition and silences can act."""
    return now + timedelta(seconds=thresholds.group_wait_seconds)


async def load_group(connection: asyncpg.Connection, recipient: str, key: str) -> GroupState | None:
    """The group's state, locked until the caller's transaction ends."""
    row = await connection.fetchrow(
        "SELECT opened_at, touched_at, next_flush_at, last_flush_at FROM notify_group "
        "WHERE recipient = $1 AND group_key = $2 FOR UPDATE",
        recipient, key,
    )  # fmt: skip
    if row is None:
        return None
    return GroupState(
        row["opened_at"], row["touched_at"], row["next_flush_at"], row["last_flush_at"]
    )


async def save_group(
    connection: asyncpg.Connection, recipient: str, key: str, state: GroupState
) -> None:
    await connection.execute(
        """INSERT INTO notify_group (recipient, group_key, opened_at, touched_at, next_flush_at,
                                     last_flush_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (recipient, group_key) DO UPDATE SET opened_at = EXCLUDED.opened_at,
               touched_at = EXCLUDED.touched_at, next_flush_at = EXCLUDED.next_flush_at,
               last_flush_at = EXCLUDED.last_flush_at""",
        recipient, key, state.opened_at, state.touched_at, state.next_flush_at,
        state.last_flush_at,
    )  # fmt: skip
