"""The ingest API's batch endpoint in this process: reports accepted per second, and what each
costs this process in CPU, against publishing the same reports bare through the API's broker.

The app runs in process (httpx over ASGI, no socket), with its real PostgreSQL pool and Kafka
producer: each report is validated, pseudonymised, judged against the registry, its receipt
claimed, published, acknowledged, its receipt confirmed and audited. The baseline of the same
run publishes the contract events those reports become through a `BrokerLink` of its own, in
batches of the same size gathered as the intake gathers them: what the broker costs anyway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from assembly.api import create_app
from heterdaad.events import BrokerLink
from producers.api import admin
from producers.api.edge import PlateKey
from producers.api.kinds import INCIDENT_REPORT
from producers.edge_policy import admit
from schemas.common import Branch, BranchType, Location
from schemas.topics import INCIDENT_REPORTS

if TYPE_CHECKING:
    from heterdaad.settings import Settings

RETAILER = "bench-retail"
BRANCH = Branch(
    branch_id="br-001", chain="Bench Super", branch_type=BranchType.SUPERMARKET,
    location=Location(lat=52.3731, lon=4.8922),
)  # fmt: skip


@dataclass(frozen=True)
class ApiRates:
    reports: int
    batch: int
    api_per_s: float
    api_cpu_us: float  # this process's CPU per report (the API's own work and its clients')
    bare_per_s: float
    bare_cpu_us: float


def report_body(occurred_at: datetime) -> dict[str, Any]:
    """A report as a retailer posts it, with a plate to pseudonymise."""
    return {
        "event_id": str(uuid.uuid4()),
        "reporting_org": RETAILER,
        "branch": {
            "branch_id": BRANCH.branch_id, "chain": BRANCH.chain,
            "branch_type": BRANCH.branch_type.value,
            "location": {"lat": BRANCH.location.lat, "lon": BRANCH.location.lon},
        },
        "incident_type": "overval",
        "occurred_at": occurred_at.isoformat(),
        "offender_count": 2,
        "weapons": ["knife"],
        "loot": ["cash"],
        "getaway": {
            "mode": "scooter", "direction": "richting centrum",
            "vehicle": {"kind": "scooter", "make": "Piaggio", "colour": "zwart",
                        "plate": "12-ABC-3"},
        },
    }  # fmt: skip


async def _register(settings: Settings) -> str:
    db = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        await admin.create_organisation(db, RETAILER, "Bench Super", "retailer")
        await admin.create_branch(db, RETAILER, BRANCH)
        return (await admin.issue_key(db, RETAILER)).key
    finally:
        await db.close()


async def _through_api(
    settings: Settings, key: str, batches: list[list[dict[str, Any]]]
) -> tuple[float, float]:
    """Wall and CPU seconds to have every batch answered, each report 202."""
    app = create_app(settings)
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                          base_url="http://bench.test", timeout=60) as client,
    ):  # fmt: skip
        warm = await client.post("/v1/incident-reports/batch", json=[report_body(
            datetime.now(UTC) - timedelta(minutes=1))], headers=auth)  # fmt: skip
        warm.raise_for_status()
        started, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            answer = await client.post("/v1/incident-reports/batch", json=batch, headers=auth)
            statuses = {item["status"] for item in answer.json()["results"]}
            if statuses != {202}:
                raise RuntimeError(f"the API answered {statuses}: {answer.text[:300]}")
        return time.perf_counter() - started, time.process_time() - cpu


async def _bare(
    settings: Settings, batches: list[list[dict[str, Any]]]
) -> tuple[float, float]:
    """Wall and CPU seconds to publish the same reports, as contract events, each batch
    gathered."""
    plate_key = PlateKey(settings.require_plate_key(), settings.plate_key_id)
    events = [
        [admit(INCIDENT_REPORT.to_contract(
            INCIDENT_REPORT.edge_model.model_validate(body), plate_key)) for body in batch]
        for batch in batches
    ]  # fmt: skip
    broker = BrokerLink(settings, publish_timeout=30, retry_seconds=1)
    await broker.start()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for batch in events:
            await asyncio.gather(*(
                broker.publish(INCIDENT_REPORTS, event, source="urn:bench:api") for event in batch
            ))  # fmt: skip
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await broker.stop()


async def run(settings: Settings, reports: int, batch: int) -> ApiRates:
    """Reports per second through the batch endpoint and bare, alternated twice, best of each."""
    settings = settings.model_copy(update={"api_limits": settings.api_limits.model_copy(
        update={"events_per_second": 1e6, "event_burst": 1e6})})  # fmt: skip
    key = await _register(settings)
    api: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    for _ in range(2):
        now = datetime.now(UTC) - timedelta(minutes=1)
        bodies = [report_body(now) for _ in range(reports)]
        batches = [bodies[i : i + batch] for i in range(0, reports, batch)]
        api.append(await _through_api(settings, key, batches))
        bare.append(await _bare(settings, batches))
    api_s, api_cpu = min(api)
    bare_s, bare_cpu = min(bare)
    return ApiRates(
        reports, batch, reports / api_s, api_cpu / reports * 1e6, reports / bare_s,
        bare_cpu / reports * 1e6,
    )  # fmt: skip
