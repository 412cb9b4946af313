"""Stage: prospective space-time hotspots of robberies and sightings, raised, updated, closed."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from heterdaad import metrics
from heterdaad.hotspot_scan import Hotspot, Status
from schemas.alerts import (
    Alert,
    AlertKind,
    Area,
    DetectionBasis,
    EvidenceLink,
    LinkReason,
    Severity,
    alert_id_for,
)
from schemas.common import Location
from schemas.distance import metres_between
from schemas.events import IncidentReport, ReconSighting
from schemas.topics import INCIDENT_REPORTS, RECON_SIGHTINGS
from streams import dead_letters
from streams.alert_records import alert_record
from streams.codec import InternalTopic
from streams.hotspot_tracking import (
    HotspotChange,
    HotspotState,
    HotspotTracker,
    Observation,
    change_key,
    observation_of,
)
from streams.verify_alarms import acting_for

if TYPE_CHECKING:
    from collections.abc import Sequence

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
STAGE = "detect_hotspots"
# The rule that decides, named in every alert (Alert.basis): the prospective space-time
# permutation scan with a national recurrence threshold (docs/hotspots.md). A new number when
# the method or the meaning of its threshold changes, not when a setting does.
RULE_VERSION = "hotspot-scan/1"
# The pure part, named here too for the stage's users (tests, bench).
__all__ = [
    "HotspotChange",
    "HotspotState",
    "HotspotTracker",
    "Observation",
    "Status",
    "basis_of",
    "hotspot_alert",
    "observation_of",
    "register",
]


def _metres(a: Observation, b: Observation) -> float:
    return metres_between(a.lat, a.lon, b.lat, b.lon)


def basis_of(hotspot: Hotspot, thresholds: HotspotThresholds) -> DetectionBasis:
    """What a hotspot alert rests on: the rule, its recurrence interval, the rate it was set to."""
    return DetectionBasis(
        model_version=RULE_VERSION,
        recurrence_days=round(hotspot.recurrence_days, 1),
        calibrated_to=f"at most 1 chance hotspot per {thresholds.raise_recurrence_days:g} days "
        "nationally",
    )


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
            occurred_at=o.at,
            distance_m=_metres(centre, o),
            time_gap_s=(change.scanned_at - o.at).total_seconds(),
            reasons=figures,
        )
        for o in change.events
    ]
    dedup_key = change_key(change)
    radius = max(hotspot.radius_m, settings.hotspots.min_area_radius_m)
    # A hotspot whose newest event is beyond the pattern horizon (found in late reports) is
    # history: for the history view and the digest.
    newest = max(o.at for o in change.events)
    historical = newest < now - timedelta(days=settings.time.pattern_live_days)
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
        occurred_at=newest,
        historical=historical,
        basis=basis_of(hotspot, settings.hotspots),
    )


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Declare this stage's agents and tables on the app."""
    source = f"urn:heterdaad:stream:{settings.app_id}"
    tracker = HotspotTracker(
        settings.hotspots, settings.time.late_bound_days, settings.series.duplicate_minutes
    )
    # Internal repartition topic: every event of the country under the one key REGION. It
    # carries Observations (no personal data); Faust creates it with the changelog.
    observations = InternalTopic(
        app,
        f"{settings.app_id}-hotspot-observations",
        (Observation,),
        dead_letters=INCIDENT_REPORTS,
        partitions=OBSERVATION_PARTITIONS,
        retention=timedelta(days=settings.personal_data_retention_days),
    )
    region_to_hotspot_state = app.Table(
        "region_to_hotspot_state",
        key_type=bytes,
        value_type=bytes,
        partitions=OBSERVATION_PARTITIONS,
    )

    async def forward(event: IncidentReport | ReconSighting) -> None:
        await observations.send(REGION, observation_of(event))

    topics.intake.subscribe(INCIDENT_REPORTS, IncidentReport, STAGE, forward)
    if settings.hotspots.include_sightings:
        topics.intake.subscribe(RECON_SIGHTINGS, ReconSighting, STAGE, forward)

    async def track(batch: Sequence[tuple[faust.EventT[bytes], Observation]]) -> None:
        events = [observation for _, observation in batch]
        stored = region_to_hotspot_state.get(REGION)
        state = HotspotState.model_validate_json(stored) if stored else HotspotState()
        # A scan takes up to a few hundred milliseconds of numpy (a late event replays
        # several): off the event loop.
        state, changes = await asyncio.to_thread(tracker.observe_many, state, events)
        now = datetime.now(UTC)
        # Each alert is acknowledged before the state that says it was sent is stored: a
        # crash in between sends the same alert (same id) again, never none.
        for change in changes:
            alert = hotspot_alert(change, settings, now)
            record = alert_record(alert, source, stage="detect_hotspots")
            if record is not None:
                sent = await topics.alerts.send(
                    key=record.key, value=record.value, headers=record.headers
                )
                await sent
            metrics.DECISIONS.labels(stage="detect_hotspots", outcome=change.status).inc()
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
                    "scanned_at": change.scanned_at.isoformat(),
                    "historical": alert.historical,
                },
            )
        # Outside a single event's iteration: the batch's last event is the current one.
        with acting_for(batch[-1][0]):
            region_to_hotspot_state[REGION] = state.model_dump_json().encode()

    @app.agent(observations.topic, name="track_hotspots")
    async def track_hotspots(stream: faust.StreamT[bytes]) -> None:
        # A burst (a history import) is replayed once per batch, not once per late event.
        # take_events is on the concrete Stream only, not on the StreamT interface.
        batches = cast("faust.Stream[bytes]", stream).take_events(
            settings.hotspots.batch_max, within=settings.hotspots.batch_wait_seconds
        )
        async for batch in batches:
            if readable := await dead_letters.readable(batch, observations, topics, stage=STAGE):
                await track(readable)
