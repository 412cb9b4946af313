"""Fault tolerance: the broker stopped (killed or shut down) and started again during ingest.

The whole chain runs as child processes (`tests/fault_support.py`) against a broker of the
test's own, which the test stops and starts again while the client posts. Afterwards: every
accepted event is in PostgreSQL once, and every notification the notify service decided on
reached its webhook exactly once, and nothing else did.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from streams.topology import ensure_worker_topics
from tests.broker_helpers import Outage, own_broker
from tests.databases import migrated_schema
from tests.fault_support import chain_settings, run_chain_through
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from heterdaad.settings import Settings
    from tests.broker_helpers import OwnBroker
    from tests.fault_support import Client, Pipeline

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings_on_own_broker(
    bare_settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Settings, OwnBroker]]:
    """Fresh settings whose Kafka is a broker of this test's own, with topics and schema."""
    with own_broker(bare_settings, tmp_path / "broker") as broker:
        settings = chain_settings(bare_settings, kafka_bootstrap=broker.bootstrap)
        await ensure_worker_topics(settings)
        async with migrated_schema(settings.database_url, settings.database_schema):
            yield settings, broker


@pytest.fixture
async def db_on_own_broker(
    settings_on_own_broker: tuple[Settings, OwnBroker],
) -> AsyncIterator[asyncpg.Connection]:
    settings, _ = settings_on_own_broker
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    yield connection
    await connection.close()


def outage_param(outages: list[Outage], **marks: Any) -> Any:
    return pytest.param(outages, id="-".join(map(str, outages)), **marks)


@pytest.mark.parametrize(
    "outages",
    [
        # One hard stop; the restart (log recovery after a kill) makes it about 15 s.
        outage_param([Outage(hard=True, down_s=3)]),
        # Killed, stopped cleanly, killed right after a restart, and down for long.
        outage_param(
            [
                Outage(hard=True, down_s=5),
                Outage(hard=False, down_s=10),
                Outage(hard=True, down_s=0),
                Outage(hard=True, down_s=20),
            ],
            marks=[pytest.mark.long, pytest.mark.timeout(900)],
        ),
    ],
)
async def test_broker_outages_during_ingest_lose_and_repeat_nothing(
    settings_on_own_broker: tuple[Settings, OwnBroker],
    db_on_own_broker: asyncpg.Connection,
    tmp_path: Path,
    outages: list[Outage],
) -> None:
    settings, broker = settings_on_own_broker

    async def break_off_the_broker(pipeline: Pipeline, client: Client) -> None:
        for outage in outages:
            await broker.break_off(outage)
            # Back to accepting before the next outage.
            await eventually(
                client.accepted_beyond(len(client.accepted) + 5), timeout=60, interval=0.2
            )
            pipeline.all_alive()

    client = await run_chain_through(
        settings, db_on_own_broker, tmp_path / "logs", break_off_the_broker
    )
    logger.info(
        "broker outages survived",
        extra={"outages": [f"{e - b:.1f}s" for b, e in broker.outages]},
    )
    # While the broker was away the API said 503 (never another 5xx, never hung: the
    # complaints `run_chain_through` checks), and it did say it.
    assert client.answers[503] > 0, "no 503 at all: the outage proved nothing"
