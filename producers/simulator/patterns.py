"""Planted patterns: robbery series by one crew, and reconnaissance followed by a robbery."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from producers.simulator.profiles import (
    RECON_TARGETS,
    crew_variant,
    random_crew,
    random_person,
    vary_clothing,
)
from producers.simulator.robberies import reporting_org, robbery_report
from producers.simulator.timeline import RECON_HOURS, ROBBERY_HOURS, new_id, spread_days
from producers.simulator.truth import PlantedRecon, PlantedSeries
from producers.simulator.world import bearing_deg, destination, distance_km
from schemas.common import BranchType
from schemas.events import (
    FaceCovering,
    Getaway,
    GetawayMode,
    PersonDescription,
    ReconBehaviour,
    ReconSighting,
)

if TYPE_CHECKING:
    import random
    from datetime import datetime

    from producers.simulator.profiles import Crew
    from producers.simulator.truth import Draft
    from producers.simulator.world import SimBranch
    from schemas.common import Location
    from schemas.events import IncidentReport

logger = logging.getLogger(__name__)

# Kinds of target crews work through one after another (§2.2: telecom shops and supermarkets
# in the Amsterdam region in mid-2021).
SERIES_TARGETS = (BranchType.SUPERMARKET, BranchType.PETROL_STATION, BranchType.TELECOM_SHOP,
                  BranchType.JEWELLER, BranchType.SNACK_BAR, BranchType.DRUGSTORE,
                  BranchType.OPTICIAN)  # fmt: skip
# Crews start where robbery is most common: half of them in the two metro police units.
METRO_START_SHARE = 0.5
MIN_STEP_KM = 1.5  # a crew moves on: the next robbery is not next door
CLUSTER_KM = 6.0  # scouted branches of one pattern lie within this of the first
SHARED_AREA_KM = 5.0  # a second crew in the area starts within this of the first's start
MARGIN = timedelta(hours=4)  # room after a robbery for its report and alarms


def add_series(rng: random.Random, draft: Draft, number: int) -> PlantedSeries:
    """3-6 robberies by one crew, 1-10 days and a few km apart, moving on along a path."""
    series_id = f"series-{number:02d}"
    # Different crews pick different kinds of target while kinds last, so that the truth
    # stays unambiguous; beyond that, two crews may work the same kind.
    taken = {series.branch_type for series in draft.series}
    branch_type = rng.choice([t for t in SERIES_TARGETS if t.value not in taken] or SERIES_TARGETS)
    crew = random_crew(rng, branch_type, draft.plate_key, draft.plate_key_id)
    size = rng.randint(3, 6)
    moments = spread_days(
        rng, draft.clock, [rng.uniform(1, 10) for _ in range(size - 1)], [ROBBERY_HOURS] * size
    )
    targets = _path(rng, draft, branch_type, size)
    draft.planted_branches.update(b.branch_id for b in targets)
    ids = []
    for index, (where, at) in enumerate(zip(targets, moments, strict=True), start=1):
        report = _crew_robbery(rng, crew, where, at, attempt=rng.random() < 0.15)
        draft.add_robbery(report, where, rng, series_id=series_id, series_index=index)
        ids.append(report.event_id)
    assert crew.vehicle.plate_pseudonym is not None
    planted = PlantedSeries(
        series_id=series_id,
        branch_type=branch_type.value,
        plate_pseudonym=crew.vehicle.plate_pseudonym,
        incident_ids=tuple(ids),
    )
    draft.series.append(planted)
    logger.debug("series planted", extra={"series_id": series_id, "size": size})
    return planted


def add_shared_area_crew(
    rng: random.Random, draft: Draft, beside: PlantedSeries
) -> PlantedSeries:
    """Another crew robbing the same kind of branch in the area and weeks of `beside`."""
    series_id = f"series-{len(draft.series) + 1:02d}"
    branch_type = BranchType(beside.branch_type)
    first = next(r for r in draft.robberies if r.report.event_id == beside.incident_ids[0])
    crew = random_crew(rng, branch_type, draft.plate_key, draft.plate_key_id)
    size = rng.randint(3, 6)
    near = [b for b in draft.world.of_type(branch_type)
            if b.branch_id not in draft.planted_branches
            and _km(first.where.location, b) <= SHARED_AREA_KM]  # fmt: skip
    start = rng.choice(near) if near else None
    if start is None:
        lat, lon = destination(first.where.location.lat, first.where.location.lon,
                               rng.uniform(0, 360), rng.uniform(1, SHARED_AREA_KM))  # fmt: skip
        start = draft.world.add_branch(rng, branch_type, draft.world.nearest_place(lat, lon))
    targets = _path(rng, draft, branch_type, size, start=start)
    draft.planted_branches.update(b.branch_id for b in targets)
    # The same weeks: starting within three days of the other crew's first robbery, moved
    # back as a whole if it would run past the period.
    moments = [first.report.occurred_at + timedelta(days=rng.uniform(-3, 3))]
    for _ in range(size - 1):
        moments.append(moments[-1] + timedelta(days=rng.uniform(1, 10), hours=rng.uniform(-3, 3)))
    overrun = max(timedelta(0), moments[-1] - (draft.clock.end - MARGIN))
    ids = []
    for index, (where, moment) in enumerate(zip(targets, moments, strict=True), start=1):
        at = draft.clock.fold(moment - overrun, margin=MARGIN)
        report = _crew_robbery(rng, crew, where, at, attempt=rng.random() < 0.15)
        draft.add_robbery(report, where, rng, series_id=series_id, series_index=index)
        ids.append(report.event_id)
    assert crew.vehicle.plate_pseudonym is not None
    planted = PlantedSeries(series_id=series_id, branch_type=branch_type.value,
                            plate_pseudonym=crew.vehicle.plate_pseudonym,
                            incident_ids=tuple(ids))  # fmt: skip
    draft.series.append(planted)
    return planted


def add_recon_pattern(
    rng: random.Random, draft: Draft, number: int, *, single: bool = False
) -> PlantedRecon:
    """2-4 sightings at branches of one kind within days (`single`: one), then a robbery at
    or near one."""
    pattern_id = f"recon-{number:02d}"
    branch_type = rng.choice(RECON_TARGETS)
    crew = random_crew(rng, branch_type, draft.plate_key, draft.plate_key_id)
    scouts = [_unmasked(rng, person) for person in crew.offenders[:2]]
    behaviours = rng.sample(list(ReconBehaviour), 2)
    count = rng.randint(2, 4)
    if single:  # drawn all the same: the pattern's kind, crew and behaviours stay as they were
        count = 1
    sighted = _cluster(rng, draft, branch_type, count)
    draft.planted_branches.update(b.branch_id for b in sighted)
    gaps = [rng.uniform(0.2, 2.0) for _ in range(count - 1)] + [rng.uniform(1, 5)]
    moments = spread_days(rng, draft.clock, gaps, [RECON_HOURS] * count + [ROBBERY_HOURS])
    sighting_ids = []
    last_reported = moments[0]
    for index, (where, observed) in enumerate(zip(sighted, moments[:count], strict=True)):
        vehicle = crew.vehicle
        if index > 0 and count >= 3 and rng.random() < 0.3:
            vehicle = vehicle.model_copy(update={"plate_pseudonym": None})  # plate not caught
        extra = [b for b in ReconBehaviour if b not in behaviours]
        sighting = ReconSighting(
            event_id=new_id(rng),
            reporter_org=reporting_org(where),
            branch=where.branch,
            observed_at=observed,
            behaviours=behaviours + ([rng.choice(extra)] if rng.random() < 0.5 else []),
            persons=[
                person.model_copy(update={"clothing": vary_clothing(rng, person.clothing)})
                for person in scouts
            ],
            vehicle=vehicle,
        )
        last_reported = observed + timedelta(minutes=rng.uniform(5, 90))
        draft.add(sighting, emitted_at=last_reported, where=where,
                  recon_pattern_id=pattern_id, recon_role="sighting")  # fmt: skip
        sighting_ids.append(sighting.event_id)
    # The robbery comes after the warning could have gone out, however squeezed the period.
    robbed_at = draft.clock.cap(max(moments[-1], last_reported + timedelta(hours=1)))
    target = _recon_target(rng, draft, sighted)
    draft.planted_branches.add(target.branch_id)
    report = _crew_robbery(rng, crew, target, robbed_at, attempt=False,
                           keep_vehicle=rng.random() < 0.5)  # fmt: skip
    draft.add_robbery(report, target, rng, recon_pattern_id=pattern_id, recon_role="robbery")
    assert crew.vehicle.plate_pseudonym is not None
    planted = PlantedRecon(
        pattern_id=pattern_id,
        branch_type=branch_type.value,
        plate_pseudonym=crew.vehicle.plate_pseudonym,
        sighting_ids=tuple(sighting_ids),
        robbery_id=report.event_id,
        robbery_branch_id=target.branch_id,
    )
    draft.recon.append(planted)
    return planted


def _crew_robbery(
    rng: random.Random,
    crew: Crew,
    where: SimBranch,
    at: datetime,
    *,
    attempt: bool,
    keep_vehicle: bool = True,
) -> IncidentReport:
    offenders, modus = crew_variant(rng, crew)
    weapons = list(crew.weapons)
    if len(weapons) > 1 and rng.random() < 0.3:  # one witness saw only one weapon
        weapons = weapons[:1]
    getaway = (
        Getaway(mode=GetawayMode.CAR, vehicle=crew.vehicle, direction=None)
        if keep_vehicle
        else Getaway(mode=rng.choice((GetawayMode.ON_FOOT, GetawayMode.UNKNOWN)))
    )
    return robbery_report(rng, where, at, attempt=attempt, offenders=offenders, weapons=weapons,
                          modus_operandi=modus, getaway=getaway)  # fmt: skip


def _start_branch(rng: random.Random, draft: Draft, branch_type: BranchType) -> SimBranch:
    of_type = [b for b in draft.world.of_type(branch_type)
               if b.branch_id not in draft.planted_branches]  # fmt: skip
    metro = [b for b in of_type if b.in_metro]
    if metro and rng.random() < METRO_START_SHARE:
        return rng.choice(metro)
    if of_type:
        return rng.choice(of_type)
    return draft.world.add_branch(rng, branch_type, rng.choice(draft.world.places))


def _path(
    rng: random.Random,
    draft: Draft,
    branch_type: BranchType,
    size: int,
    start: SimBranch | None = None,
) -> list[SimBranch]:
    """Branches along a wandering line, each a few km on from the last."""
    path = [start or _start_branch(rng, draft, branch_type)]
    heading = rng.uniform(0, 360)
    while len(path) < size:
        here = path[-1].location
        heading += rng.uniform(-40, 40)
        lat, lon = destination(here.lat, here.lon, heading, rng.uniform(2, 6))
        nearby = [
            b
            for b in draft.world.of_type(branch_type)
            if b not in path
            and b.branch_id not in draft.planted_branches
            and distance_km(lat, lon, b.location.lat, b.location.lon) <= 2.5
            and _km(here, b) >= MIN_STEP_KM
        ]
        if nearby:
            step = min(nearby, key=lambda b: distance_km(lat, lon, b.location.lat, b.location.lon))
        else:
            # No such branch there (open country, water): the crew goes to the next town.
            place = draft.world.nearest_place(lat, lon, away_from=here, min_km=MIN_STEP_KM)
            step = draft.world.add_branch(rng, branch_type, place)
        # Follow where the crew really went, so the path bends instead of zigzagging.
        heading = bearing_deg(here.lat, here.lon, step.location.lat, step.location.lon)
        path.append(step)
    return path


def _cluster(
    rng: random.Random, draft: Draft, branch_type: BranchType, count: int
) -> list[SimBranch]:
    """`count` different branches of one kind within a few km of each other."""
    cluster = [_start_branch(rng, draft, branch_type)]
    centre = cluster[0].location
    nearby = [
        b
        for b in draft.world.of_type(branch_type)
        if b not in cluster
        and b.branch_id not in draft.planted_branches
        and _km(centre, b) <= CLUSTER_KM
    ]
    rng.shuffle(nearby)
    while len(cluster) < count:
        if nearby:
            cluster.append(nearby.pop())
            continue
        lat, lon = destination(centre.lat, centre.lon, rng.uniform(0, 360), rng.uniform(1, 4))
        place = draft.world.nearest_place(lat, lon)
        cluster.append(draft.world.add_branch(rng, branch_type, place))
    return cluster


def _recon_target(rng: random.Random, draft: Draft, sighted: list[SimBranch]) -> SimBranch:
    """Mostly a scouted branch itself; otherwise one of its kind close by."""
    scouted = rng.choice(sighted)
    if rng.random() < 0.6:
        return scouted
    near = [
        b
        for b in draft.world.of_type(scouted.branch_type)
        if b not in sighted
        and b.branch_id not in draft.planted_branches
        and _km(scouted.location, b) <= 3
    ]
    return rng.choice(near) if near else scouted


def _unmasked(rng: random.Random, person: PersonDescription) -> PersonDescription:
    """The same person scouting: face visible or barely covered, other clothes."""
    scout = random_person(rng, masked=False)
    return person.model_copy(
        update={
            "face_covering": scout.face_covering or FaceCovering.NONE,
            "clothing": scout.clothing,
        }
    )


def _km(here: Location, branch: SimBranch) -> float:
    return distance_km(here.lat, here.lon, branch.location.lat, branch.location.lon)
