"""A token bucket per webhook receiver, kept in PostgreSQL so every instance shares it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from consumers.notify.admin import transaction

if TYPE_CHECKING:
    from consumers.notify.admin import Database


@dataclass(frozen=True)
class Bucket:
    tokens: float
    refilled_at: datetime


def take_token(
    bucket: Bucket, now: datetime, rate_per_second: float, burst: int
) -> tuple[float, Bucket]:
    """Seconds to wait (0: go now) and the bucket after the request took or did not take one."""
    elapsed = max(0.0, (now - bucket.refilled_at).total_seconds())
    available = min(float(burst), bucket.tokens + elapsed * rate_per_second)
    refilled_at = max(now, bucket.refilled_at)
    if available >= 1:
        return 0.0, Bucket(available - 1, refilled_at)
    return (1 - available) / rate_per_second, Bucket(available, refilled_at)


async def acquire(
    db: Database, recipient: str, now: datetime, *, rate_per_minute: float, burst: int
) -> float:
    """Take a token for one request to `recipient`; the seconds to wait when there is none."""
    async with transaction(db) as connection:
        await connection.execute(
            "INSERT INTO notify_rate (recipient, tokens, refilled_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (recipient) DO NOTHING",
            recipient, float(burst), now,
        )  # fmt: skip
        row = await connection.fetchrow(
            "SELECT tokens, refilled_at FROM notify_rate WHERE recipient = $1 FOR UPDATE",
            recipient,
        )
        assert row is not None
        wait, bucket = take_token(
            Bucket(row["tokens"], row["refilled_at"]), now, rate_per_minute / 60, burst
        )
        await connection.execute(
            "UPDATE notify_rate SET tokens = $2, refilled_at = $3 WHERE recipient = $1",
            recipient, bucket.tokens, bucket.refilled_at,
        )  # fmt: skip
    return wait
