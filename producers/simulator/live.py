"""Live traffic: a compressed, busy present sent as it happens, after a history load.

Each tick simulates the minute that just passed (so every event time is now or moments ago,
never ahead of the stages' clock) with alarm traffic scaled to the asked rate and about one
robbery and one reconnaissance report a minute, then sends it paced at that rate. Each tick
has its own seed (base seed + tick), so a run is deterministic by seed apart from the clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from producers.simulator.config import SimulationConfig
from producers.simulator.drive import KafkaSink, SimulationReport, send_events
from producers.simulator.scenario import generate

if TYPE_CHECKING:
    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

TICK_S = 60.0
MINUTES_A_YEAR = 365 * 24 * 60
# A press brings a verification, restore or second press with it about 0.7 times on average.
EVENTS_PER_PRESS = 1.7
LIVE_BRANCHES = 400  # a smaller world per tick: generating it is most of a tick's cost
# Branches per press of a tick: with 70% connected, enough sites for each press to have its own.
BRANCHES_PER_PRESS = 2


def live_config(seed: int, rate: float, end: datetime, seconds: float) -> SimulationConfig:
    """The last `seconds` up to `end`, busy enough to send `rate` events a second.

    The presses are thousands of times the national rate (120 a day): time is compressed, but
    not the minutes of the sequential window in which a second press by a colleague verifies
    an alarm. So each press of a tick has a site of its own, as the presses of a national
    minute would; drawn from a few hundred sites with repetition, over a third of the false
    presses came in turn with an unrelated one at their site and reached the police as
    sequential verified alarms (docs/alarm-verification.md).
    """
    presses = rate * seconds / EVENTS_PER_PRESS
    return SimulationConfig(
        seed=seed,
        days=seconds / 86_400,
        end=end,
        branches=min(200_000, max(LIVE_BRANCHES, math.ceil(presses * BRANCHES_PER_PRESS))),
        alarm_activations_per_day=rate * 86_400 / EVENTS_PER_PRESS,
        one_episode_per_site=True,
        test_signals_per_day=0,
        robberies_per_year=MINUTES_A_YEAR * seconds / 60,  # about one a minute
        ram_raids_per_year=0,
        background_sightings_per_day=24 * 60 * seconds / 60,  # about one a minute
        series=0,
        recon_patterns=0,
    )


async def run_live(settings: Settings, *, seed: int, rate: float, tick_s: float = TICK_S) -> None:
    """Send live traffic until cancelled; the plate key is the deployment's, as `simulate`'s."""
    plate_key, key_id = settings.require_plate_key(), settings.plate_key_id
    async with KafkaSink(settings) as kafka:
        last = datetime.now(UTC)
        tick = 0
        while True:
            await asyncio.sleep(max(0.0, tick_s - (datetime.now(UTC) - last).total_seconds()))
            now = datetime.now(UTC)
            config = live_config(seed + tick, rate, now, (now - last).total_seconds())
            scenario = await asyncio.to_thread(
                generate, config, plate_key=plate_key, plate_key_id=key_id
            )
            report = SimulationReport(config.seed, "kafka", scenario.start, scenario.end,
                                      0, 0, None)  # fmt: skip
            await send_events(scenario.events, kafka, rate, False, report)
            logger.info("live tick sent", extra={"tick": tick, "sent": report.total_sent})
            last, tick = now, tick + 1
