"""A whole simulated period from one seed: world, planted patterns, background, ground truth."""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from producers.simulator.alarms import add_alarms
from producers.simulator.crews import add_copycats, change_crews
from producers.simulator.dials import add_witness_noise, make_sparse
from producers.simulator.hotspots import add_hotspot, enter_late
from producers.simulator.patterns import add_recon_pattern, add_series, add_shared_area_crew
from producers.simulator.robberies import (
    add_background_robberies,
    add_background_sightings,
    add_ram_raids,
)
from producers.simulator.timeline import Clock
from producers.simulator.truth import Draft, GroundTruth
from producers.simulator.world import build_world

if TYPE_CHECKING:
    from pathlib import Path
    from uuid import UUID

    from producers.simulator.config import SimulationConfig
    from producers.simulator.truth import PlantedRecon, PlantedSeries, ScenarioEvent
    from schemas.common import Branch

logger = logging.getLogger(__name__)

# Pseudonyms only need one key per run to match; this one is for runs without a real key
# (pure tests, benchmarks). `simulate` uses the deployment's key instead.
SIMULATION_PLATE_KEY = b"heterdaad-simulator-plate-key-not-a-secret"
SIMULATION_PLATE_KEY_ID = "sim"


@dataclass(frozen=True)
class Scenario:
    """The events of a simulated period in the order they are sent, with the ground truth."""

    config: SimulationConfig
    start: datetime
    end: datetime
    branches: tuple[Branch, ...]
    events: tuple[ScenarioEvent, ...]
    series: tuple[PlantedSeries, ...]
    recon: tuple[PlantedRecon, ...]
    copycats: tuple[UUID, ...] = ()

    def truth(self) -> list[GroundTruth]:
        return [event.truth for event in self.events]

    def counts(self) -> dict[str, int]:
        """Events per type, for reports and logs."""
        return dict(Counter(event.truth.event_type for event in self.events))

    def write_truth(self, path: Path) -> None:
        """The ground truth as JSON lines, one per event, in sending order."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for event in self.events:
                handle.write(event.truth.model_dump_json() + "\n")


def read_truth(path: Path) -> list[GroundTruth]:
    """The ground truth written by `Scenario.write_truth`."""
    with path.open(encoding="utf-8") as handle:
        return [GroundTruth.model_validate_json(line) for line in handle if line.strip()]


def generate(
    config: SimulationConfig,
    *,
    plate_key: bytes = SIMULATION_PLATE_KEY,
    plate_key_id: str = SIMULATION_PLATE_KEY_ID,
    now: datetime | None = None,
) -> Scenario:
    """Every event of the period, sorted by the time it is sent; pure apart from the clock.

    Each part draws from its own generator seeded with the seed and the part's name, so that
    asking for more alarms, say, leaves the world and the planted patterns as they were.
    """
    start, end = config.period(now)
    draft = Draft(
        config=config,
        clock=Clock(start=start, end=end),
        world=build_world(_stream(config, "world"), config.branches),
        plate_key=plate_key,
        plate_key_id=plate_key_id,
    )
    series_rng = _stream(config, "series")
    for number in range(1, config.series + 1):
        add_series(series_rng, draft, number)
    recon_rng = _stream(config, "recon")
    single_rng = _stream(config, "single-sighting")
    for number in range(1, config.recon_patterns + 1):
        single = config.single_sighting_share > 0 and (
            single_rng.random() < config.single_sighting_share
        )
        add_recon_pattern(recon_rng, draft, number, single=single)
    add_background_robberies(_stream(config, "robberies"), draft)
    add_ram_raids(_stream(config, "ram-raids"), draft)
    # Crew dials before the alarms, so that their robberies have hold-up presses too.
    add_crew_dials(config, draft)
    add_alarms(_stream(config, "alarms"), draft)
    add_background_sightings(_stream(config, "sightings"), draft)
    # Parts added after the first version come last, so that older seeds replay unchanged.
    hotspot_rng = _stream(config, "hotspots")
    for number in range(1, config.hotspots + 1):
        add_hotspot(hotspot_rng, draft, number)
    if config.late_entry_share > 0:
        enter_late(_stream(config, "late-entry"), draft)
    if config.sparse_reports:
        make_sparse(_stream(config, "sparse"), draft)
    if config.witness_noise > 0:
        add_witness_noise(_stream(config, "witness-noise"), draft)
    # Stable sort: events sent at the same moment keep the order they were made in.
    events = sorted(draft.events, key=lambda event: event.emitted_at)
    scenario = Scenario(
        config=config,
        start=start,
        end=end,
        branches=tuple(b.branch for b in draft.world.branches),
        events=tuple(events),
        series=tuple(draft.series),
        recon=tuple(draft.recon),
        copycats=tuple(draft.copycats),
    )
    logger.info(
        "scenario generated",
        extra={"seed": config.seed, "days": config.days, "events": scenario.counts()},
    )
    return scenario


def add_crew_dials(config: SimulationConfig, draft: Draft) -> None:
    """Two crews in one area, crews changing their ways, copycats: each only when dialled."""
    if config.shared_area_crews > 0:
        rng = _stream(config, "shared-area")
        planted = list(draft.series)
        for number in range(config.shared_area_crews if planted else 0):
            add_shared_area_crew(rng, draft, planted[number % len(planted)])
    if config.crew_changes > 0:
        change_crews(_stream(config, "crew-changes"), draft)
    if config.copycats > 0:
        add_copycats(_stream(config, "copycats"), draft)


def _stream(config: SimulationConfig, part: str) -> random.Random:
    # String seeds are hashed with SHA-512, so they do not depend on PYTHONHASHSEED.
    return random.Random(f"{config.seed}:{part}")
