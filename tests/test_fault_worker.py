"""Fault tolerance: the stream worker SIGKILLed at random moments during ingest, and replaced.

The whole chain runs as child processes (`tests/fault_support.py`) on the shared test broker.
While the client posts, the worker is SIGKILLed a random time after it was started (some
kills land in its start-up: joining the group, restoring its tables; others amid its
processing and commits) and a new one is started at once. Afterwards: every accepted event
is in PostgreSQL once, and every notification the notify service decided on reached its
webhook exactly once, and nothing else did: replayed alerts carry the same ids, and the
notification log keeps them from being sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

import pytest

from tests.fault_support import chain_settings, run_chain_through

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings
    from tests.fault_support import Client, Pipeline

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.integration

# A kill lands this long after the worker it ends was started, drawn uniformly: a worker
# takes a few seconds to join its group and restore its tables, so about half the kills fall
# in its start-up.
KILL_WITHIN_S = 12.0


def kills_param() -> list[object]:
    return [3, pytest.param(20, marks=[pytest.mark.long, pytest.mark.timeout(900)], id="20-long")]


@pytest.mark.parametrize("kills", kills_param())
async def test_killed_workers_lose_and_repeat_nothing(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, kills: int
) -> None:
    # Seeded per kill count: a failure names a kill schedule that can be replayed.
    rng = random.Random(20261201 + kills)
    schedule = [rng.uniform(0.0, KILL_WITHIN_S) for _ in range(kills)]

    async def kill_workers(pipeline: Pipeline, client: Client) -> None:
        for after_s in schedule:
            # The moment of the kill is the fault injected, not a wait for an effect.
            await asyncio.sleep(after_s)
            pipeline.all_alive()
            logger.info("killing the worker", extra={"after_s": round(after_s, 2)})
            pipeline.kill("worker")
            pipeline.start("worker")

    await run_chain_through(chain_settings(settings), db, tmp_path / "logs", kill_workers)
    logger.info("worker kills survived", extra={"schedule_s": [round(s, 2) for s in schedule]})
