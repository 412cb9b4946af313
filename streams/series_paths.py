"""A series' path as evidence: where its crew strikes next, and which later robbery lands there.

A crew moves on a few km and a few days at a time (docs/series-linkage.md). Once two of its
robberies are linked, their path says where the next one is likely: the last robbery plus the
mean of the latest steps. An unrelated robbery of the same kind lands inside a small circle
there only as often as the local background puts one there, so a later robbery of the same kind
inside it, with a weak link to the series, is evidence the pair alone does not carry: the set
of robberies, not the pair, is what is unlikely by chance.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.common import Location
from schemas.distance import metres_between

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from heterdaad.thresholds.series import SeriesThresholds
    from schemas.common import BranchType

KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_EQUATOR = 111.320


@dataclass(frozen=True, slots=True)
class Stop:
    """One robbery of a path: when, where and what kind of branch."""

    occurred_at: datetime
    location: Location
    branch_type: BranchType


@dataclass(frozen=True, slots=True)
class PathTarget:
    """The path extrapolated one step: its centre, the mean step (km) and its radius (km)."""

    centre: Location
    mean_step_km: float
    radius_km: float


def offset_km(a: Location, b: Location) -> tuple[float, float]:
    """East and north km from a to b (a flat map is exact enough over one series' few km)."""
    east = (b.lon - a.lon) * KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(a.lat))
    return east, (b.lat - a.lat) * KM_PER_DEGREE_LAT


def shifted(origin: Location, east_km: float, north_km: float) -> Location:
    lat = origin.lat + north_km / KM_PER_DEGREE_LAT
    lon = origin.lon + east_km / (KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(origin.lat)))
    return Location(lat=round(lat, 6), lon=round(lon, 6))


def extrapolate(path: Sequence[Location], t: SeriesThresholds) -> PathTarget:
    """The last stop plus the mean of the latest `path_steps` steps; radius a step or so."""
    recent = path[-(t.path_steps + 1) :]
    steps = [offset_km(a, b) for a, b in itertools.pairwise(recent)]
    east = sum(x for x, _ in steps) / len(steps) if steps else 0.0
    north = sum(y for _, y in steps) / len(steps) if steps else 0.0
    mean_step = sum(math.hypot(x, y) for x, y in steps) / len(steps) if steps else 0.0
    radius = max(t.min_target_radius_km, t.target_radius_factor * mean_step)
    return PathTarget(shifted(recent[-1], east, north), mean_step, radius)


def continues_path(path: Sequence[Stop], candidate: Stop, t: SeriesThresholds) -> bool:
    """Whether `candidate` is the path's next robbery as the path predicts it.

    The path has at least two stops (one step to extrapolate); the candidate comes after its
    last stop, within max_gap_days, at a branch of the last stop's kind, and lies within
    `path_radius_fraction` of the predicted circle's radius from its centre. Only evidence
    for: a robbery that fails this is judged on its pair links as before.
    """
    if len(path) < 2:
        return False
    ordered = sorted(path, key=lambda stop: stop.occurred_at)
    last = ordered[-1]
    gap_days = (candidate.occurred_at - last.occurred_at).total_seconds() / 86_400.0
    if not 0 < gap_days <= t.max_gap_days or candidate.branch_type != last.branch_type:
        return False
    target = extrapolate([stop.location for stop in ordered], t)
    here, there = target.centre, candidate.location
    km = metres_between(here.lat, here.lon, there.lat, there.lon) / 1000.0
    return km <= t.path_radius_fraction * target.radius_km
