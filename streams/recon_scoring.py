"""What linkage keeps of sightings and robberies, and how alike two of them are (scores)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.alerts import LinkReason
from schemas.common import BranchType
from schemas.distance import METRES_PER_DEGREE_LAT, metres_between
from schemas.events import IncidentReport, PersonDescription, ReconBehaviour, ReconSighting, Vehicle

if TYPE_CHECKING:
    from heterdaad.thresholds.reconnaissance import ReconThresholds, ReconWeights

logger = logging.getLogger(__name__)

# Attributes a witness notes of a person that stay the same from one visit to the next; a face
# covering is compared between sightings only, as robbers mask themselves.
SIGHTING_ATTRIBUTES = ("height_band", "build", "language", "face_covering")
ROBBERY_ATTRIBUTES = ("height_band", "build", "language")
UNKNOWN_VALUES = frozenset({"", "unknown", "onbekend"})


class Record(BaseModel):
    """Base of what is kept in the linkage state: mutable, stored as JSON."""

    model_config = ConfigDict(extra="forbid")


class TrackedSighting(Record):
    """A sighting as linkage keeps it: plain coordinates, so loading state skips the gazetteer."""

    event_id: UUID
    observed_at: datetime
    lat: float
    lon: float
    branch_id: str | None
    branch_type: BranchType | None
    behaviours: list[ReconBehaviour]
    persons: list[PersonDescription]
    vehicle: Vehicle | None
    pattern_id: str

    @classmethod
    def of(cls, sighting: ReconSighting, pattern_id: str) -> TrackedSighting:
        where = sighting.where
        branch = sighting.branch
        return cls(
            event_id=sighting.event_id,
            observed_at=sighting.observed_at,
            lat=where.lat,
            lon=where.lon,
            branch_id=branch.branch_id if branch else None,
            branch_type=branch.branch_type if branch else None,
            behaviours=sighting.behaviours,
            persons=sighting.persons,
            vehicle=sighting.vehicle,
            pattern_id=pattern_id,
        )


class TrackedRobbery(Record):
    """A robbery kept for the grace period, so a sighting reported late can still be linked."""

    event_id: UUID
    occurred_at: datetime
    lat: float
    lon: float
    branch_id: str
    branch_type: BranchType
    offenders: list[PersonDescription]
    vehicle: Vehicle | None
    linked: list[UUID] = []

    @classmethod
    def of(cls, report: IncidentReport) -> TrackedRobbery:
        return cls(
            event_id=report.event_id,
            occurred_at=report.occurred_at,
            lat=report.branch.location.lat,
            lon=report.branch.location.lon,
            branch_id=report.branch.branch_id,
            branch_type=report.branch.branch_type,
            offenders=report.offenders,
            vehicle=report.getaway.vehicle if report.getaway else None,
        )


@dataclass(frozen=True)
class Score:
    """A link's score (sum of log-likelihood ratios) with each feature's part in it."""

    total: float
    reasons: tuple[LinkReason, ...] = ()
    similarity: dict[str, float] = field(default_factory=dict)


def within(a_lat: float, a_lon: float, b_lat: float, b_lon: float, radius_m: float) -> bool:
    """Whether two points lie within the radius; a box test first spares most trigonometry."""
    degree_m = METRES_PER_DEGREE_LAT
    if abs(a_lat - b_lat) * degree_m > radius_m:
        return False
    # At Dutch latitudes (below 54 degrees) a degree of longitude is at least 0.58 of that.
    if abs(a_lon - b_lon) * degree_m * 0.58 > radius_m:
        return False
    return metres_between(a_lat, a_lon, b_lat, b_lon) <= radius_m


def _plain(value: object) -> str | None:
    """A noted value for comparison, or None when it was not noted (or noted as unknown)."""
    if value is None:
        return None
    text = str(value.value if isinstance(value, StrEnum) else value).strip().casefold()
    return None if text in UNKNOWN_VALUES else text


def _jaccard(a: Iterable[object], b: Iterable[object]) -> float:
    left, right = {_plain(x) for x in a} - {None}, {_plain(x) for x in b} - {None}
    return len(left & right) / len(left | right) if left and right else 0.0


def _vehicle(a: Vehicle | None, b: Vehicle | None, w: ReconWeights) -> Score:
    if a is None or b is None:
        return Score(0.0)
    reasons, similarity = [], {}
    plates = a.plate_pseudonym, b.plate_pseudonym
    # Pseudonyms under different keys cannot be compared: different is no evidence then.
    if plates[0] and plates[1] and plates[0].split(":")[1] == plates[1].split(":")[1]:
        same = plates[0] == plates[1]
        reasons.append(
            LinkReason(
                feature="plate",
                value="equal" if same else "different",
                contribution=w.plate_match if same else w.plate_mismatch,
            )
        )
        similarity["plate"] = float(same)
    compared = [
        (x, y)
        for x, y in ((_plain(a.make), _plain(b.make)), (_plain(a.colour), _plain(b.colour)))
        if x and y
    ]
    if compared:
        same = all(x == y for x, y in compared)
        # Make alone or colour alone is weaker evidence than both.
        share = len(compared) / 2
        contribution = w.vehicle_match * share if same else w.vehicle_mismatch
        described = " ".join(y for _, y in compared)
        reasons.append(LinkReason(feature="vehicle", value=described, contribution=contribution))
        similarity["vehicle"] = float(same)
    return Score(sum(r.contribution for r in reasons), tuple(reasons), similarity)


def _person_pair(
    a: PersonDescription,
    b: PersonDescription,
    attributes: tuple[str, ...],
    w: ReconWeights,
    *,
    clothing: bool,
) -> Score:
    pairs = [(_plain(getattr(a, name)), _plain(getattr(b, name))) for name in attributes]
    known = [(x, y) for x, y in pairs if x and y]
    equal = sum(x == y for x, y in known)
    reasons = []
    if known:
        contribution = equal * w.person_attribute_match + (len(known) - equal) * (
            w.person_attribute_mismatch
        )
        reasons.append(
            LinkReason(feature="persons", value=f"{equal}/{len(known)}", contribution=contribution)
        )
    similarity = {"persons": equal / len(known)} if known else {}
    if clothing and a.clothing and b.clothing:
        overlap = _jaccard(a.clothing, b.clothing)
        reasons.append(
            LinkReason(
                feature="clothing", value=round(overlap, 2), contribution=w.clothing * overlap
            )
        )
        similarity["clothing"] = overlap
    return Score(sum(r.contribution for r in reasons), tuple(reasons), similarity)


def _persons(
    a: list[PersonDescription],
    b: list[PersonDescription],
    attributes: tuple[str, ...],
    w: ReconWeights,
    *,
    clothing: bool,
) -> Score:
    # The best-matching pair: one scout recognised again is the evidence; the others may have
    # stayed in the car.
    scores = [_person_pair(x, y, attributes, w, clothing=clothing) for x in a for y in b]
    return max(scores, key=lambda score: score.total, default=Score(0.0))


def _combined(*parts: Score) -> Score:
    reasons = tuple(reason for part in parts for reason in part.reasons)
    similarity = {key: value for part in parts for key, value in part.similarity.items()}
    return Score(sum(part.total for part in parts), reasons, similarity)


def sighting_score(a: TrackedSighting, b: TrackedSighting, t: ReconThresholds) -> Score | None:
    """How alike two sightings are, or None when they are too far apart to be one pattern."""
    if abs(a.observed_at - b.observed_at) > timedelta(days=t.window_days):
        return None
    if a.branch_type and b.branch_type and a.branch_type != b.branch_type:
        return None  # a crew scouts one kind of target (jewellers, petrol stations...)
    if not within(a.lat, a.lon, b.lat, b.lon, t.cluster_radius_m):
        return None
    w = t.weights
    behaviours = _jaccard(a.behaviours, b.behaviours)
    acts = Score(
        w.behaviours * behaviours,
        (
            LinkReason(
                feature="behaviours",
                value=round(behaviours, 2),
                contribution=w.behaviours * behaviours,
            ),
        ),
        {"behaviours": behaviours},
    )
    return _combined(
        _vehicle(a.vehicle, b.vehicle, w),
        _persons(a.persons, b.persons, SIGHTING_ATTRIBUTES, w, clothing=True),
        acts,
    )


def robbery_score(
    robbery: TrackedRobbery, s: TrackedSighting, t: ReconThresholds, *, warned: bool = False
) -> Score | None:
    """How well a robbery fits as the sequel of a sighting, or None when it cannot be one.

    `warned`: the sighting is part of a pattern that was warned of.
    """
    gap = robbery.occurred_at - s.observed_at
    if gap <= timedelta(0) or gap > timedelta(days=t.robbery_link_days):
        return None
    w = t.weights
    if s.branch_id is not None and s.branch_id == robbery.branch_id:
        place = LinkReason(feature="same_branch", value=s.branch_id, contribution=w.same_branch)
    elif s.branch_type in (None, robbery.branch_type) and within(
        s.lat, s.lon, robbery.lat, robbery.lon, t.robbery_link_radius_m
    ):
        place = LinkReason(
            feature="nearby_branch", value=robbery.branch_id, contribution=w.nearby_branch
        )
    else:
        return None
    crew = (
        Score(
            w.warned_pattern,
            (
                LinkReason(
                    feature="warned_pattern", value=s.pattern_id, contribution=w.warned_pattern
                ),
            ),
        )
        if warned
        else Score(0.0)
    )
    return _combined(
        Score(place.contribution, (place,)),
        crew,
        _vehicle(robbery.vehicle, s.vehicle, w),
        _persons(robbery.offenders, s.persons, ROBBERY_ATTRIBUTES, w, clothing=False),
    )
