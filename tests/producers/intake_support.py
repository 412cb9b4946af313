"""Test support for the intake API: a registry of organisations with keys, and a running app."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from assembly.api import create_app
from producers.api import admin
from schemas.common import Address, Branch, BranchType, Location

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    from fastapi import FastAPI

    from heterdaad.settings import Settings
    from producers.api.limits import ApiLimits
    from schemas.topics import TopicSpec


@dataclass(frozen=True)
class Registry:
    """Plain keys by organisation id, as each organisation would hold them."""

    keys: dict[str, str]

    def auth(self, organisation_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[organisation_id]}"}


async def register(db: asyncpg.Connection) -> Registry:
    """Two retailers, the CBL with retail-a as member, two alarm centres and the police."""
    await admin.create_organisation(db, "retail-a", "Super A", "retailer")
    await admin.create_organisation(db, "retail-b", "Super B", "retailer")
    await admin.create_organisation(
        db, "cbl", "Centraal Bureau Levensmiddelenhandel", "trade_association"
    )
    await admin.create_organisation(db, "pac-1", "Alarmcentrale Een", "alarm_centre")
    await admin.create_organisation(db, "pac-2", "Alarmcentrale Twee", "alarm_centre")
    await admin.create_organisation(db, "politie-ams", "Politie Amsterdam", "police")
    await admin.add_association_member(db, "cbl", "retail-a")
    for owner, branch_id in (("retail-a", "a-001"), ("retail-b", "b-001")):
        await admin.create_branch(
            db,
            owner,
            Branch(
                branch_id=branch_id,
                chain="Super A" if owner == "retail-a" else "Super B",
                branch_type=BranchType.SUPERMARKET,
                location=Location(lat=52.3731, lon=4.8922),
                address=Address(street="Damrak 1", postcode="1012 LG", city="Amsterdam"),
            ),
        )
    await admin.create_alarm_site(db, "site-1", "pac-1", "acct-1", branch_id="a-001")
    await admin.create_alarm_site(db, "site-2", "pac-2", "acct-9", branch_id="b-001")
    keys = {}
    for organisation_id in ("retail-a", "retail-b", "cbl", "pac-1", "pac-2", "politie-ams"):
        keys[organisation_id] = (await admin.issue_key(db, organisation_id)).key
    return Registry(keys)


@contextlib.asynccontextmanager
async def running_api(
    settings: Settings, limits: ApiLimits | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan entered, and a client speaking ASGI to it."""
    app = create_app(settings, limits)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            yield app, client


async def published_count(settings: Settings, spec: TopicSpec) -> int:
    """Records on the topic so far: end offsets are final for everything already acknowledged."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        topic = spec.name(settings.topic_prefix)
        ends = await consumer.end_offsets(
            [TopicPartition(topic, partition) for partition in range(spec.partitions)]
        )
        return sum(ends.values())
    finally:
        await consumer.stop()
