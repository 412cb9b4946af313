"""Background crime: robberies, ram raids and lone reconnaissance sightings at domain rates."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from producers.simulator.profiles import (
    RECON_TARGETS,
    loot_of,
    random_behaviours,
    random_person,
    random_robbery_traits,
    random_vehicle,
)
from producers.simulator.timeline import NIGHT_HOURS, RECON_HOURS, ROBBERY_HOURS, new_id
from producers.simulator.world import jitter
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import (
    Getaway,
    GetawayMode,
    IncidentReport,
    IncidentType,
    LootCategory,
    ModusOperandi,
    PersonDescription,
    ReconSighting,
    ValueBand,
    Vehicle,
    Weapon,
)

if TYPE_CHECKING:
    import random
    from datetime import datetime

    from producers.simulator.truth import Draft
    from producers.simulator.world import SimBranch

logger = logging.getLogger(__name__)

# Within the police units Amsterdam and Rotterdam, how the metro share divides (§6.1 puts
# Amsterdam first for street robbery; for robbery the two are close).
AMSTERDAM_PART = 0.55
RAM_RAID_TARGETS = (BranchType.BANK, BranchType.SUPERMARKET, BranchType.JEWELLER,
                    BranchType.TELECOM_SHOP)  # fmt: skip
# Margin before the end of the period so follow-up events (reports, restores) still fit.
MARGIN = timedelta(hours=4)


def reporting_org(where: SimBranch) -> str:
    """Supermarkets report in the trade association's tool; other chains and shops themselves."""
    if where.branch_type == BranchType.SUPERMARKET:
        return "cbl"
    return where.branch_id.rsplit("-", 1)[0] if where.branch.chain else "independent"


def robbery_report(
    rng: random.Random,
    where: SimBranch,
    at: datetime,
    *,
    attempt: bool,
    offenders: list[PersonDescription],
    weapons: list[Weapon],
    modus_operandi: list[ModusOperandi],
    getaway: Getaway,
) -> IncidentReport:
    loot, value = loot_of(rng, where.branch_type, attempt)
    return IncidentReport(
        event_id=new_id(rng),
        reporting_org=reporting_org(where),
        branch=where.branch,
        incident_type=IncidentType.POGING if attempt else IncidentType.OVERVAL,
        occurred_at=at,
        offender_count=len(offenders),
        weapons=weapons,
        modus_operandi=modus_operandi,
        loot=loot,
        loot_value=value,
        getaway=getaway,
        offenders=offenders,
    )


def pick_robbery_target(rng: random.Random, draft: Draft) -> SimBranch:
    """A branch to rob: first the region (metro share), then a branch by its kind's risk."""
    share = draft.config.metro_robbery_share
    area = rng.choices(
        (PoliceUnit.AMSTERDAM, PoliceUnit.ROTTERDAM, None),
        weights=(share * AMSTERDAM_PART, share * (1 - AMSTERDAM_PART), 1 - share),
    )[0]
    candidates = [
        b
        for b in draft.world.branches
        if (b.unit == area if area is not None else not b.in_metro) and b.risk > 0
    ]
    candidates = candidates or draft.world.branches  # a tiny world may lack a region
    return rng.choices(candidates, weights=[b.risk for b in candidates])[0]


def add_background_robbery(
    rng: random.Random, draft: Draft, where: SimBranch | None = None
) -> IncidentReport:
    where = where or pick_robbery_target(rng, draft)
    at = draft.clock.draw(rng, ROBBERY_HOURS, margin=MARGIN)
    offenders, weapons, modus, getaway = random_robbery_traits(
        rng, where.branch_type, draft.plate_key, draft.plate_key_id
    )
    report = robbery_report(
        rng,
        where,
        at,
        attempt=rng.random() < draft.config.attempt_share,
        offenders=offenders,
        weapons=weapons,
        modus_operandi=modus,
        getaway=getaway,
    )
    draft.add_robbery(report, where, rng)
    return report


def add_background_robberies(rng: random.Random, draft: Draft) -> None:
    count = round(draft.config.robberies_per_year * draft.config.days / 365)
    for _ in range(count):
        add_background_robbery(rng, draft)
    logger.debug("background robberies", extra={"count": count})


def add_ram_raids(rng: random.Random, draft: Draft) -> None:
    """Night-time ram raids and ATM attacks: no staff, no hold-up button, no offender faces."""
    count = round(draft.config.ram_raids_per_year * draft.config.days / 365)
    targets = [b for b in draft.world.branches if b.branch_type in RAM_RAID_TARGETS]
    for _ in range(count if targets else 0):
        where = rng.choice(targets)
        explosive = where.branch_type == BranchType.BANK or rng.random() < 0.3
        vehicle = random_vehicle(rng, draft.plate_key, draft.plate_key_id)
        report = IncidentReport(
            event_id=new_id(rng),
            reporting_org=reporting_org(where),
            branch=where.branch,
            incident_type=IncidentType.PLOFKRAAK if explosive else IncidentType.RAMKRAAK,
            occurred_at=draft.clock.draw(rng, NIGHT_HOURS, margin=MARGIN),
            offender_count=rng.randint(2, 4),
            weapons=[Weapon.EXPLOSIVE] if explosive else [],
            modus_operandi=[
                ModusOperandi.GAS_OR_EXPLOSIVE if explosive else ModusOperandi.VEHICLE_RAM
            ],
            loot=[LootCategory.CASH] if explosive else [LootCategory.OTHER_GOODS],
            loot_value=ValueBand.UNKNOWN,
            getaway=Getaway(mode=GetawayMode.CAR, vehicle=vehicle),
        )
        # A ram raid is no hold-up: it is not offered to the hold-up alarm stage as a robbery.
        draft.add(report, emitted_at=report.occurred_at + timedelta(hours=rng.uniform(1, 8)),
                  where=where)  # fmt: skip


def add_background_sightings(rng: random.Random, draft: Draft) -> None:
    """Lone sightings staff report that lead nowhere: the noise a recon linker must ignore."""
    count = round(draft.config.background_sightings_per_day * draft.config.days)
    targets = [b for b in draft.world.branches if b.branch_type in RECON_TARGETS]
    targets = targets or draft.world.branches
    for _ in range(count):
        where = rng.choice(targets)
        observed = draft.clock.draw(rng, RECON_HOURS, margin=MARGIN)
        vehicle: Vehicle | None = None
        if rng.random() < 0.4:
            vehicle = random_vehicle(rng, draft.plate_key, draft.plate_key_id)
        branch_known = rng.random() < 0.9
        location: Location | None = None
        if not branch_known:
            # Seen in the street nearby rather than at one branch.
            location = jitter(rng, where.location.lat, where.location.lon, 0.2)
        sighting = ReconSighting(
            event_id=new_id(rng),
            reporter_org=reporting_org(where),
            branch=where.branch if branch_known else None,
            location=location,
            observed_at=observed,
            behaviours=random_behaviours(rng),
            persons=[random_person(rng, masked=False) for _ in range(rng.randint(1, 2))],
            vehicle=vehicle,
        )
        emitted = observed + timedelta(minutes=rng.uniform(5, 90))
        draft.add(sighting, emitted_at=emitted, where=where)
