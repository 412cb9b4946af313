"""Evaluation dials on crews: crews that change their ways, and copycats imitating them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from producers.simulator.patterns import SERIES_TARGETS
from producers.simulator.profiles import (
    CLOTHING,
    loot_of,
    random_person,
    random_robbery_traits,
    random_vehicle,
)
from producers.simulator.robberies import reporting_org, robbery_report
from producers.simulator.truth import Robbery
from producers.simulator.world import distance_km
from schemas.common import BranchType
from schemas.events import IncidentType, Weapon

if TYPE_CHECKING:
    import random

    from producers.simulator.truth import Draft
    from producers.simulator.world import SimBranch
    from schemas.events import IncidentReport, Vehicle

logger = logging.getLogger(__name__)

CHANGES = ("car", "weapon", "clothing", "branch_type")
WEAPON_SETS = ((Weapon.FIREARM,), (Weapon.KNIFE,), (Weapon.FIREARM, Weapon.KNIFE),
               (Weapon.BLUNT,), (Weapon.SUGGESTED,))  # fmt: skip
SWITCH_KM = 3.0  # a crew that switches kind robs one of the new kind near where it would have
COPYCAT_KM = 5.0  # copycats strike within this of the robbery they imitate ...
COPYCAT_DAYS = (1.0, 7.0)  # ... this many days after it (the news travelled)
MARGIN = timedelta(hours=4)


@dataclass
class _Ways:
    """What a crew has changed so far; None: as it started."""

    car: Vehicle | None = None
    weapons: tuple[Weapon, ...] | None = None
    clothing: list[list[str]] | None = None
    branch_type: BranchType | None = None


def change_crews(rng: random.Random, draft: Draft) -> None:
    """Before each robbery after its first, a crew changes one of its ways with chance
    `crew_changes`, and keeps the change."""
    share = draft.config.crew_changes
    at_index = {r.report.event_id: i for i, r in enumerate(draft.robberies)}
    changed = 0
    for planted in draft.series:
        ways = _Ways()
        for number, event_id in enumerate(planted.incident_ids):
            robbery = draft.robberies[at_index[event_id]]
            if number > 0 and rng.random() < share:
                changed += _change(rng, draft, ways, robbery)
            if ways != _Ways():
                _rewrite(rng, draft, at_index[event_id], ways)
    logger.debug("crews changed", extra={"changes": changed})


def _change(rng: random.Random, draft: Draft, ways: _Ways, robbery: Robbery) -> bool:
    what = rng.choice(CHANGES)
    report = robbery.report
    if what == "car":
        ways.car = random_vehicle(rng, draft.plate_key, draft.plate_key_id)
    elif what == "weapon":
        ways.weapons = rng.choice([w for w in WEAPON_SETS if list(w) != report.weapons])
    elif what == "clothing":
        ways.clothing = [rng.sample(CLOTHING, rng.randint(1, 3)) for _ in report.offenders]
    else:
        kinds = [t for t in SERIES_TARGETS if t != (ways.branch_type or robbery.where.branch_type)]
        kind = rng.choice(kinds)
        if _switched_branch(draft, robbery.where, kind) is None:
            return False  # none of that kind nearby: the crew stays with what it knows
        ways.branch_type = kind
    return True


def _rewrite(rng: random.Random, draft: Draft, index: int, ways: _Ways) -> None:
    robbery = draft.robberies[index]
    report, where = robbery.report, robbery.where
    update: dict[str, object] = {}
    if ways.car is not None and report.getaway is not None and report.getaway.vehicle is not None:
        update["getaway"] = report.getaway.model_copy(update={"vehicle": ways.car})
    if ways.weapons is not None:
        update["weapons"] = list(ways.weapons)
    if ways.clothing is not None:
        update["offenders"] = [
            person.model_copy(update={"clothing": clothing})
            for person, clothing in zip(report.offenders, ways.clothing, strict=False)
        ]
    if ways.branch_type is not None:
        switched = _switched_branch(draft, where, ways.branch_type)
        if switched is not None:
            where = switched
            draft.planted_branches.add(where.branch_id)
            attempt = report.incident_type == IncidentType.POGING
            loot, value = loot_of(rng, where.branch_type, attempt)
            update |= {"branch": where.branch, "reporting_org": reporting_org(where),
                       "loot": loot, "loot_value": value}  # fmt: skip
    changed = report.model_copy(update=update)
    draft.robberies[index] = Robbery(report=changed, where=where)
    for position, event in enumerate(draft.events):
        if event.model.event_id == report.event_id:
            truth = event.truth.model_copy(
                update={"branch_id": where.branch_id, "police_unit": where.unit}
            )
            draft.events[position] = replace(event, model=changed, truth=truth)


def _switched_branch(draft: Draft, where: SimBranch, kind: BranchType) -> SimBranch | None:
    """The nearest branch of `kind` within SWITCH_KM of `where` that no pattern used."""
    near = [
        (distance_km(where.location.lat, where.location.lon, b.location.lat, b.location.lon), b)
        for b in draft.world.of_type(kind)
        if b.branch_id not in draft.planted_branches
    ]
    near = [(km, b) for km, b in near if km <= SWITCH_KM]
    return min(near, key=lambda pair: pair[0])[1] if near else None


def add_copycats(rng: random.Random, draft: Draft) -> None:
    """`copycats` robberies per planted series by others who heard of it: the crew's modus
    operandi and weapons, a branch of its kind nearby, days later; no series in the truth."""
    by_id = {r.report.event_id: r for r in draft.robberies}
    for planted in list(draft.series):
        for _ in range(draft.config.copycats):
            imitated = by_id[rng.choice(planted.incident_ids)]
            where = _copycat_target(rng, draft, imitated.where)
            at = draft.clock.fold(
                imitated.report.occurred_at + timedelta(days=rng.uniform(*COPYCAT_DAYS)),
                margin=MARGIN,
            )
            _, _, _, getaway = random_robbery_traits(
                rng, where.branch_type, draft.plate_key, draft.plate_key_id
            )
            count = rng.choices((1, 2, 3), (3, 5, 2))[0]
            report: IncidentReport = robbery_report(
                rng, where, at, attempt=rng.random() < 0.25,
                offenders=[random_person(rng, masked=True) for _ in range(count)],
                weapons=list(imitated.report.weapons),
                modus_operandi=list(imitated.report.modus_operandi), getaway=getaway,
            )  # fmt: skip
            draft.add_robbery(report, where, rng)
            draft.copycats.append(report.event_id)
    logger.debug("copycats", extra={"count": len(draft.copycats)})


def _copycat_target(rng: random.Random, draft: Draft, near: SimBranch) -> SimBranch:
    """A branch of the imitated kind nearby; in a place with no other, a new one there."""
    candidates = [
        b
        for b in draft.world.of_type(near.branch_type)
        if b.branch_id not in draft.planted_branches
        and distance_km(near.location.lat, near.location.lon, b.location.lat, b.location.lon)
        <= COPYCAT_KM
    ]
    if candidates:
        return rng.choice(candidates)
    return draft.world.add_branch(rng, near.branch_type, near.place)
