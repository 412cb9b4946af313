"""Stage: warn of crews scouting several branches, and link later robberies back to them.

Sightings must be compared with every other sighting nearby and with later robberies anywhere
near, whichever partition their topics put them on. Both streams are therefore forwarded to
one internal topic under a single key: one partition, read in order by one worker, holding the
whole linkage state in one table value. A few thousand sightings and about a thousand robberies
a year make this cheap, and unlike a key per police unit or grid cell it never splits a crew
that scouts across a border. The decisions themselves are in streams/recon_linkage.py.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from heterdaad import metrics
from schemas.alerts import (
    Alert,
    AlertKind,
    Area,
    DetectionBasis,
    EvidenceLink,
    Lookout,
    Severity,
    WarningGrounds,
    alert_id_for,
)
from schemas.common import BranchType, Location
from schemas.distance import metres_between
from schemas.events import GetawayMode, IncidentReport, PersonDescription, ReconSighting, Vehicle
from schemas.geography import police_unit_for
from schemas.topics import INCIDENT_REPORTS, RECON_SIGHTINGS
from streams.alert_records import alert_record
from streams.codec import InternalTopic
from streams.dead_letters import read_internal
from streams.recon_evidence import false_warnings_per_100, robbery_probability
from streams.recon_linkage import (
    PatternWarning,
    ReconLinker,
    RobberyLink,
    SightingEvidence,
    Verdict,
)
from streams.recon_scoring import TrackedSighting

ModelT = TypeVar("ModelT", PersonDescription, Vehicle)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import faust

    from heterdaad.settings import Settings
    from heterdaad.thresholds.reconnaissance import ReconThresholds
    from heterdaad.thresholds.time import TimeModel
    from streams.app import Topics
    from streams.recon_linkage import Decision

logger = logging.getLogger(__name__)

# The one key of the internal topic and the state table: all of the Netherlands.
REGION = b"nl"
STAGE = "link_reconnaissance"
MAX_AREA_RADIUS_M = 100_000.0  # the contract's limit on an alert's area
MAX_CLOTHING = 10
MAX_PERSONS = 20
# The rule that decides, named in every alert (Alert.basis): the hand-set evidence weights of
# streams/recon_evidence.py with the calibrated warn_score. A new number when the evidence or
# the calibration method changes; a recalibrated threshold shows in the basis's rate.
RULE_VERSION = "recon-evidence/2"


def reconnaissance_warning(
    warning: PatternWarning, thresholds: ReconThresholds, time: TimeModel, now: datetime
) -> Alert:
    """Warn the kind of branch scouted in the area; the police also get vehicles and persons.

    A pattern whose newest sighting is older than the reconnaissance live horizon (sightings
    entered late) is history: raised at most medium, for the history view and the digest.
    """
    sightings = [e.sighting for e in warning.sightings]
    lat, lon = _medoid(sightings)
    branches = {s.branch_id for s in sightings if s.branch_id is not None}
    newest = max(s.observed_at for s in sightings)
    historical = _history(newest, time, now)
    severity = (
        Severity.HIGH
        if len(branches) >= thresholds.high_severity_branches and not historical
        else Severity.MEDIUM
    )
    return _alert(
        occurred_at=newest,
        historical=historical,
        dedup_key=warning.dedup_key,
        severity=severity,
        centre=(lat, lon),
        reach_m=max(metres_between(lat, lon, s.lat, s.lon) for s in sightings),
        thresholds=thresholds,
        branch_types=[s.branch_type for s in sightings],
        vehicles=[s.vehicle for s in sightings],
        persons=[p for s in sightings for p in s.persons],
        evidence=[
            _sighting_link(e, lat, lon, gap=newest - e.sighting.observed_at)
            for e in (*warning.sightings, *warning.nearby)
        ],
        sightings=sightings,
        now=now,
        grounds=grounds_of(warning, thresholds),
        basis=warning_basis(warning, thresholds),
    )


def warning_basis(warning: PatternWarning, thresholds: ReconThresholds) -> DetectionBasis:
    """The rule, the probability that a robbery follows at this score, the rate it was set to."""
    return DetectionBasis(
        model_version=RULE_VERSION,
        probability=robbery_probability(warning.score.total, thresholds.probability_curve),
        calibrated_to=f"at most {thresholds.false_rate_target_per_100:g} false warnings per 100 "
        "background sightings",
    )


def link_basis(thresholds: ReconThresholds) -> DetectionBasis:
    """A robbery linked back: it happened; the basis names the rule and the link score."""
    return DetectionBasis(
        model_version=RULE_VERSION,
        calibrated_to=f"linked at score {thresholds.robbery_link_score:g} (hand-set, "
        "not calibrated)",
    )


def grounds_of(warning: PatternWarning, thresholds: ReconThresholds) -> WarningGrounds:
    """What the warning rests on, with the false-warning rate calibration found at its score."""
    score = warning.score
    return WarningGrounds(
        score=score.total,
        threshold=thresholds.warn_score,
        false_warnings_per_100=false_warnings_per_100(score.total, thresholds.false_rate_curve),
        behaviours=list(score.behaviours),
        vehicle=score.vehicle,
        repeats=score.repeats,
        branches=score.branches,
        nearby_sightings=score.nearby,
    )


def robbery_link_alert(
    link: RobberyLink, thresholds: ReconThresholds, time: TimeModel, now: datetime
) -> Alert:
    """A robbery that followed reconnaissance: an update of the warning, with both as evidence.

    Kind RECONNAISSANCE_WARNING (the contract has no kind for a confirmed link), severity high:
    the crew has struck once and the other branches it scouted may be next, so the area covers
    them too. Evidence is the robbery, then each sighting with the time from it to the robbery.
    A robbery older than the reconnaissance live horizon links back as history (medium).
    """
    robbery = link.robbery
    sightings = [e.sighting for e in link.sightings]
    robbery_vehicles = [robbery.vehicle] if robbery.vehicle else []
    historical = _history(robbery.occurred_at, time, now)
    return _alert(
        occurred_at=robbery.occurred_at,
        historical=historical,
        dedup_key=link.dedup_key,
        severity=Severity.MEDIUM if historical else Severity.HIGH,
        centre=(robbery.lat, robbery.lon),
        reach_m=max(metres_between(robbery.lat, robbery.lon, s.lat, s.lon) for s in sightings),
        thresholds=thresholds,
        branch_types=[robbery.branch_type, *(s.branch_type for s in sightings)],
        vehicles=[*robbery_vehicles, *(s.vehicle for s in sightings)],
        persons=[*robbery.offenders, *(p for s in sightings for p in s.persons)],
        evidence=[
            EvidenceLink(
                event_id=robbery.event_id,
                event_type="incident_report",
                occurred_at=robbery.occurred_at,
                distance_m=0.0,
                time_gap_s=0.0,
            ),
            *(
                _sighting_link(
                    e, robbery.lat, robbery.lon, gap=robbery.occurred_at - e.sighting.observed_at
                )
                for e in link.sightings
            ),
        ],
        sightings=sightings,
        now=now,
        basis=link_basis(thresholds),
    )


def alert_for(
    decision: Decision, thresholds: ReconThresholds, time: TimeModel, now: datetime
) -> Alert:
    if isinstance(decision, PatternWarning):
        return reconnaissance_warning(decision, thresholds, time, now)
    return robbery_link_alert(decision, thresholds, time, now)


def _history(newest: datetime, time: TimeModel, now: datetime) -> bool:
    return newest < now - timedelta(days=time.reconnaissance_live_days)


def _alert(
    *,
    occurred_at: datetime,
    historical: bool,
    dedup_key: str,
    severity: Severity,
    centre: tuple[float, float],
    reach_m: float,
    thresholds: ReconThresholds,
    branch_types: Sequence[BranchType | None],
    vehicles: Sequence[Vehicle | None],
    persons: Sequence[PersonDescription],
    evidence: list[EvidenceLink],
    sightings: Sequence[TrackedSighting],
    now: datetime,
    grounds: WarningGrounds | None = None,
    basis: DetectionBasis | None = None,
) -> Alert:
    location = Location(lat=centre[0], lon=centre[1])
    radius = min(MAX_AREA_RADIUS_M, reach_m + thresholds.area_margin_m)
    return Alert(
        alert_id=alert_id_for(dedup_key),
        kind=AlertKind.RECONNAISSANCE_WARNING,
        severity=severity,
        area=Area(center=location, radius_m=max(radius, 1.0)),
        police_unit=police_unit_for(location),
        branch_types_at_risk=list(dict.fromkeys(t for t in branch_types if t is not None)),
        lookout=_lookout(sightings),
        vehicles=_distinct(v for v in vehicles if v is not None),
        persons=_distinct(persons)[:MAX_PERSONS],
        evidence=evidence,
        dedup_key=dedup_key,
        created_at=now,
        occurred_at=occurred_at,
        historical=historical,
        grounds=grounds,
        basis=basis,
    )


def _distinct(items: Iterable[ModelT]) -> list[ModelT]:
    """Each description once, in order of first mention (they hold lists, so are unhashable)."""
    seen: dict[str, ModelT] = {}
    for item in items:
        seen.setdefault(item.model_dump_json(), item)
    return list(seen.values())


def _lookout(sightings: Sequence[TrackedSighting]) -> Lookout:
    """What staff can recognise: behaviour, the vehicle's kind, make and colour, clothes; never
    a plate. The kind too: 'wit' alone did not say whether to look for a car or a scooter."""
    behaviours = Counter(b for s in sightings for b in s.behaviours)
    cars = Counter(
        (s.vehicle.kind, s.vehicle.make, s.vehicle.colour)
        for s in sightings
        if s.vehicle
        and (s.vehicle.kind is not GetawayMode.UNKNOWN or s.vehicle.make or s.vehicle.colour)
    )
    kind, make, colour = cars.most_common(1)[0][0] if cars else (None, None, None)
    clothing = Counter(item for s in sightings for p in s.persons for item in p.clothing)
    return Lookout(
        behaviours=[b for b, _ in behaviours.most_common()],
        getaway_mode=None if kind is GetawayMode.UNKNOWN else kind,
        vehicle_make=make,
        vehicle_colour=colour,
        clothing=[item for item, _ in clothing.most_common(MAX_CLOTHING)],
    )


def _sighting_link(
    evidence: SightingEvidence, lat: float, lon: float, *, gap: timedelta
) -> EvidenceLink:
    s = evidence.sighting
    return EvidenceLink(
        event_id=s.event_id,
        event_type="recon_sighting",
        occurred_at=s.observed_at,
        distance_m=metres_between(lat, lon, s.lat, s.lon),
        time_gap_s=max(0.0, gap.total_seconds()),
        similarity=evidence.score.similarity,
        reasons=list(evidence.score.reasons),
    )


def _medoid(sightings: Sequence[TrackedSighting]) -> tuple[float, float]:
    """The sighted place nearest to all others: a real Dutch point, unlike a mean in the water."""
    best = min(
        sightings,
        key=lambda a: max(metres_between(a.lat, a.lon, b.lat, b.lon) for b in sightings),
    )
    return best.lat, best.lon


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Forward sightings and robberies to one partition; link them there with a table."""
    thresholds = settings.reconnaissance
    late_bound = settings.time.late_bound_days
    source = f"urn:heterdaad:stream:{settings.app_id}:{STAGE}"
    linkage: InternalTopic[ReconSighting | IncidentReport] = InternalTopic(
        app,
        f"{settings.app_id}-recon-linkage",
        (ReconSighting, IncidentReport),
        dead_letters=RECON_SIGHTINGS,
        deleting=True,
        retention=timedelta(days=settings.personal_data_retention_days),
    )
    region_to_recon_state = app.Table(
        "region_to_recon_state",
        key_type=bytes,
        value_type=bytes,
        help="Linkage state (sightings, patterns, recent robberies) as JSON, per region.",
    )

    async def forward(model: ReconSighting | IncidentReport) -> None:
        await linkage.send(REGION, model)

    topics.intake.subscribe(RECON_SIGHTINGS, ReconSighting, STAGE, forward)
    topics.intake.subscribe(INCIDENT_REPORTS, IncidentReport, STAGE, forward)

    @app.agent(linkage.topic, name="link_reconnaissance")
    async def link_reconnaissance(stream: faust.StreamT[bytes]) -> None:
        async for event, model in read_internal(stream, linkage, topics, stage=STAGE):
            key = event.key if isinstance(event.key, bytes) else REGION
            linker = ReconLinker.from_json(
                thresholds, region_to_recon_state.get(key), late_bound,
                duplicate_minutes=settings.series.duplicate_minutes,
            )  # fmt: skip
            outcome = linker.observe(model)
            metrics.DECISIONS.labels(stage="link_reconnaissance", outcome=outcome.verdict).inc()
            now = datetime.now(UTC)
            # Each alert is acknowledged before the state that remembers it is stored: after a
            # crash in between, the event comes again and the same alert (same id) goes out
            # again, rather than never.
            for decision in outcome.decisions:
                alert = alert_for(decision, thresholds, settings.time, now)
                record = alert_record(alert, source, stage="link_reconnaissance")
                if record is not None:
                    sent = await topics.alerts.send(
                        key=record.key, value=record.value, headers=record.headers
                    )
                    await sent
                logger.info(
                    "reconnaissance alert raised",
                    extra={
                        "event_id": str(model.event_id),
                        "alert_id": str(alert.alert_id),
                        "dedup_key": alert.dedup_key,
                        "evidence": len(alert.evidence),
                    },
                )
            if outcome.verdict is not Verdict.DUPLICATE:
                region_to_recon_state[key] = linker.to_json()
            else:
                logger.info("event seen before", extra={"event_id": str(model.event_id)})
