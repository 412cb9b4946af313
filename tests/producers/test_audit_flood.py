"""Refused requests are audited one row each, with counts, and no faster than a set rate."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from producers.api import ApiLimits
from producers.api.audit import RefusedRequestAudit
from producers.api.limits import RateLimiter
from tests.producers import bodies
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusals_past_the_rate_are_counted_into_the_next_row() -> None:
    clock = FakeClock()
    audit = RefusedRequestAudit(RateLimiter(rate=1.0, burst=2, clock=clock))
    rows = [audit.entry("retail-a", "s", {}, 500) for _ in range(5)]
    # Two rows at once (the burst), three refusals only counted ...
    assert [row is not None for row in rows] == [True, True, False, False, False]
    # ... and told in the next row written, a second later.
    clock.now = 1.0
    row = audit.entry("retail-a", "s", {}, 7)
    assert row is not None
    assert row.details == {"events": 7, "held_back": {"requests": 3, "events": 1500}}
    # Another organisation has its own allowance.
    assert audit.entry("retail-b", "s", {}, 1) is not None


async def test_refused_batches_do_not_flood_the_audit_log(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # Issue 11, finding 7: 20 refused batches of 500 items wrote 10,000 audit rows in 0.4 s.
    registry = await register(db)
    limits = ApiLimits(refused_audit_per_second=0.01, refused_audit_burst=3)
    batch = [bodies.alarm_activation() for _ in range(500)]
    async with running_api(settings, limits) as (_, client):
        for _ in range(20):
            # A retailer may not post alarm activations: the whole batch is refused (403).
            response = await client.post(
                "/v1/alarm-activations/batch", json=batch, headers=registry.auth("retail-a")
            )
            assert response.status_code == 403
    rows = await db.fetch(
        "SELECT subject, details FROM audit_log WHERE action = 'event_rejected' ORDER BY at"
    )
    assert len(rows) == 3
    details = json.loads(rows[0]["details"])
    assert details["events"] == 500
    assert details["status"] == 403
    assert len(details["event_ids"]) == 10
    assert rows[0]["subject"] == "alarm_activation request"
