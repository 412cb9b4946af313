"""Planted hotspots, and late entry: reports that reach the system days after they happened."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from producers.simulator.profiles import random_robbery_traits
from producers.simulator.robberies import robbery_report
from producers.simulator.timeline import ROBBERY_HOURS
from producers.simulator.world import METRO_UNITS
from schemas.common import BranchType, Location
from schemas.events import AlarmActivation
from schemas.geography import police_unit_for

if TYPE_CHECKING:
    import random

    from producers.simulator.truth import Draft

logger = logging.getLogger(__name__)

HOTSPOT_ROBBERIES = 5
HOTSPOT_DAYS = 3
# A town whose centre is a few hundred metres across, so five robberies lie within about 1 km;
# outside the metro units, where five in three days stand out against the place's history.
HOTSPOT_POPULATION = (15_000, 60_000)
HOTSPOT_TARGETS = (BranchType.SUPERMARKET, BranchType.SNACK_BAR, BranchType.DRUGSTORE,
                   BranchType.PETROL_STATION, BranchType.TELECOM_SHOP)  # fmt: skip


def add_hotspot(rng: random.Random, draft: Draft, number: int) -> None:
    """Five robberies by unrelated offenders around one town centre in the last three days."""
    hotspot_id = f"hotspot-{number:02d}"
    low, high = HOTSPOT_POPULATION
    towns = [place for place in draft.world.places if low <= place.population <= high]
    town = rng.choice(towns)
    while police_unit_for(Location(lat=town.lat, lon=town.lon)) in METRO_UNITS:
        town = rng.choice(towns)
    days = draft.clock.full_days() or range(draft.clock.day_count)
    last = list(days)[-HOTSPOT_DAYS:]
    for index in range(HOTSPOT_ROBBERIES):
        where = draft.world.add_branch(rng, rng.choice(HOTSPOT_TARGETS), town)
        at = draft.clock.fold(
            draft.clock.draw_on(rng, last[index % len(last)], ROBBERY_HOURS),
            margin=timedelta(hours=4),
        )
        offenders, weapons, modus, getaway = random_robbery_traits(
            rng, where.branch_type, draft.plate_key, draft.plate_key_id
        )
        report = robbery_report(rng, where, at, attempt=False, offenders=offenders,
                                weapons=weapons, modus_operandi=modus, getaway=getaway)  # fmt: skip
        draft.add_robbery(report, where, rng, hotspot_id=hotspot_id)
    logger.debug("hotspot planted", extra={"hotspot_id": hotspot_id, "town": town.name})


def enter_late(rng: random.Random, draft: Draft) -> None:
    """Delay a share of reports and sightings by days, as retailers and monthly uploads do.

    Alarms are never late here: a centre forwards a press in seconds. A delay past the end of
    the period is cut to the end (the backlog arrives when the period closes).
    """
    config = draft.config
    low, high = config.late_entry_days
    delayed = 0
    for index, event in enumerate(draft.events):
        if isinstance(event.model, AlarmActivation):
            continue
        # Draw for every report, late or not, so the choice of one never shifts another's.
        late, days = rng.random() < config.late_entry_share, rng.uniform(low, high)
        if not late:
            continue
        entered = draft.clock.cap(event.truth.emitted_at + timedelta(days=days))
        truth = event.truth.model_copy(update={"emitted_at": entered})
        draft.events[index] = replace(event, truth=truth)
        delayed += 1
    logger.debug("late entries", extra={"count": delayed})
