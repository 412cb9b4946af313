"""The pure model of series linkage: evidence per pair of robberies, and what a series tells."""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.alerts import (
    Alert,
    AlertKind,
    Area,
    EvidenceLink,
    LinkReason,
    Lookout,
    SeriesExtent,
    Severity,
    alert_id_for,
)
from schemas.common import BranchType, Location
from schemas.distance import metres_between
from schemas.events import (
    GetawayMode,
    HeightBand,
    IncidentReport,
    IncidentType,
    PersonDescription,
    Vehicle,
    Weapon,
)
from schemas.geography import is_in_netherlands, police_unit_for
from streams.series_model import hand_set_model, series_basis
from streams.series_paths import offset_km, shifted

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from heterdaad.thresholds.series import Curve, SeriesThresholds
    from heterdaad.thresholds.time import TimeModel
    from streams.series_model import SeriesModel

logger = logging.getLogger(__name__)

# Kinds of crime a crew sticks to: a hold-up crew is not the one that blows up ATMs.
INCIDENT_CLASS: dict[IncidentType, str] = {
    IncidentType.OVERVAL: "hold_up",
    IncidentType.POGING: "hold_up",
    IncidentType.RAMKRAAK: "ram_raid",
    IncidentType.PLOFKRAAK: "ram_raid",
    IncidentType.STRAATROOF: "street",
    IncidentType.WONINGOVERVAL: "home",
}
HEIGHT_ORDER = {band: index for index, band in enumerate(HeightBand)}
# Witnesses say "unknown" where they mean they could not tell: no evidence either way.
UNKNOWN_WORDS = frozenset({"unknown", "onbekend", ""})
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class FeatureScore:
    """One feature of a pair: what was observed, how similar (0-1), and the LLR it adds."""

    feature: str
    value: float | str
    similarity: float
    contribution: float


@dataclass(frozen=True, slots=True)
class PairScore:
    """Everything the model says about two robberies; `total` decides the link."""

    distance_m: float
    time_gap_s: float
    features: tuple[FeatureScore, ...]

    @property
    def total(self) -> float:
        return sum(feature.contribution for feature in self.features)


def llr(curve: Curve, x: float) -> float:
    """The curve's value at x: linear between breakpoints, flat beyond the ends."""
    if x <= curve[0][0]:
        return curve[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(curve):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return curve[-1][1]


def jaccard(a: Iterable[object], b: Iterable[object]) -> float | None:
    """Shared items over all items, or None when either side saw nothing (no evidence)."""
    left, right = set(a), set(b)
    if not left or not right:
        return None
    return len(left & right) / len(left | right)


def score_pair(a: IncidentReport, b: IncidentReport, thresholds: SeriesThresholds) -> PairScore:
    """Naive-Bayes evidence that one crew committed both robberies; missing data adds nothing."""
    t = thresholds
    here, there = a.branch.location, b.branch.location
    metres = metres_between(here.lat, here.lon, there.lat, there.lon)
    seconds = abs((b.occurred_at - a.occurred_at).total_seconds())
    km, days = metres / 1000.0, seconds / SECONDS_PER_DAY
    features = [
        FeatureScore("distance_km", round(km, 2), _closeness(km, t.distance_llr),
                     llr(t.distance_llr, km)),
        FeatureScore("time_gap_days", round(days, 2), _closeness(days, t.time_gap_llr),
                     llr(t.time_gap_llr, days)),
    ]  # fmt: skip
    travel_hours = km * t.road_detour_factor / t.travel_speed_kmh
    if (seconds + t.time_uncertainty_minutes * 60.0) / 3600.0 < travel_hours:
        features.append(
            FeatureScore("travel_minutes", round(travel_hours * 60, 1), 0.0, t.unreachable_llr)
        )
    _agree(features, "branch_type", a.branch.branch_type, b.branch.branch_type, t.branch_type_llr)
    if a.branch.chain and b.branch.chain:
        _agree(features, "chain", a.branch.chain.casefold(), b.branch.chain.casefold(), t.chain_llr)
    _agree(features, "incident_type", INCIDENT_CLASS[a.incident_type],
           INCIDENT_CLASS[b.incident_type], t.incident_type_llr)  # fmt: skip
    _similar(features, "modus_operandi", jaccard(a.modus_operandi, b.modus_operandi),
             t.modus_operandi_llr)  # fmt: skip
    _similar(features, "weapons", jaccard(a.weapons, b.weapons), t.weapons_llr)
    if a.offender_count is not None and b.offender_count is not None:
        apart = abs(a.offender_count - b.offender_count)
        _similar(features, "offender_count", max(0.0, 1.0 - apart / 2), t.offender_count_llr)
    _offenders(features, a.offenders, b.offenders, t)
    _getaway(features, a, b, t)
    return PairScore(distance_m=metres, time_gap_s=seconds, features=tuple(features))


def reported_twice(a: IncidentReport, b: IncidentReport, t: SeriesThresholds) -> bool:
    """Two reports of one robbery (the shop's and the trade association's), not a series:
    one branch, at most duplicate_minutes apart. The report carries no channel (API or CBL
    import), so unlike the digest this cannot tell one source's two robberies apart
    (docs/series-linkage.md)."""
    return (a.branch.branch_id == b.branch.branch_id
            and abs(a.occurred_at - b.occurred_at) <= timedelta(minutes=t.duplicate_minutes))


def _closeness(x: float, curve: Curve) -> float:
    # Similarity for the evidence list: 1 at the curve's start, 0 at its end.
    start, end = curve[0][0], curve[-1][0]
    if end <= start:
        return 1.0
    return min(1.0, max(0.0, 1.0 - (x - start) / (end - start)))


def _agree(features: list[FeatureScore], name: str, a: object, b: object, curve: Curve) -> None:
    same = 1.0 if a == b else 0.0
    features.append(FeatureScore(name, "same" if same else "different", same, llr(curve, same)))


def _similar(
    features: list[FeatureScore], name: str, similarity: float | None, curve: Curve
) -> None:
    if similarity is None:
        return
    rounded = round(similarity, 3)
    features.append(FeatureScore(name, rounded, rounded, llr(curve, similarity)))


# --- offenders ------------------------------------------------------------------------


def _known(text: str | None) -> str | None:
    if text is None or text.strip().casefold() in UNKNOWN_WORDS:
        return None
    return text.strip().casefold()


def _height_agreement(a: HeightBand | None, b: HeightBand | None) -> float | None:
    if a is None or b is None:
        return None
    # Witnesses misjudge height by a band often enough that adjacent bands half agree.
    apart = abs(HEIGHT_ORDER[a] - HEIGHT_ORDER[b])
    return 1.0 if apart == 0 else 0.5 if apart == 1 else 0.0


def _equal(a: object | None, b: object | None) -> float | None:
    if a is None or b is None:
        return None
    return 1.0 if a == b else 0.0


def _person_agreements(a: PersonDescription, b: PersonDescription) -> dict[str, float]:
    """Agreement (0-1) per attribute both descriptions have."""
    found = {
        "height": _height_agreement(a.height_band, b.height_band),
        "build": _equal(a.build, b.build),
        "face_covering": _equal(a.face_covering, b.face_covering),
        "language": _equal(_known(a.language), _known(b.language)),
        "clothing": jaccard(
            (item.strip().casefold() for item in a.clothing),
            (item.strip().casefold() for item in b.clothing),
        ),
    }
    return {name: value for name, value in found.items() if value is not None}


def _offenders(
    features: list[FeatureScore],
    a: Sequence[PersonDescription],
    b: Sequence[PersonDescription],
    t: SeriesThresholds,
) -> None:
    """Pair up offenders, most alike first, then score each attribute over the pairs."""
    candidates = []
    for i, left in enumerate(a):
        for j, right in enumerate(b):
            agreements = _person_agreements(left, right)
            if agreements:
                mean = sum(agreements.values()) / len(agreements)
                candidates.append((mean, len(agreements), i, j, agreements))
    # Greedy matching: a crew is 1-4 people, so the optimal assignment rarely differs.
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    per_attribute: dict[str, list[float]] = {}
    for _, _, i, j, agreements in candidates:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        for name, value in agreements.items():
            per_attribute.setdefault(name, []).append(value)
    curves = {
        "height": t.height_llr,
        "build": t.build_llr,
        "clothing": t.clothing_llr,
        "face_covering": t.face_covering_llr,
        "language": t.language_llr,
    }
    for name, curve in curves.items():
        values = per_attribute.get(name)
        if values:
            _similar(features, name, sum(values) / len(values), curve)


# --- getaway --------------------------------------------------------------------------


def _plate_key_id(pseudonym: str) -> str:
    return pseudonym.split(":")[1]


def _getaway(
    features: list[FeatureScore], a: IncidentReport, b: IncidentReport, t: SeriesThresholds
) -> None:
    mode_a = a.getaway.mode if a.getaway else None
    mode_b = b.getaway.mode if b.getaway else None
    if GetawayMode.UNKNOWN not in (mode_a, mode_b) and mode_a and mode_b:
        _agree(features, "getaway_mode", mode_a, mode_b, t.getaway_mode_llr)
    vehicle_a = a.getaway.vehicle if a.getaway else None
    vehicle_b = b.getaway.vehicle if b.getaway else None
    if vehicle_a is None or vehicle_b is None:
        return
    plate_a, plate_b = vehicle_a.plate_pseudonym, vehicle_b.plate_pseudonym
    # Pseudonyms under different keys (after a key rotation) cannot be compared.
    if plate_a and plate_b and _plate_key_id(plate_a) == _plate_key_id(plate_b):
        same = 1.0 if plate_a == plate_b else 0.0
        # The value says match or not; the pseudonym itself stays out of the evidence text.
        features.append(
            FeatureScore("plate", "match" if same else "different", same, llr(t.plate_llr, same))
        )
    _similar(features, "vehicle", _vehicle_agreement(vehicle_a, vehicle_b), t.vehicle_llr)


def _vehicle_agreement(a: Vehicle, b: Vehicle) -> float | None:
    if a.kind != b.kind:
        return 0.0
    parts = [
        agreement
        for agreement in (
            _equal(_known(a.make), _known(b.make)),
            _equal(_known(a.colour), _known(b.colour)),
        )
        if agreement is not None
    ]
    return sum(parts) / len(parts) if parts else None


# --- a series: its members and the links that made it ----------------------------------


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Member(_State):
    """A robbery of a series: enough to draw its path after the report itself is forgotten."""

    event_id: UUID
    occurred_at: datetime
    location: Location
    branch_type: BranchType


class SeriesLink(_State):
    """Why a member joined: its strongest link into the series, or each corroborating one."""

    event_id: UUID
    linked_with: UUID
    score: float
    distance_m: float
    time_gap_s: float
    similarity: dict[str, float]
    reasons: list[LinkReason]


# What one series carries, in its state and in its alerts: its newest members and the links
# that hold them. A dense area's robberies can chain into a series of hundreds (a year at 12
# branches: 327 members, 1,011 links of ~950 bytes), whose alert and state record outgrew
# the broker's 1 MiB record limit; bounded, both stay under ~300 kB (docs/series-linkage.md,
# "Bounded").
MEMBERS_KEPT = 50
LINKS_KEPT = 200


class SeriesState(_State):
    """A series: its id (always its earliest robbery's), members and the links that hold it.

    `members` are its newest MEMBERS_KEPT robberies, `links` at most LINKS_KEPT of those that
    hold them (the newest members' first); `member_count` and `first_at` tell the whole series.
    """

    series_id: str
    members: list[Member]  # by time of the robbery
    links: list[SeriesLink]
    # Every member it ever had and its earliest one's time (that member's id is series_id);
    # 0 and None in a record written before the bound: all members were kept then.
    member_count: int = 0
    first_at: datetime | None = None

    @property
    def size(self) -> int:
        return self.member_count or len(self.members)

    @property
    def began(self) -> datetime:
        return self.first_at or self.members[0].occurred_at


def bounded_series(
    series_id: str,
    first_at: datetime,
    member_count: int,
    members: Sequence[Member],
    links: Sequence[SeriesLink],
) -> SeriesState:
    """The series as kept and alerted: its newest MEMBERS_KEPT members (in time order) and at
    most LINKS_KEPT of their links, the newest members' first, in the order given.

    A function of the members and links alone, not of the order they came in.
    """
    kept = members[-MEMBERS_KEPT:]
    when = {m.event_id: (m.occurred_at, str(m.event_id)) for m in kept}
    inside = [link for link in links if link.event_id in when]
    if len(inside) > LINKS_KEPT:
        newest = sorted(
            range(len(inside)),
            key=lambda i: (when[inside[i].event_id], str(inside[i].linked_with)),
            reverse=True,
        )
        inside = [inside[i] for i in sorted(newest[:LINKS_KEPT])]
    return SeriesState(
        series_id=series_id,
        members=list(kept),
        links=inside,
        member_count=member_count,
        first_at=first_at,
    )


def series_link(report: IncidentReport, other: IncidentReport, score: PairScore) -> SeriesLink:
    """The pair's evidence as kept with the series and shown in its alerts."""
    return SeriesLink(
        event_id=report.event_id,
        linked_with=other.event_id,
        score=round(score.total, 3),
        distance_m=round(score.distance_m, 1),
        time_gap_s=round(score.time_gap_s, 1),
        similarity={f.feature: round(f.similarity, 3) for f in score.features},
        reasons=[
            LinkReason(feature=f.feature, value=f.value, contribution=round(f.contribution, 3))
            for f in score.features
        ],
    )


# --- the alert ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NextTarget:
    """Where the series is expected to strike next: its path extrapolated one step."""

    centre: Location
    radius_m: float


def next_target(series: SeriesState, t: SeriesThresholds) -> NextTarget:
    """The latest robbery plus the mean of the latest steps, in a circle of a step or so."""
    recent = series.members[-(t.path_steps + 1) :]
    last = recent[-1].location
    steps = [offset_km(a.location, b.location) for a, b in itertools.pairwise(recent)]
    east = sum(x for x, _ in steps) / len(steps) if steps else 0.0
    north = sum(y for _, y in steps) / len(steps) if steps else 0.0
    mean_step = sum(math.hypot(x, y) for x, y in steps) / len(steps) if steps else 0.0
    radius_km = max(t.min_target_radius_km, t.target_radius_factor * mean_step)
    centre = last
    # Off the coast or over the border is no target: fall back towards the last robbery.
    for fraction in (1.0, 0.5):
        try:
            moved = shifted(last, east * fraction, north * fraction)
        except ValidationError:
            continue
        # Location checks only its box now (issue 14): the gazetteer says what is Dutch.
        if is_in_netherlands(moved):
            centre = moved
            break
    return NextTarget(centre=centre, radius_m=min(radius_km * 1000.0, 100_000.0))


def series_alert(
    series: SeriesState,
    reports: dict[UUID, IncidentReport],
    newest: datetime,
    t: SeriesThresholds,
    time: TimeModel,
    now: datetime,
    model: SeriesModel | None = None,
) -> Alert:
    """The alert for a series that just grew: next targets, what to look out for, evidence.

    A series whose newest robbery lies beyond the pattern's live horizon (a series found in
    late reports) is history: raised as such, never above medium. A late robbery that adds to
    a live series still warns the next likely targets. The alert names the model it rests
    on (`model`; None: the hand-set curves of `t`) and the probability of its weakest link.
    """
    dedup_key = f"series:{series.series_id}:{series.size}"
    target = next_target(series, t)
    known = [reports[m.event_id] for m in series.members if m.event_id in reports]
    last = series.members[-1].occurred_at
    historical = last < now - timedelta(days=time.pattern_live_days)
    urgent = not historical and last >= newest - timedelta(days=t.urgent_days)
    kinds = Counter(m.branch_type for m in series.members)
    return Alert(
        alert_id=alert_id_for(dedup_key),
        kind=AlertKind.SERIES,
        severity=Severity.HIGH if urgent else Severity.MEDIUM,
        area=Area(center=target.centre, radius_m=target.radius_m),
        police_unit=police_unit_for(target.centre),
        branch_types_at_risk=[kind for kind, _ in kinds.most_common()],
        series_id=series.series_id,
        lookout=_lookout(known),
        vehicles=_vehicles(known),
        persons=_persons(known),
        evidence=_members_evidence(series),
        dedup_key=dedup_key,
        created_at=now,
        occurred_at=last,
        historical=historical,
        basis=series_basis(series, model or hand_set_model(t)),
        series_extent=SeriesExtent(
            members=series.size,
            listed=len(series.members),
            first_occurred_at=series.began,
            last_occurred_at=last,
        ),
    )


def _members_evidence(series: SeriesState) -> list[EvidenceLink]:
    """Every member with its date: the links that hold it, or itself when it holds none."""
    when = {m.event_id: m.occurred_at for m in series.members}
    evidence = [_evidence(link, when.get(link.event_id)) for link in series.links]
    named = {link.event_id for link in series.links}
    evidence += [
        EvidenceLink(event_id=m.event_id, event_type="incident_report", occurred_at=m.occurred_at)
        for m in series.members
        if m.event_id not in named
    ]
    return sorted(evidence, key=lambda e: (e.occurred_at or series.members[0].occurred_at,
                                           str(e.event_id)))  # fmt: skip


def _lookout(reports: list[IncidentReport]) -> Lookout:
    """What most of the series' robberies had in common: enough to act on, no identities."""
    half = max(1, math.ceil(len(reports) / 2))
    modus = Counter(m for r in reports for m in set(r.modus_operandi))
    modes = Counter(
        r.getaway.mode for r in reports if r.getaway and r.getaway.mode != GetawayMode.UNKNOWN
    )
    vehicles = [r.getaway.vehicle for r in reports if r.getaway and r.getaway.vehicle]
    makes = Counter(v.make for v in vehicles if v.make)
    colours = Counter(v.colour for v in vehicles if v.colour)
    clothing = Counter(
        item for r in reports for item in {c for p in r.offenders for c in p.clothing}
    )
    # Every weapon any member's report names: officers are better warned once too often.
    weapons = Counter(w for r in reports for w in set(r.weapons) if w is not Weapon.NONE)
    counts = Counter(r.offender_count for r in reports if r.offender_count is not None)
    return Lookout(
        modus_operandi=[m for m, n in modus.most_common() if n >= half],
        getaway_mode=modes.most_common(1)[0][0] if modes else None,
        vehicle_make=makes.most_common(1)[0][0] if makes else None,
        vehicle_colour=colours.most_common(1)[0][0] if colours else None,
        clothing=[item for item, n in clothing.most_common(10) if n >= min(2, len(reports))],
        weapons=[weapon for weapon, _ in weapons.most_common()],
        offender_count=counts.most_common(1)[0][0] if counts else None,
    )


def _vehicles(reports: list[IncidentReport]) -> list[Vehicle]:
    """The series' vehicles, newest first: one per plate, or per description without one."""
    seen: dict[tuple[object, ...], Vehicle] = {}
    for report in reversed(reports):
        vehicle = report.getaway.vehicle if report.getaway else None
        if vehicle is None:
            continue
        key: tuple[object, ...] = (vehicle.kind, vehicle.make, vehicle.colour)
        seen.setdefault((vehicle.plate_pseudonym,) if vehicle.plate_pseudonym else key, vehicle)
    return list(seen.values())[:5]


def _persons(reports: list[IncidentReport]) -> list[PersonDescription]:
    # The newest description: clothing changes, the latest is what to look for.
    return list(reports[-1].offenders) if reports else []


def _evidence(link: SeriesLink, occurred_at: datetime | None) -> EvidenceLink:
    return EvidenceLink(
        event_id=link.event_id,
        event_type="incident_report",
        occurred_at=occurred_at,
        distance_m=link.distance_m,
        time_gap_s=link.time_gap_s,
        similarity=link.similarity,
        # The contract has one event id per link; the member it was linked with is a reason
        # that adds nothing to the score.
        reasons=[
            *link.reasons,
            LinkReason(feature="linked_with", value=str(link.linked_with), contribution=0.0),
        ],
    )
