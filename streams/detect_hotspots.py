"""Stage: prospective space-time hotspots of robberies and sightings, raised, updated, closed."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, LinkReason, Severity, alert_id_for
from schemas.common import BranchType, Location, PoliceUnit
from schemas.distance import metres_between
from schemas.events import IncidentReport, ReconSighting
from schemas.geography import police_unit_for
from schemas.topics import ALERTS, INCIDENT_REPORTS, RECON_SIGHTINGS
from schemas.wire import encode
from streams.dead_letters import decoded
from streams.hotspot_scan import Cluster, ScanParameters, recurrence_days, scan

if TYPE_CHECKING:
    import faust

    from heterdaad.settings import Settings
    from heterdaad.thresholds.hotspots import HotspotThresholds
    from streams.app import Topics

logger = logging.getLogger(__name__)

# One key for the whole country: a scan needs every recent event together, clusters cross
# police-unit borders (Amstelveen-Haarlemmermeer, Rotterdam-Den Haag), and ~1,500 events a
# year fit in one state. One partition therefore does all the work, by design.
REGION = b"nl"
OBSERVATION_PARTITIONS = 1
HOTSPOT_NAMESPACE = uuid.UUID("0c7a1f44-58b2-4d8e-9a49-686f7473706f")
DAY = timedelta(days=1)

Status = Literal["raised", "updated", "closed"]


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Observation(_State):
    """What a scan needs of an event; no descriptions, vehicles or free text."""

    event_id: uuid.UUID
    event_type: Literal["incident_report", "recon_sighting"]
    at: AwareDatetime
    lat: float
    lon: float
    police_unit: PoliceUnit
    branch_type: BranchType | None = None


class Hotspot(_State):
    """An open hotspot: its latest cluster's figures and every event that ever supported it."""

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


class HotspotState(_State):
    """The whole country's state: recent events and open hotspots (table value, as JSON)."""

    since: AwareDatetime | None = None
    watermark: AwareDatetime | None = None
    observations: tuple[Observation, ...] = ()
    hotspots: tuple[Hotspot, ...] = ()


@dataclass(frozen=True, slots=True)
class HotspotChange:
    """A hotspot raised, materially updated or closed, with the events behind it."""

    status: Status
    hotspot: Hotspot
    events: tuple[Observation, ...]
    scanned_at: datetime


def observation_of(event: IncidentReport | ReconSighting) -> Observation:
    """The scan's view of a reported robbery or a reconnaissance sighting."""
    robbery = isinstance(event, IncidentReport)
    where = event.branch.location if isinstance(event, IncidentReport) else event.where
    at = event.occurred_at if isinstance(event, IncidentReport) else event.observed_at
    return Observation(
        event_id=event.event_id,
        event_type="incident_report" if robbery else "recon_sighting",
        at=at,
        lat=where.lat,
        lon=where.lon,
        police_unit=police_unit_for(where),
        branch_type=event.branch.branch_type if event.branch else None,
    )


def hotspot_id_for(event_ids: list[uuid.UUID]) -> str:
    """A hotspot's id from the events that raised it: the same after every replay."""
    joined = ",".join(sorted(str(event_id) for event_id in event_ids))
    return f"hs-{uuid.uuid5(HOTSPOT_NAMESPACE, joined).hex}"


class HotspotTracker:
    """Scans after every new event and turns the clusters into hotspot changes (pure)."""

    def __init__(self, thresholds: HotspotThresholds) -> None:
        self.thresholds = thresholds
        self.parameters = ScanParameters(
            max_radius_m=thresholds.max_radius_m,
            max_share=thresholds.max_share,
            window_days=thresholds.window_days,
            min_observed=thresholds.min_observed,
            replications=thresholds.monte_carlo_replications,
        )

    def observe(
        self, state: HotspotState, event: Observation
    ) -> tuple[HotspotState, list[HotspotChange]]:
        """The state after one more event, and what changed about the hotspots."""
        study = timedelta(days=self.thresholds.study_days)
        watermark = max(state.watermark or event.at, event.at)
        known = any(o.event_id == event.event_id for o in state.observations)
        if known or event.at < watermark - study:
            # A redelivered event, or one older than the baseline: nothing to learn.
            return state, []
        since = min(state.since or event.at, event.at)
        kept = sorted((*state.observations, event), key=lambda o: o.at)
        kept = [o for o in kept if o.at >= watermark - study][-self.thresholds.max_events :]
        covered_days = min(max((watermark - since) / DAY, 1.0), self.thresholds.study_days)
        scans_per_day = len(kept) / covered_days
        threshold = (
            self.thresholds.keep_recurrence_days
            if state.hotspots
            else self.thresholds.raise_recurrence_days
        )
        result = scan(
            [o.lat for o in kept],
            [o.lon for o in kept],
            [(watermark - o.at) / DAY for o in kept],
            self.parameters,
            np.random.default_rng(
                [self.thresholds.seed, int(watermark.timestamp() * 1e6), len(kept)]
            ),
            alpha=1.0 / (threshold * scans_per_day),
        )

        def unusual(cluster: Cluster) -> float:
            return recurrence_days(cluster.p_value, scans_per_day)

        position = {o.event_id: i for i, o in enumerate(kept)}
        changes: list[HotspotChange] = []
        still_open: list[Hotspot] = []
        for hotspot in state.hotspots:
            touching = {position[e] for e in hotspot.event_ids if e in position}
            best = result.best_touching(touching)
            if best is None or unusual(best) < self.thresholds.keep_recurrence_days:
                changes.append(self._change("closed", hotspot, kept, watermark))
                continue
            grown = _updated(hotspot, best, kept, watermark, unusual(best))
            still_open.append(grown)
            if grown.version > hotspot.version:
                changes.append(self._change("updated", grown, kept, watermark))
        claimed = {e for hotspot in still_open for e in hotspot.event_ids}
        for cluster in result.clusters(self.thresholds.max_clusters_per_scan):
            members = [kept[i].event_id for i in cluster.members]
            if unusual(cluster) < self.thresholds.raise_recurrence_days or claimed & set(members):
                continue
            raised = _hotspot(cluster, kept, watermark, unusual(cluster))
            still_open.append(raised)
            claimed.update(members)
            changes.append(self._change("raised", raised, kept, watermark))
        if 1 / (self.parameters.replications + 1) > 1 / (
            self.thresholds.raise_recurrence_days * scans_per_day
        ):
            logger.warning(
                "no cluster can reach the recurrence threshold with this many replications",
                extra={
                    "scans_per_day": scans_per_day,
                    "replications": self.parameters.replications,
                },
            )
        new_state = HotspotState(
            since=since, watermark=watermark, observations=tuple(kept), hotspots=tuple(still_open)
        )
        return new_state, changes

    @staticmethod
    def _change(
        status: Status, hotspot: Hotspot, kept: list[Observation], at: datetime
    ) -> HotspotChange:
        ids = set(hotspot.event_ids)
        return HotspotChange(status, hotspot, tuple(o for o in kept if o.event_id in ids), at)


def _figures(cluster: Cluster, kept: list[Observation], recurrence: float) -> dict[str, object]:
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


def _hotspot(cluster: Cluster, kept: list[Observation], at: datetime, recurrence: float) -> Hotspot:
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
    hotspot: Hotspot, cluster: Cluster, kept: list[Observation], at: datetime, recurrence: float
) -> Hotspot:
    """The hotspot with its latest cluster; a new version only when new events joined it."""
    new = [kept[i].event_id for i in cluster.members if kept[i].event_id not in hotspot.event_ids]
    update: dict[str, object] = {"updated_at": at, **_figures(cluster, kept, recurrence)}
    if new:
        update |= {"version": hotspot.version + 1, "event_ids": (*hotspot.event_ids, *new)}
    return hotspot.model_copy(update=update)


def _metres(a: Observation, b: Observation) -> float:
    return metres_between(a.lat, a.lon, b.lat, b.lon)


def hotspot_alert(change: HotspotChange, settings: Settings, now: datetime) -> Alert:
    """The HOTSPOT alert of a change: area, unit, observed vs expected, significance, events."""
    hotspot = change.hotspot
    by_id = {o.event_id: o for o in change.events}
    centre = by_id[hotspot.centre] if hotspot.centre in by_id else change.events[0]
    figures = [
        LinkReason(feature="status", value=change.status, contribution=0.0),
        LinkReason(feature="observed", value=float(hotspot.observed), contribution=0.0),
        LinkReason(feature="expected", value=round(hotspot.expected, 4), contribution=0.0),
        LinkReason(feature="llr", value=round(hotspot.llr, 4), contribution=hotspot.llr),
        LinkReason(feature="p_value", value=hotspot.p_value, contribution=0.0),
        LinkReason(
            feature="recurrence_days", value=round(hotspot.recurrence_days, 1), contribution=0.0
        ),
        LinkReason(feature="window_days", value=hotspot.window_days, contribution=0.0),
        LinkReason(feature="radius_m", value=round(hotspot.radius_m, 1), contribution=0.0),
    ]
    evidence = [
        EvidenceLink(
            event_id=o.event_id,
            event_type=o.event_type,
            distance_m=_metres(centre, o),
            time_gap_s=(change.scanned_at - o.at).total_seconds(),
            reasons=figures,
        )
        for o in change.events
    ]
    suffix = "closed" if change.status == "closed" else f"v{hotspot.version}"
    dedup_key = f"hotspot:{hotspot.hotspot_id}:{suffix}"
    radius = max(hotspot.radius_m, settings.hotspots.min_area_radius_m)
    return Alert(
        alert_id=alert_id_for(dedup_key),
        kind=AlertKind.HOTSPOT,
        severity=Severity.INFO if change.status == "closed" else Severity.MEDIUM,
        area=Area(center=Location(lat=centre.lat, lon=centre.lon), radius_m=math.ceil(radius)),
        police_unit=centre.police_unit,
        branch_types_at_risk=sorted({o.branch_type for o in change.events if o.branch_type}),
        hotspot_id=hotspot.hotspot_id,
        evidence=evidence,
        dedup_key=dedup_key,
        created_at=now,
    )


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Declare this stage's agents and tables on the app."""
    source = f"urn:heterdaad:stream:{settings.app_id}"
    tracker = HotspotTracker(settings.hotspots)
    # Internal repartition topic: every event of the country under the one key REGION. It
    # carries Observations (no personal data); Faust creates it with the changelog.
    observations = app.topic(
        f"{settings.app_id}-hotspot-observations",
        key_type=bytes,
        value_type=bytes,
        partitions=OBSERVATION_PARTITIONS,
        internal=True,
        retention=timedelta(days=settings.personal_data_retention_days),
    )
    region_to_hotspot_state = app.Table(
        "region_to_hotspot_state",
        key_type=bytes,
        value_type=bytes,
        partitions=OBSERVATION_PARTITIONS,
    )

    async def forward(event: IncidentReport | ReconSighting) -> None:
        observation = observation_of(event)
        await observations.send(key=REGION, value=observation.model_dump_json().encode())

    @app.agent(topics[INCIDENT_REPORTS], name="gather_hotspot_robberies")
    async def gather_hotspot_robberies(stream: faust.StreamT[bytes]) -> None:
        async for report in decoded(stream, INCIDENT_REPORTS, topics, stage="detect_hotspots"):
            assert isinstance(report, IncidentReport)
            await forward(report)

    @app.agent(topics[RECON_SIGHTINGS], name="gather_hotspot_sightings")
    async def gather_hotspot_sightings(stream: faust.StreamT[bytes]) -> None:
        async for sighting in decoded(stream, RECON_SIGHTINGS, topics, stage="detect_hotspots"):
            assert isinstance(sighting, ReconSighting)
            if settings.hotspots.include_sightings:
                await forward(sighting)

    @app.agent(observations, name="track_hotspots")
    async def track_hotspots(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            try:
                event = Observation.model_validate_json(value)
            except ValidationError as error:
                logger.error("observation unreadable", extra={"error": str(error)})
                continue
            stored = region_to_hotspot_state.get(REGION)
            state = HotspotState.model_validate_json(stored) if stored else HotspotState()
            # A scan takes up to a few hundred milliseconds of numpy; off the event loop.
            state, changes = await asyncio.to_thread(tracker.observe, state, event)
            region_to_hotspot_state[REGION] = state.model_dump_json().encode()
            for change in changes:
                alert = hotspot_alert(change, settings, datetime.now(UTC))
                record = encode(ALERTS, alert, source)
                await topics.alerts.send(key=record.key, value=record.value, headers=record.headers)
                logger.info(
                    f"hotspot {change.status}",
                    extra={
                        "hotspot_id": change.hotspot.hotspot_id,
                        "alert_id": str(alert.alert_id),
                        "police_unit": alert.police_unit.value,
                        "observed": change.hotspot.observed,
                        "expected": round(change.hotspot.expected, 3),
                        "p_value": change.hotspot.p_value,
                        "recurrence_days": round(change.hotspot.recurrence_days, 1),
                        "event_id": str(event.event_id),
                    },
                )
