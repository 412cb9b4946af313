"""Evaluation dials that rewrite what is reported: sparse reports and witness noise.

Both act on the finished draft, each with its own random stream, and change only the content
of reports and sightings: ids, times, places and the ground truth stay as they were. The
rates below are argued in docs/evaluation.md.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from producers.simulator.profiles import CARS, CLOTHING, COLOURS
from schemas.events import (
    Build,
    Getaway,
    GetawayMode,
    HeightBand,
    IncidentReport,
    PersonDescription,
    ReconSighting,
    Vehicle,
)

if TYPE_CHECKING:
    import random

    from producers.simulator.truth import Draft, GroundTruth

logger = logging.getLogger(__name__)

# All dials on, at the rates docs/evaluation.md argues for: the evaluation's "hardest default".
HARDEST_DIALS: dict[str, Any] = {
    "sparse_reports": True,
    "witness_noise": 0.15,
    "crew_changes": 0.3,
    "shared_area_crews": 2,
    "copycats": 1,
    "single_sighting_share": 0.5,
}

# --- sparse reports --------------------------------------------------------------------------
# Modus operandi left empty: the held-out reports of issue 15 had none at all; the CBL form
# and most chains' forms make it optional, so we leave it out of most, not all.
SPARSE_NO_MODUS = 0.6
# Offenders not described at all (a robbery of seconds, staff looking at the weapon) ...
SPARSE_NO_DESCRIPTION = 0.3
# ... or with one detail only (a height, a build or one piece of clothing).
SPARSE_ONE_DETAIL = 0.5
# The getaway not seen: staff stay inside until the offenders have gone.
SPARSE_NO_GETAWAY = 0.3
# A crew's plate is known for some crews only (issue 15): when it is not, no report or sighting
# of that crew carries it. Background plates are missed half again as often as now.
SPARSE_CREW_PLATE_KNOWN = 0.4
SPARSE_OTHER_PLATE_MISSED = 0.5


def make_sparse(rng: random.Random, draft: Draft) -> None:
    """Thin out every incident report and sighting as hurried reporters do."""
    crews: dict[str, bool] = {}
    for index, event in enumerate(draft.events):
        model = event.model
        if not isinstance(model, IncidentReport | ReconSighting):
            continue
        crew = _crew_of(event.truth)
        if crew is not None and crew not in crews:
            crews[crew] = rng.random() < SPARSE_CREW_PLATE_KNOWN
        keep_plate = crews[crew] if crew is not None else rng.random() >= SPARSE_OTHER_PLATE_MISSED
        if isinstance(model, IncidentReport):
            sparse: IncidentReport | ReconSighting = _sparse_report(rng, model, keep_plate)
        else:
            sparse = model.model_copy(update={
                "persons": _sparse_people(rng, model.persons),
                "vehicle": _without_plate(model.vehicle, keep_plate),
            })  # fmt: skip
        draft.events[index] = replace(event, model=sparse)
    _sync_robberies(draft)
    logger.debug("sparse reports", extra={"crews": len(crews)})


def _sparse_report(rng: random.Random, report: IncidentReport, keep_plate: bool) -> IncidentReport:
    getaway = report.getaway
    if getaway is not None and rng.random() < SPARSE_NO_GETAWAY:
        getaway = Getaway(mode=GetawayMode.UNKNOWN)
    elif getaway is not None:
        vehicle = _without_plate(getaway.vehicle, keep_plate)
        getaway = getaway.model_copy(update={"vehicle": vehicle})
    return report.model_copy(update={
        "modus_operandi": [] if rng.random() < SPARSE_NO_MODUS else report.modus_operandi,
        "offenders": _sparse_people(rng, report.offenders),
        "getaway": getaway,
    })  # fmt: skip


def _sparse_people(rng: random.Random, people: list[PersonDescription]) -> list[PersonDescription]:
    draw = rng.random()
    if draw < SPARSE_NO_DESCRIPTION:
        return []
    if draw < SPARSE_NO_DESCRIPTION + SPARSE_ONE_DETAIL:
        return [_one_detail(rng, person) for person in people]
    return people


def _one_detail(rng: random.Random, person: PersonDescription) -> PersonDescription:
    details: list[dict[str, object]] = []
    if person.height_band is not None:
        details.append({"height_band": person.height_band})
    if person.build is not None:
        details.append({"build": person.build})
    if person.clothing:
        details.append({"clothing": [rng.choice(person.clothing)]})
    return PersonDescription.model_validate(rng.choice(details) if details else {})


def _without_plate(vehicle: Vehicle | None, keep_plate: bool) -> Vehicle | None:
    if vehicle is None or keep_plate:
        return vehicle
    return vehicle.model_copy(update={"plate_pseudonym": None})


# --- witness noise ---------------------------------------------------------------------------


def add_witness_noise(rng: random.Random, draft: Draft) -> None:
    """Each detail of each report and sighting is wrong with chance `witness_noise`."""
    rate = draft.config.witness_noise
    for index, event in enumerate(draft.events):
        model = event.model
        if isinstance(model, IncidentReport):
            noisy: IncidentReport | ReconSighting = noisy_report(rng, model, rate)
        elif isinstance(model, ReconSighting):
            noisy = model.model_copy(update={
                "persons": [noisy_person(rng, p, rate) for p in model.persons],
                "vehicle": noisy_vehicle(rng, model.vehicle, rate),
            })  # fmt: skip
        else:
            continue
        draft.events[index] = replace(event, model=noisy)
    _sync_robberies(draft)


def noisy_report(rng: random.Random, report: IncidentReport, rate: float) -> IncidentReport:
    """The same robbery as a less careful witness tells it: a wrong colour, make, clothing,
    offender count, height or build."""
    count = report.offender_count
    if count is not None and rng.random() < rate:
        count = count + 1 if count == 1 else count + rng.choice((-1, 1))
    getaway = report.getaway
    if getaway is not None:
        getaway = getaway.model_copy(update={"vehicle": noisy_vehicle(rng, getaway.vehicle, rate)})
    return report.model_copy(update={
        "offender_count": count,
        "offenders": [noisy_person(rng, p, rate) for p in report.offenders],
        "getaway": getaway,
    })  # fmt: skip


def noisy_person(rng: random.Random, person: PersonDescription, rate: float) -> PersonDescription:
    update: dict[str, object] = {}
    if person.height_band is not None and rng.random() < rate:
        update["height_band"] = rng.choice([h for h in HeightBand if h != person.height_band])
    if person.build is not None and rng.random() < rate:
        update["build"] = rng.choice([b for b in Build if b != person.build])
    if person.clothing and rng.random() < rate:
        # One item remembered as another.
        clothing = list(person.clothing)
        clothing[rng.randrange(len(clothing))] = rng.choice(CLOTHING)
        update["clothing"] = list(dict.fromkeys(clothing))
    return person.model_copy(update=update)


def noisy_vehicle(rng: random.Random, vehicle: Vehicle | None, rate: float) -> Vehicle | None:
    if vehicle is None or vehicle.kind != GetawayMode.CAR:
        return vehicle
    update: dict[str, object] = {}
    if rng.random() < rate:
        update["colour"] = rng.choice([c for c in COLOURS if c != vehicle.colour])
    if rng.random() < rate:
        update["make"] = rng.choice([m for m in CARS if m != vehicle.make])
    return vehicle.model_copy(update=update)


def _crew_of(truth: GroundTruth) -> str | None:
    return truth.series_id or truth.recon_pattern_id


def _sync_robberies(draft: Draft) -> None:
    """Robberies kept for the alarm part hold the report as reported too."""
    reports = {
        e.model.event_id: e.model for e in draft.events if isinstance(e.model, IncidentReport)
    }
    draft.robberies = [replace(r, report=reports.get(r.report.event_id, r.report))
                       for r in draft.robberies]  # fmt: skip
