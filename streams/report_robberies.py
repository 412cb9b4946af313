"""Stage: every reported robbery becomes an alert to its police unit and nearby branches."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heterdaad import metrics
from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, Lookout, Severity, alert_id_for
from schemas.events import IncidentReport
from schemas.geography import police_unit_for
from schemas.topics import INCIDENT_REPORTS
from streams.alert_records import alert_record

if TYPE_CHECKING:
    import faust

    from heterdaad.settings import Settings
    from heterdaad.thresholds.time import RobberyPhase
    from streams.app import Topics

logger = logging.getLogger(__name__)


# Urgency follows when the robbery happened, never when its report arrived (docs/time.md).
# History is medium, not low: it still names a robbery near the branches, for the history
# view and the digest, but it never sorts above anything live.
SEVERITY_BY_PHASE: dict[RobberyPhase, Severity] = {
    "in_the_act": Severity.CRITICAL,
    "live": Severity.HIGH,
    "history": Severity.MEDIUM,
}


def robbery_alert(report: IncidentReport, settings: Settings, now: datetime) -> Alert:
    """The 'robbery reported' alert: where, what to look out for, and the report as evidence."""
    phase = settings.time.robbery_phase(report.occurred_at, now)
    getaway = report.getaway
    vehicle = getaway.vehicle if getaway else None
    dedup_key = f"robbery_reported:{report.event_id}"
    return Alert(
        alert_id=alert_id_for(dedup_key),
        kind=AlertKind.ROBBERY_REPORTED,
        severity=SEVERITY_BY_PHASE[phase],
        area=Area(center=report.branch.location, radius_m=settings.robbery_alert_radius_m),
        police_unit=police_unit_for(report.branch.location),
        branch_types_at_risk=[report.branch.branch_type],
        lookout=Lookout(
            modus_operandi=report.modus_operandi,
            getaway_mode=getaway.mode if getaway else None,
            vehicle_make=vehicle.make if vehicle else None,
            vehicle_colour=vehicle.colour if vehicle else None,
            # Two offenders in grey tracksuits: one item to look out for, said once.
            clothing=list(dict.fromkeys(c for person in report.offenders for c in person.clothing)),
            weapons=report.weapons,
            offender_count=report.offender_count,
        ),
        vehicles=[vehicle] if vehicle else [],
        persons=report.offenders,
        evidence=[
            EvidenceLink(
                event_id=report.event_id,
                event_type="incident_report",
                occurred_at=report.occurred_at,
                distance_m=0.0,
                time_gap_s=max(0.0, (now - report.occurred_at).total_seconds()),
            )
        ],
        dedup_key=dedup_key,
        created_at=now,
        occurred_at=report.occurred_at,
        historical=phase == "history",
    )


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    source = f"urn:heterdaad:stream:{settings.app_id}"

    # A direct call from the intake's agent, no topic of its own (streams/intake.py says why).
    async def report_robbery(report: IncidentReport) -> None:
        alert = robbery_alert(report, settings, datetime.now(UTC))
        record = alert_record(alert, source, stage="report_robberies")
        if record is not None:
            await topics.alerts.send(key=record.key, value=record.value, headers=record.headers)
        metrics.DECISIONS.labels(stage="report_robberies", outcome="alert").inc()
        logger.info(
            "robbery alert raised",
            extra={
                "event_id": str(report.event_id),
                "alert_id": str(alert.alert_id),
                "severity": alert.severity.value,
                "historical": alert.historical,
            },
        )

    topics.intake.subscribe(INCIDENT_REPORTS, IncidentReport, "report_robberies", report_robbery)
