"""A slow or huge answer from one receiver (issue 11, finding 1), through real Kafka and
PostgreSQL: nobody else waits for it, it is cut off at the deadline, and its body is not read."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from tests.consumers.test_notify_service import (
    FAST,
    _publish,
    _robbery,
    _rows,
    _running,
    _settled,
    _subscribe,
)
from tests.consumers.test_notify_webhook import WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

# Longer than an alert may wait for its desk row and other webhooks (BOUND_SECONDS), so only
# isolation, not the deadline, can keep them in time.
DEADLINE_SECONDS = 8.0
BOUND_SECONDS = 4.0


async def test_a_trickling_receiver_delays_nobody_else(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with WebhookReceiver() as receiver:
        # AH's endpoint answers its headers, then a byte every half second, for 500 s.
        await _subscribe(db, receiver.hook("ah", trickle_seconds=0.5), receiver.hook("police"))
        first, second = _robbery(), _robbery()
        await _publish(settings, first)
        # A short group interval: the second alert is due at once, not a minute after the first.
        thresholds = FAST.model_copy(
            update={"webhook_timeout_seconds": DEADLINE_SECONDS, "group_interval_seconds": 0.5}
        )
        async with _running(settings, thresholds=thresholds):

            async def trickling() -> bool:
                return receiver.hooks["ah"].sent_bytes > 0

            await eventually(trickling)
            published = time.monotonic()
            await _publish(settings, second)

            async def desk_and_police_have_it() -> bool:
                rows = await _rows(db, second.dedup_key)
                return all(
                    rows.get(name) is not None and rows[name]["state"] == "delivered"
                    for name in ("politie-ams/desk", "politie-ams/webhook")
                )

            await eventually(desk_and_police_have_it, timeout=60)
            waited = time.monotonic() - published
            # The trickle is cut off at the deadline and tried again later.
            row = await eventually(
                lambda: _attempted(db, first.dedup_key), timeout=DEADLINE_SECONDS + 10
            )
    assert waited < BOUND_SECONDS, f"the desk and police waited {waited:.1f} s for AH"
    assert row["last_error"] == f"no complete answer within {DEADLINE_SECONDS:g} s"
    took = await db.fetchval(
        "SELECT duration_ms FROM delivery_attempt WHERE notification_key = $1 AND attempt = 1",
        row["notification_key"],
    )
    # Cut off at the deadline, not when the trickle ends (after 500 s).
    assert DEADLINE_SECONDS * 1000 <= took < (DEADLINE_SECONDS + 2) * 1000


async def _attempted(db: asyncpg.Connection, dedup_key: str) -> asyncpg.Record | None:
    row = (await _rows(db, dedup_key)).get("ah/webhook")
    return row if row is not None and row["last_error"] is not None else None


async def test_a_huge_answer_is_not_read(settings: Settings, db: asyncpg.Connection) -> None:
    huge = 300 * 1024 * 1024
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah", huge_bytes=huge), None)
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings, thresholds=FAST.model_copy(
            update={"webhook_timeout_seconds": 60.0, "webhook_max_response_kib": 16}
        )):  # fmt: skip
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2), timeout=60)
            await eventually(_set(receiver.hooks["ah"].done), timeout=30)
        sent = receiver.hooks["ah"].sent_bytes
    assert rows["ah/webhook"]["state"] == "delivered"
    # What the server got rid of before the connection closed: socket buffers, not 300 MB.
    assert sent < 32 * 1024 * 1024, f"the sender took {sent} bytes of the answer"


def _set(event: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return event.is_set()

    return probe
