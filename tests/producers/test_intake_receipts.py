"""Receipts claimed as pending, published outside any transaction, then confirmed (issue 14)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from producers.api import ApiLimits
from producers.api.receipts import _LOCK_SPACE
from schemas.topics import INCIDENT_REPORTS
from tests.producers import bodies
from tests.producers.intake_support import published_count, register, running_api

if TYPE_CHECKING:
    import asyncpg
    from aiokafka.structs import RecordMetadata

    from heterdaad.settings import Settings
    from producers.api.broker import BrokerLink
    from schemas.common import Contract
    from schemas.topics import TopicSpec

pytestmark = pytest.mark.integration


class _HeldBroker:
    """The real link, but each publish waits until the test lets it go on."""

    def __init__(self, link: BrokerLink) -> None:
        self.link = link
        self.waiting = asyncio.Event()
        self.go_on = asyncio.Event()

    async def publish(
        self, spec: TopicSpec, model: Contract, *, source: str, data: bytes | None = None
    ) -> RecordMetadata:
        self.waiting.set()
        await self.go_on.wait()
        return await self.link.publish(spec, model, source=source, data=data)


async def _pending(db: asyncpg.Connection, event_id: str) -> bool | None:
    pending: bool | None = await db.fetchval(
        "SELECT confirmed_at IS NULL FROM ingest_receipt WHERE event_id = $1::uuid", event_id
    )
    return pending


async def test_no_transaction_or_lock_waits_for_the_brokers_ack(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    body = bodies.incident_report()
    event_id = body["event_id"]
    async with running_api(settings) as (app, client):
        held = _HeldBroker(app.state.intake.broker)
        app.state.intake.broker = held
        post = asyncio.create_task(
            client.post("/v1/incident-reports", json=body, headers=registry.auth("retail-a"))
        )
        await asyncio.wait_for(held.waiting.wait(), timeout=30)
        # While the publish waits: the claim is committed (another connection sees it) ...
        assert await _pending(db, event_id) is True
        # ... and the event's advisory lock is free: the old single transaction held it here.
        async with db.transaction():
            free = await db.fetchval(
                "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", _LOCK_SPACE, event_id
            )
        assert free is True
        held.go_on.set()
        answer = await asyncio.wait_for(post, timeout=30)
    assert answer.status_code == 202, answer.text
    assert await _pending(db, event_id) is False
    assert await published_count(settings, INCIDENT_REPORTS) == 1


async def test_a_delivery_during_the_first_ones_publish_gets_its_answer_once_confirmed(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    body = bodies.incident_report()
    auth = registry.auth("retail-a")
    async with running_api(settings) as (app, client):
        held = _HeldBroker(app.state.intake.broker)
        app.state.intake.broker = held
        intake = app.state.intake
        awaiting = asyncio.Event()
        await_first_delivery = intake._await_first_delivery

        async def spied(*args: Any) -> None:
            awaiting.set()
            await await_first_delivery(*args)

        intake._await_first_delivery = spied
        first = asyncio.create_task(client.post("/v1/incident-reports", json=body, headers=auth))
        await asyncio.wait_for(held.waiting.wait(), timeout=30)
        second = asyncio.create_task(client.post("/v1/incident-reports", json=body, headers=auth))
        # The second delivery found the claim and waits for the first one's answer.
        await asyncio.wait_for(awaiting.wait(), timeout=30)
        assert not second.done(), "the second delivery answered before the first was confirmed"
        held.go_on.set()
        answers = await asyncio.gather(first, second)
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[1].json() == answers[0].json()
    assert await published_count(settings, INCIDENT_REPORTS) == 1


@pytest.mark.parametrize(
    ("age", "status", "published"),
    [
        # A claim whose process died long ago (3 publish timeouts): taken over and published.
        (timedelta(hours=1), 202, 1),
        # A claim under way elsewhere that is not confirmed within the publish timeout: 503.
        (timedelta(0), 503, 0),
    ],
)
async def test_an_unconfirmed_claim_is_taken_over_only_when_stale(
    settings: Settings, db: asyncpg.Connection, age: timedelta, status: int, published: int
) -> None:
    registry = await register(db)
    body: dict[str, Any] = bodies.incident_report()
    await db.execute(
        "INSERT INTO ingest_receipt (event_id, organisation_id, event_type, body_sha256, "
        "status_code, body, created_at, confirmed_at) "
        "VALUES ($1::uuid, 'retail-a', 'incident_report', 'x', 202, '{}', "
        "now() - $2::interval, NULL)",
        body["event_id"], age,
    )  # fmt: skip
    limits = ApiLimits(publish_timeout_seconds=0.5)
    async with running_api(settings, limits) as (_, client):
        answer = await client.post(
            "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
        )
    assert answer.status_code == status, answer.text
    assert await published_count(settings, INCIDENT_REPORTS) == published
