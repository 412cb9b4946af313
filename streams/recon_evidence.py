"""How strongly a pattern of sightings points at a crew choosing its target: the warning score.

The score is a sum of log-likelihood ratios, each what one kind of evidence adds (how much
likelier it is in reconnaissance that led to a robbery than in a background sighting): the
behaviours noted (and several at one visit), two or more persons together, a vehicle noted,
repeated visits to one branch, other branches the pattern
spans, and sightings at branches of the same kind nearby that did not link. Only evidence that
is there counts: a behaviour, a car or a neighbour not reported adds nothing and takes nothing
away, so a sparse report with one telling behaviour can still warn. Whether the total is
enough is not set by hand: `warn_score` is calibrated on simulated background sightings to a
stated false-warning rate (bench/evaluation/calibrate_recon.py).
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from schemas.alerts import LinkReason
from streams.recon_scoring import within

if TYPE_CHECKING:
    from collections.abc import Sequence

    from heterdaad.thresholds.reconnaissance import ReconThresholds
    from schemas.events import ReconBehaviour
    from streams.recon_scoring import TrackedSighting

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarningScore:
    """A pattern's warning score with what it rests on, one reason per kind of evidence."""

    total: float
    reasons: tuple[LinkReason, ...]
    nearby_ids: tuple[UUID, ...]
    behaviours: tuple[ReconBehaviour, ...]
    vehicle: bool
    repeats: int
    branches: int
    nearby: int


def is_nearby(other: TrackedSighting, member: TrackedSighting, t: ReconThresholds) -> bool:
    """Whether `other` is a sighting at another branch of the member's kind, near it in place,
    at most window_days before it (or at the same moment), sharing a behaviour with it."""
    gap = member.observed_at - other.observed_at
    return (
        other.event_id != member.event_id
        and other.branch_id is not None
        and other.branch_id != member.branch_id
        and member.branch_type is not None
        and other.branch_type == member.branch_type
        and timedelta(0) <= gap <= timedelta(days=t.window_days)
        # A crew repeats its way of scouting; a neighbour doing something else is a stranger.
        and not set(other.behaviours).isdisjoint(member.behaviours)
        and within(member.lat, member.lon, other.lat, other.lon, t.cluster_radius_m)
    )


def nearby_sightings(
    members: Sequence[TrackedSighting], others: Sequence[TrackedSighting], t: ReconThresholds
) -> list[TrackedSighting]:
    """Sightings outside the pattern, at other branches of a scouted kind, near a member and
    before it: one crew seldom shows all its signs at one shop, and staff seldom note enough
    for two reports to link.

    Only sightings before the pattern's own count, so a pattern's score depends on the set of
    sightings and not on the order they arrived in; a later one is that pattern's evidence.
    """
    member_ids = {s.event_id for s in members}
    branches = {s.branch_id for s in members if s.branch_id is not None}
    return [
        other
        for other in others
        if other.event_id not in member_ids
        and other.branch_id not in branches
        and any(is_nearby(other, m, t) for m in members)
    ]


def warning_score(
    members: Sequence[TrackedSighting], others: Sequence[TrackedSighting], t: ReconThresholds
) -> WarningScore:
    """The warning score of a pattern (its members) among the other sightings held."""
    w = t.evidence
    behaviours = tuple(sorted({b for s in members for b in s.behaviours}))
    reasons: list[LinkReason] = []
    if behaviours:
        weights = {b: w.behaviour_weight(b) for b in behaviours}
        reasons.append(
            LinkReason(
                feature="behaviours",
                value=",".join(b.value for b in behaviours),
                contribution=min(w.behaviours_cap, sum(weights.values())),
            )
        )
    richest = max((len(set(s.behaviours)) for s in members), default=0)
    if richest >= w.several_behaviours_from:
        reasons.append(
            LinkReason(feature="several_behaviours", value=richest,
                       contribution=w.several_behaviours)
        )  # fmt: skip
    if any(len(s.persons) >= 2 for s in members):
        reasons.append(LinkReason(feature="companions", value=2, contribution=w.companions))
    vehicle = any(
        s.vehicle is not None and (s.vehicle.make or s.vehicle.colour or s.vehicle.plate_pseudonym)
        for s in members
    )
    if vehicle:
        reasons.append(LinkReason(feature="vehicle", value="noted", contribution=w.vehicle_noted))
    branch_ids = [s.branch_id for s in members if s.branch_id is not None]
    branches = len(set(branch_ids))
    repeats = len(branch_ids) - branches
    if repeats:
        reasons.append(
            LinkReason(
                feature="repeats",
                value=repeats,
                contribution=w.repeat_visit * min(repeats, w.max_counted),
            )
        )
    if branches > 1:
        reasons.append(
            LinkReason(
                feature="linked_branches",
                value=branches - 1,
                contribution=w.linked_branch * min(branches - 1, w.max_counted),
            )
        )
    near = nearby_sightings(members, others, t)
    nearby = len({s.branch_id for s in near})
    if nearby:
        reasons.append(
            LinkReason(
                feature="nearby_sightings",
                value=nearby,
                contribution=w.nearby_sighting * min(nearby, w.max_counted),
            )
        )
    total = round(sum(r.contribution for r in reasons), 3)
    nearby_ids = tuple(s.event_id for s in near)
    return WarningScore(
        total, tuple(reasons), nearby_ids, behaviours, vehicle, repeats, branches, nearby
    )


def false_warnings_per_100(score: float, curve: Sequence[tuple[float, float]]) -> float:
    """Background sightings per 100 whose pattern scored at least this high in calibration.

    `curve`: (score, false warnings per 100 background sightings at that threshold), scores
    ascending; read as a step function, so the estimate is the rate at the highest calibrated
    score not above this one (conservative: a higher score is at most that rate).
    """
    if not curve:
        return 100.0
    scores = [s for s, _ in curve]
    index = bisect.bisect_right(scores, score) - 1
    return curve[index][1] if index >= 0 else 100.0


def robbery_probability(score: float, curve: Sequence[tuple[float, float]]) -> float | None:
    """Share of the calibration's patterns scoring at least this high that a robbery followed,
    read as steps like the false-rate curve; None below the curve or without one."""
    scores = [s for s, _ in curve]
    index = bisect.bisect_right(scores, score) - 1
    return curve[index][1] if index >= 0 else None
