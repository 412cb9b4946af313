"""Prospective space-time permutation scan (Kulldorff 2005): cylinders, GLR and Monte Carlo.

Pure, and in the core so that the hotspot stage (streams/hotspot_tracking.py) and the monthly
digest (consumers/digest/found.py) scan with one code: the study period of a scan, its seed
and its significance as of an event time too, and which hotspots one scan raises, updates
and closes (step_at).
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.distance import EARTH_RADIUS_M, metres_between_many

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from heterdaad.thresholds.hotspots import HotspotThresholds

logger = logging.getLogger(__name__)

# A null maximum equal to the observed GLR counts as exceeding it, so ties make the p-value
# conservative; the tolerance only absorbs rounding between identical configurations.
_TIE = 1e-9
# Cylinders (permutations x centres x edges) per Monte Carlo batch: bounds the memory of a
# busy week to some tens of MB of temporaries.
_BATCH_ELEMENTS = 1_000_000
# Batches grow geometrically from a small first one: most scans find nothing unusual and
# stop after it, borderline ones after the next.
_FIRST_BATCH = 19
_GROWTH = 4
# Cylinders kept per scan for choosing clusters; further ones have too low a GLR to matter.
_MAX_CANDIDATES = 256

# Bounds the longitude of the band of pairs; Location keeps points south of it.
_NORTHMOST = 54.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class ScanParameters:
    """The scan's design; every figure comes from the hotspot thresholds in the settings."""

    max_radius_m: float
    max_share: float
    window_days: tuple[float, ...]
    min_observed: int
    replications: int


@dataclass(frozen=True, slots=True)
class Cluster:
    """A cylinder: a circle around an event in the window, and the window ending at the scan."""

    centre: int
    radius_m: float
    window_days: float
    members: tuple[int, ...]
    observed: int
    expected: float
    llr: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Scan:
    """The candidate cylinders of one scan, best first, and the null maxima drawn."""

    candidates: tuple[Cluster, ...]
    null_maxima: FloatArray
    replications: int

    @property
    def complete(self) -> bool:
        """False when the Monte Carlo stopped early because no decision could change."""
        return len(self.null_maxima) == self.replications

    def clusters(self, limit: int) -> list[Cluster]:
        """The most likely cluster, then secondary ones sharing no event with a better one."""
        taken: set[int] = set()
        found: list[Cluster] = []
        for cluster in self.candidates:
            if len(found) >= limit:
                break
            if taken.isdisjoint(cluster.members):
                found.append(cluster)
                taken.update(cluster.members)
        return found

    def best_touching(self, events: set[int]) -> Cluster | None:
        """The cylinder with the highest GLR holding at least one of `events`."""
        return next((c for c in self.candidates if not events.isdisjoint(c.members)), None)


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """Every ordered pair of events at most the maximum radius apart (each event with itself).

    For the pair (c, j): the distance, and the size of the circle around c through j, i.e. how
    many events of the whole study period lie within that distance of c. Only these pairs can
    make a cylinder, so a year of events costs a few tens of thousands of pairs, not N^2.
    """

    keys: IntArray  # c * n + j, ascending
    radii_m: FloatArray
    sizes: IntArray
    n: int

    def lookup(self, centres: IntArray, edges: IntArray) -> tuple[FloatArray, IntArray]:
        """(distance, circle size) of each pair; infinity and 0 for pairs too far apart."""
        query = centres * self.n + edges
        at = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        found = self.keys[at] == query
        return np.where(found, self.radii_m[at], np.inf), np.where(found, self.sizes[at], 0)


def neighbourhood(lat: FloatArray, lon: FloatArray, max_radius_m: float) -> Neighbourhood:
    """The pairs within max_radius_m, found in a band of latitude around each event."""
    n = len(lat)
    order = np.argsort(lat, kind="stable")
    by_lat = lat[order]
    band = max_radius_m / (EARTH_RADIUS_M * math.pi / 180) * 1.001
    low = np.searchsorted(by_lat, by_lat - band, side="left")
    high = np.searchsorted(by_lat, by_lat + band, side="right")
    width = high - low
    starts = np.cumsum(width) - width
    first = np.repeat(np.arange(n), width)
    second = np.arange(int(width.sum())) - np.repeat(starts, width) + np.repeat(low, width)
    centre, edge = order[first], order[second]
    # Longitude too, cheaply, before the trigonometry: a degree of longitude is shortest at the
    # northern edge of the country.
    close = np.abs(lon[centre] - lon[edge]) <= band / math.cos(math.radians(_NORTHMOST))
    centre, edge = centre[close], edge[close]
    radius = metres_between_many(lat[centre], lon[centre], lat[edge], lon[edge])
    near = radius <= max_radius_m
    centre, edge, radius = centre[near], edge[near], radius[near]
    # Circle size: pairs of the same centre at most this far, counted by one sorted search.
    rank_key = centre * (max_radius_m + 1.0) + radius
    ranked = np.sort(rank_key)
    sizes = np.searchsorted(ranked, rank_key, side="right") - np.searchsorted(
        ranked, centre * (max_radius_m + 1.0), side="left"
    )
    keys = centre * n + edge
    by_key = np.argsort(keys, kind="stable")
    return Neighbourhood(
        keys=keys[by_key], radii_m=radius[by_key], sizes=sizes[by_key].astype(np.intp), n=n
    )


def glr_tables(
    window_sizes: IntArray, total: int, min_observed: int, max_share: float, largest: int
) -> FloatArray:
    """GLR of every (window, count in cylinder, events in circle up to `largest`).

    Kulldorff's (2005) Poisson GLR, the expected count from the margins:
    mu = n_circle * n_window / N; n ln(n/mu) + (N-n) ln((N-n)/(N-mu)) where n > mu, and 0
    where no cluster can be.
    """
    m = int(window_sizes.max(initial=0))
    n = np.arange(m + 1, dtype=np.float64)[None, :, None]
    size = np.arange(largest + 1, dtype=np.float64)[None, None, :]
    mu = size * window_sizes[:, None, None] / max(total, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = n * np.log(n / mu)
        rest = total - n
        outside = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
    glr = np.nan_to_num(inside + outside, posinf=0.0, neginf=0.0)
    possible = (n > mu) & (n >= min_observed) & (size <= max_share * total)
    return np.where(possible, glr, 0.0)


@dataclass(frozen=True, slots=True)
class _Cylinders:
    """The cylinders of events dealt out over the time slots, youngest slot first.

    A cylinder is centred on an event of its window and reaches out to another one: the
    best circle around a centre always ends on an event inside the window, since growing
    it further only adds events outside the window (and so lowers the GLR). For slots (R, M)
    every array is (R, centre slot, edge slot).
    """

    radii: FloatArray
    sizes: IntArray
    order: IntArray  # each centre's edge slots, nearest first
    tie_end: IntArray  # for each edge, the sorted position of the last edge as far away

    @classmethod
    def of(cls, slots: IntArray, pairs: Neighbourhood) -> _Cylinders:
        radii, sizes = pairs.lookup(slots[:, :, None], slots[:, None, :])
        m_max = slots.shape[1]
        index = np.arange(m_max)
        # Co-located events tie, and a circle through one of them holds them all, so every
        # edge counts up to the last of its ties.
        order = np.argsort(radii, axis=2, kind="stable")
        ranked = np.take_along_axis(radii, order, axis=2)
        ends = np.ones(ranked.shape, dtype=bool)
        ends[:, :, :-1] = ranked[:, :, 1:] != ranked[:, :, :-1]
        last = np.minimum.accumulate(np.where(ends, index, m_max)[:, :, ::-1], axis=2)
        position = np.empty_like(order)
        np.put_along_axis(position, order, np.broadcast_to(index, order.shape), axis=2)
        tie_end = np.take_along_axis(last[:, :, ::-1], position, axis=2)
        return cls(radii=radii, sizes=sizes, order=order, tie_end=tie_end)

    def window(self, m: int, table: FloatArray) -> tuple[FloatArray, IntArray]:
        """(GLR, events inside) of each cylinder whose window holds the m youngest slots."""
        index = np.arange(self.radii.shape[1])
        inside = (index[:, None] < m) & (index[None, :] < m) & np.isfinite(self.radii)
        running = np.cumsum(self.order < m, axis=2, dtype=np.int16)
        count = np.take_along_axis(running, self.tie_end, axis=2).astype(np.intp)
        return np.where(inside, table[count, self.sizes], 0.0), count


def scan(
    lat: Sequence[float] | FloatArray,
    lon: Sequence[float] | FloatArray,
    age_days: Sequence[float] | FloatArray,
    params: ScanParameters,
    rng: np.random.Generator,
    *,
    alpha: float,
) -> Scan:
    """Scan the events for space-time clusters whose window ends now (age 0).

    The null hypothesis is no space-time interaction: the times are permuted over the
    locations, which keeps both margins, so neither more robbery in Amsterdam nor a busy
    week is a cluster. The Monte Carlo draws permutations in batches and stops as soon as
    the most likely cluster's p-value can no longer fall to `alpha`; every decision at
    `alpha` or stricter is then the one the full run would make.
    """
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    age = np.asarray(age_days, dtype=np.float64)
    total = len(age)
    window_sizes = (age[:, None] <= np.asarray(params.window_days)[None, :]).sum(axis=0)
    window_sizes = window_sizes.astype(np.intp)
    m_max = int(window_sizes.max(initial=0))
    if total == 0 or m_max < params.min_observed:
        return Scan(candidates=(), null_maxima=np.zeros(0), replications=params.replications)
    pairs = neighbourhood(lat_a, lon_a, params.max_radius_m)
    largest = int(pairs.sizes.max(initial=0))
    tables = glr_tables(window_sizes, total, params.min_observed, params.max_share, largest)
    youngest_first = np.argsort(age, kind="stable")[None, :m_max]
    data = _Cylinders.of(youngest_first, pairs)
    per_window = [data.window(int(m), tables[w]) for w, m in enumerate(window_sizes)]
    candidates = _candidates(
        np.stack([glr[0] for glr, _ in per_window]),
        np.stack([count[0] for _, count in per_window]),
        data,
        youngest_first[0],
        window_sizes,
        total,
        params,
    )
    if not candidates:
        return Scan(candidates=(), null_maxima=np.zeros(0), replications=params.replications)
    best = candidates[0].llr
    maxima: list[FloatArray] = []
    exceeded = 0
    memory_bound = max(1, _BATCH_ELEMENTS // (m_max**2))
    while (drawn := sum(len(m) for m in maxima)) < params.replications:
        wanted = _FIRST_BATCH if drawn == 0 else _GROWTH * drawn
        size = min(wanted, memory_bound, params.replications - drawn)
        # Permuting the times over the events deals the events out over the time slots; only
        # the slots inside the longest window matter: the events with the smallest keys.
        keys = rng.random((size, total))
        youngest = np.argpartition(keys, m_max - 1, axis=1)[:, :m_max]
        slots = np.take_along_axis(
            youngest, np.take_along_axis(keys, youngest, axis=1).argsort(axis=1), axis=1
        )
        null = _Cylinders.of(slots, pairs)
        maxima.append(
            np.max(
                [null.window(int(m), tables[w])[0].reshape(size, -1).max(axis=1)
                 for w, m in enumerate(window_sizes)],
                axis=0,
            )
        )  # fmt: skip
        exceeded += int(np.count_nonzero(maxima[-1] >= best - _TIE))
        if (1 + exceeded) / (params.replications + 1) > alpha:
            break
    null_maxima = np.concatenate(maxima)
    ranked = tuple(_with_p(c, null_maxima, params.replications) for c in candidates)
    logger.debug(
        "space-time scan",
        extra={"events": total, "recent": m_max, "best_llr": best, "drawn": len(null_maxima)},
    )
    return Scan(candidates=ranked, null_maxima=null_maxima, replications=params.replications)


def _candidates(
    glr: FloatArray,
    counts: IntArray,
    data: _Cylinders,
    slots: IntArray,
    window_sizes: IntArray,
    total: int,
    params: ScanParameters,
) -> list[Cluster]:
    """The data's cylinders with a positive GLR, best first; equal member sets once."""
    radii, sizes = data.radii[0], data.sizes[0]
    found: list[Cluster] = []
    seen: set[tuple[int, ...]] = set()
    for flat in np.argsort(-glr, axis=None, kind="stable"):
        w, a, b = (int(i) for i in np.unravel_index(int(flat), glr.shape))
        if glr[w, a, b] <= 0 or len(found) >= _MAX_CANDIDATES:
            break
        m = int(window_sizes[w])
        members = tuple(sorted(int(slots[j]) for j in range(m) if radii[a, j] <= radii[a, b]))
        if members in seen:
            continue
        seen.add(members)
        found.append(
            Cluster(
                centre=int(slots[a]),
                radius_m=float(radii[a, b]),
                window_days=float(params.window_days[w]),
                members=members,
                observed=int(counts[w, a, b]),
                expected=float(sizes[a, b] * m / total),
                llr=float(glr[w, a, b]),
                p_value=1.0,
            )
        )
    return found


def _with_p(cluster: Cluster, null_maxima: FloatArray, replications: int) -> Cluster:
    # (1 + exceedances) / (R + 1). After an early stop this is a lower bound of the full
    # run's p-value, which is all a decision "p <= alpha" needs: it already exceeded alpha.
    exceeded = int(np.count_nonzero(null_maxima >= cluster.llr - _TIE))
    return replace(cluster, p_value=(1 + exceeded) / (replications + 1))


def recurrence_days(p_value: float, scans_per_day: float) -> float:
    """Kulldorff's recurrence interval: how often a cluster this unusual arises by chance."""
    return 1.0 / (p_value * scans_per_day) if p_value > 0 and scans_per_day > 0 else math.inf


# --- the scan as of an event time, as the stage runs it ------------------------------------

HOTSPOT_NAMESPACE = uuid.UUID("0c7a1f44-58b2-4d8e-9a49-686f7473706f")
DAY = timedelta(days=1)


class Located(Protocol):
    """What a scan needs of an event: when and where it happened."""

    @property
    def at(self) -> datetime: ...

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...


E = TypeVar("E", bound=Located)


def hotspot_id_for(event_ids: Sequence[uuid.UUID]) -> str:
    """A hotspot's id from the events that raised it: the same after every replay."""
    joined = ",".join(sorted(str(event_id) for event_id in event_ids))
    return f"hs-{uuid.uuid5(HOTSPOT_NAMESPACE, joined).hex}"


def parameters_of(thresholds: HotspotThresholds) -> ScanParameters:
    """The scan's design from the hotspot thresholds of the settings."""
    return ScanParameters(
        max_radius_m=thresholds.max_radius_m,
        max_share=thresholds.max_share,
        window_days=thresholds.window_days,
        min_observed=thresholds.min_observed,
        replications=thresholds.monte_carlo_replications,
    )


def study_period(
    events: Sequence[E], at: datetime, since: datetime, thresholds: HotspotThresholds
) -> tuple[list[E], float]:
    """The events of the study period of the scan at `at`, and the days it covers.

    `events` in time order. It reaches `study_days` back (or to `since`, the first event
    taken), less every span of more than `baseline_gap_days` without a single event in the
    whole country (at 4 to 5 events a day there never is one): such a span is data missing,
    not a quiet time (a patchy history: a month of last year beside the live days), and
    counted as covered it would make the events fewer a day than they are, and chance
    clusters look rarer (docs/hotspots.md).
    """
    study = timedelta(days=thresholds.study_days)
    gap = timedelta(days=thresholds.baseline_gap_days)
    kept = [o for o in events if at - study <= o.at <= at][-thresholds.max_events :]
    start = max(since, at - study)
    missing, previous = timedelta(0), start
    for o in kept:
        if o.at - previous > gap:
            missing += o.at - previous
        previous = max(previous, o.at)
    covered = (at - start - missing) / DAY
    return kept, min(max(covered, 1.0), thresholds.study_days)


@dataclass(frozen=True, slots=True)
class ScanAt(Generic[E]):
    """One prospective scan as of an event time: its study period's events and the result."""

    events: list[E]
    scans_per_day: float
    result: Scan

    def recurrence_days(self, cluster: Cluster) -> float:
        """How often a cluster this unusual arises by chance, at this scan's rate of scans."""
        return recurrence_days(cluster.p_value, self.scans_per_day)


def scan_at(
    events: Sequence[E],
    at: datetime,
    since: datetime,
    thresholds: HotspotThresholds,
    *,
    recurrence_threshold_days: float,
    parameters: ScanParameters | None = None,
) -> ScanAt[E]:
    """The prospective scan as of event time `at` over `events` (in time order): every
    cluster's window ends at `at`. The Monte Carlo is seeded by the time and the number of
    events, so the same events give the same p-values wherever the scan runs; it may stop
    early once no cluster can reach `recurrence_threshold_days`."""
    kept, covered_days = study_period(events, at, since, thresholds)
    scans_per_day = len(kept) / covered_days
    result = scan(
        [o.lat for o in kept],
        [o.lon for o in kept],
        [(at - o.at) / DAY for o in kept],
        parameters or parameters_of(thresholds),
        np.random.default_rng([thresholds.seed, int(at.timestamp() * 1e6), len(kept)]),
        alpha=1.0 / (recurrence_threshold_days * scans_per_day),
    )
    return ScanAt(events=kept, scans_per_day=scans_per_day, result=result)


# --- the hotspots one scan raises, updates and closes ----------------------------------------

Status = Literal["raised", "updated", "closed"]


class Hotspot(BaseModel):
    """An open hotspot: its latest cluster's figures and every event that ever supported it.

    Part of the stage's state (streams/hotspot_tracking.py), as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hotspot_id: str
    version: int
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    centre: uuid.UUID
    radius_m: float
    window_days: float
    event_ids: tuple[uuid.UUID, ...]
    observed: int
    expected: float
    llr: float
    p_value: float
    recurrence_days: float


class Identified(Located, Protocol):
    """An event a hotspot can name."""

    @property
    def event_id(self) -> uuid.UUID: ...


I = TypeVar("I", bound=Identified)  # noqa: E741


@dataclass(frozen=True, slots=True)
class Step(Generic[I]):
    """One scan as of an event time: the hotspots open after it, what changed about them (in
    the order the stage sends it), and the events of its study period."""

    open: tuple[Hotspot, ...]
    changes: tuple[tuple[Status, Hotspot], ...]
    events: list[I]
    scans_per_day: float


def step_at(
    events: Sequence[I],
    at: datetime,
    since: datetime,
    open_before: tuple[Hotspot, ...],
    thresholds: HotspotThresholds,
    *,
    parameters: ScanParameters | None = None,
) -> Step[I]:
    """The prospective scan as of event time `at` (scan_at) and the hotspots after it.

    An open hotspot stays open while the most unusual cluster holding one of its events is
    at least `keep_recurrence_days` unusual, and takes that cluster's figures and any new
    events (a new version); else it closes. Then up to `max_clusters_per_scan` clusters
    sharing no event with an open hotspot and at least `raise_recurrence_days` unusual raise
    new ones, named by their events (hotspot_id_for). While any hotspot is open the Monte
    Carlo runs to the keep threshold, else to the raise threshold, so the p-values (and the
    seed's draws) are the stage's.
    """
    threshold = (
        thresholds.keep_recurrence_days if open_before else thresholds.raise_recurrence_days
    )
    scanned = scan_at(
        events, at, since, thresholds,
        recurrence_threshold_days=threshold, parameters=parameters,
    )  # fmt: skip
    kept, result, unusual = scanned.events, scanned.result, scanned.recurrence_days
    position = {o.event_id: i for i, o in enumerate(kept)}
    changes: list[tuple[Status, Hotspot]] = []
    still_open: list[Hotspot] = []
    for hotspot in open_before:
        touching = {position[e] for e in hotspot.event_ids if e in position}
        best = result.best_touching(touching)
        if best is None or unusual(best) < thresholds.keep_recurrence_days:
            changes.append(("closed", hotspot))
            continue
        grown = _updated(hotspot, best, kept, at, unusual(best))
        still_open.append(grown)
        if grown.version > hotspot.version:
            changes.append(("updated", grown))
    claimed = {e for hotspot in still_open for e in hotspot.event_ids}
    for cluster in result.clusters(thresholds.max_clusters_per_scan):
        members = [kept[i].event_id for i in cluster.members]
        if unusual(cluster) < thresholds.raise_recurrence_days or claimed & set(members):
            continue
        raised = _hotspot(cluster, kept, at, unusual(cluster))
        still_open.append(raised)
        claimed.update(members)
        changes.append(("raised", raised))
    replications = (parameters or parameters_of(thresholds)).replications
    if 1 / (replications + 1) > 1 / (thresholds.raise_recurrence_days * scanned.scans_per_day):
        logger.warning(
            "no cluster can reach the recurrence threshold with this many replications",
            extra={"scans_per_day": scanned.scans_per_day, "replications": replications},
        )
    return Step(
        open=tuple(still_open), changes=tuple(changes), events=kept,
        scans_per_day=scanned.scans_per_day,
    )  # fmt: skip


def _figures(cluster: Cluster, kept: Sequence[Identified], recurrence: float) -> dict[str, object]:
    return {
        "centre": kept[cluster.centre].event_id,
        "radius_m": cluster.radius_m,
        "window_days": cluster.window_days,
        "observed": cluster.observed,
        "expected": cluster.expected,
        "llr": cluster.llr,
        "p_value": cluster.p_value,
        "recurrence_days": recurrence,
    }


def _hotspot(
    cluster: Cluster, kept: Sequence[Identified], at: datetime, recurrence: float
) -> Hotspot:
    members = [kept[i].event_id for i in cluster.members]
    return Hotspot.model_validate(
        {
            "hotspot_id": hotspot_id_for(members),
            "version": 1,
            "opened_at": at,
            "updated_at": at,
            "event_ids": tuple(members),
            **_figures(cluster, kept, recurrence),
        }
    )


def _updated(
    hotspot: Hotspot,
    cluster: Cluster,
    kept: Sequence[Identified],
    at: datetime,
    recurrence: float,
) -> Hotspot:
    """The hotspot with its latest cluster; a new version only when new events joined it."""
    new = [kept[i].event_id for i in cluster.members if kept[i].event_id not in hotspot.event_ids]
    update: dict[str, object] = {"updated_at": at, **_figures(cluster, kept, recurrence)}
    if new:
        update |= {"version": hotspot.version + 1, "event_ids": (*hotspot.event_ids, *new)}
    return hotspot.model_copy(update=update)
