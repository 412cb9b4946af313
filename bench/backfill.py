"""The history path: a year of national history through the simulator's history mode into Kafka."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from producers.simulator import SimulationConfig, simulate

if TYPE_CHECKING:
    from heterdaad.settings import Settings

# A fixed end, so every run sends the same events (the figures then differ by machine only).
END = datetime(2026, 3, 1, tzinfo=UTC)
# DOMAIN.md: 1,982 robberies in 2012, the highest year of the action programme's figures.
RATE_2012 = 1982.0


@dataclass(frozen=True)
class Backfill:
    days: float
    events: int
    generate_s: float  # drawing the scenario (world, patterns, alarms) before the first send
    send_s: float  # first send to the last acknowledgement

    @property
    def total_s(self) -> float:
        return self.generate_s + self.send_s

    @property
    def send_per_s(self) -> float:
        return self.events / self.send_s if self.send_s else 0.0

    @property
    def total_per_s(self) -> float:
        return self.events / self.total_s if self.total_s else 0.0


async def run(settings: Settings, days: float, seed: int = 7) -> Backfill:
    """`heterdaad simulate --history-days DAYS --robberies-per-year 1982`, timed."""
    config = SimulationConfig(seed=seed, days=days, end=END, robberies_per_year=RATE_2012)
    began = time.monotonic()
    report = await simulate(settings, config)
    total = time.monotonic() - began
    return Backfill(days, report.total_sent, total - report.seconds, report.seconds)
