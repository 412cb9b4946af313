"""Fault tolerance: PostgreSQL away from every part for a while during ingest.

The whole chain runs as child processes (`tests/fault_support.py`) on the shared test broker,
and reaches the shared PostgreSQL through a relay of the test's own
(`tests/postgres_relay.py`). While the client posts, the relay takes PostgreSQL away: every
backend serving a part is terminated and every new connection is refused, as during a
server restart, for the outage's length. The API may answer 503 meanwhile (the client
retries). Afterwards: every accepted event is in PostgreSQL once, and every notification
the notify service decided on reached its webhook exactly once, and nothing else did.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import pytest

from tests.fault_support import COMMANDS, chain_settings, run_chain_through
from tests.postgres_relay import PostgresRelay

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings
    from tests.fault_support import Client, Pipeline

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.integration

EVERY_PART = frozenset(COMMANDS)
CONSUMERS = frozenset({"worker", "sink", "notify"})


def outage_param() -> list[object]:
    long = [pytest.mark.long, pytest.mark.timeout(900)]
    return [
        # Away from every part: the API cannot take reports either, and answers 503.
        pytest.param(10.0, EVERY_PART, id="10s-every-part"),
        # Away from the consumers only (the API keeps its own connection, as if it ran next
        # to PostgreSQL): alerts and events keep arriving at a sink and a notifier without it.
        pytest.param(10.0, CONSUMERS, id="10s-consumers"),
        pytest.param(30.0, EVERY_PART, marks=long, id="30s-every-part-long"),
        pytest.param(30.0, CONSUMERS, marks=long, id="30s-consumers-long"),
    ]


@pytest.mark.parametrize(("outage_s", "away_from"), outage_param())
async def test_database_outage_during_ingest_loses_and_repeats_nothing(
    settings: Settings,
    db: asyncpg.Connection,
    tmp_path: Path,
    outage_s: float,
    away_from: frozenset[str],
) -> None:
    async with PostgresRelay(settings.database_url) as relay:
        terminated: list[int] = []

        async def take_postgres_away(pipeline: Pipeline, client: Client) -> None:
            terminated.append(await relay.take_away(db))
            try:
                await asyncio.sleep(outage_s)  # the outage itself, not a wait for an effect
            finally:
                relay.bring_back()
            pipeline.all_alive()

        relayed = chain_settings(settings, database_url=relay.url)
        direct = relayed.model_copy(update={"database_url": settings.database_url})
        client = await run_chain_through(
            relayed, db, tmp_path / "logs", take_postgres_away,
            settings_of={part: direct for part in COMMANDS if part not in away_from},
            # A cut between a webhook's 2xx and its record means a resend under the same
            # Idempotency-Key, which the receiver drops (docs/fault-tolerance.md, finding 7).
            resends_allowed=True,
        )  # fmt: skip
    logger.info("database outage survived", extra={"terminated": terminated,
                                                    "refused": relay.refused})  # fmt: skip
    # The outage hit the parts: backends cut, connections refused.
    assert terminated[0] > 0, "no backend terminated: the outage proved nothing"
    assert relay.refused > 0, "no connection refused: the outage proved nothing"
    if "api" in away_from:
        assert client.answers[503] > 0, "no 503 at all: the API did not notice the outage"
