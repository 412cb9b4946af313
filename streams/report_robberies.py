"""Stage: every reported robbery becomes an alert to its police unit and nearby branches, once.

One robbery often comes in twice: the shop posts it and its trade association reports it
again, or the shop's monthly CBL export is imported after its live post. Each report would
raise a "robbery reported" alert, and the police unit and the branches around it would be
notified twice. So the stage keeps, per branch, the robberies it alerted (a Faust table with
a changelog, so a restart or a rebalance keeps them), and a report is a copy, with no alert of
its own, when another source reported a robbery at the same branch within
`series.duplicate_minutes` (either way in time: late reports arrive in any order). A source is
what the digest calls one (consumers/digest/incidents.py): the reporting organisation and the
channel it reported through, here the CloudEvent's source, which the edges set to
`/producers/api/<org>` or `/producers/cbl-import/<org>`. One source never reports a robbery
twice (each gives it one id of its own), so its two reports at one branch an hour apart are two
robberies, and both are alerted. The first report's alert stands.

incident-reports.v1 is keyed by branch, and the table has its partitions: the gather agent
that calls this stage reads the partition the branch's state lives on, and a write's changelog
record goes to the partition of the report being read (streams/intake.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import faust
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from heterdaad import metrics
from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, Lookout, Severity, alert_id_for
from schemas.events import IncidentReport
from schemas.geography import police_unit_for
from schemas.topics import INCIDENT_REPORTS
from streams.alert_records import alert_record

if TYPE_CHECKING:
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


# --- one robbery, reported twice ----------------------------------------------------------

Source = tuple[str, str]
"""Who reported a robbery through which channel: (reporting organisation, CloudEvent source)."""


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeenReport(_State):
    """A report the stage decided on: its id and its source (no description, no person)."""

    event_id: UUID
    source: Source


class AlertedRobbery(_State):
    """A robbery alerted at a branch: the alerted report first, then the copies of it."""

    occurred_at: AwareDatetime
    reports: tuple[SeenReport, ...]

    @property
    def sources(self) -> set[Source]:
        return {report.source for report in self.reports}


class BranchRobberies(_State):
    """The value of `branch_to_alerted_robberies`: a branch's recent alerted robberies."""

    newest: AwareDatetime | None = None  # the latest robbery time reported at the branch
    robberies: tuple[AlertedRobbery, ...] = ()


@dataclass(frozen=True)
class Judgement:
    """Whether a report raises an alert, and the branch's state after it.

    `copy_of`: the alerted report this one is a copy of; None when it is alerted (again, when
    it is a repeat of an alerted report: read twice, it gets the same alert id).
    """

    copy_of: UUID | None
    state: BranchRobberies


def judge(
    state: BranchRobberies,
    event_id: UUID,
    source: Source,
    occurred_at: datetime,
    window: timedelta,
) -> Judgement:
    """Is the report a copy of a robbery alerted at its branch (`state`)?

    It is when it lies within `window` of that robbery, before or after it, and that robbery
    has no report from its source yet; of several such, the nearest in time. A report decided
    before (read again after a restart) is decided the same way and changes nothing.

    Kept are the robberies at most `2 * window` before the newest reported at the branch, so
    that a report at most `window` before that newest still meets each robbery it could be a
    copy of. A report older still (a history import, out of order) is judged against what
    is kept and may be alerted although it copies a robbery dropped before: an alert of
    history, medium severity, which the digest counts once.
    """
    for robbery in state.robberies:
        for seen in robbery.reports:
            if seen.event_id == event_id:
                alerted_id = robbery.reports[0].event_id
                return Judgement(None if alerted_id == event_id else alerted_id, state)
    report = SeenReport(event_id=event_id, source=source)
    candidates = [
        robbery for robbery in state.robberies
        if abs(robbery.occurred_at - occurred_at) <= window and source not in robbery.sources
    ]  # fmt: skip
    copied = min(candidates, key=lambda r: abs(r.occurred_at - occurred_at), default=None)
    if copied is None:
        alerted = AlertedRobbery(occurred_at=occurred_at, reports=(report,))
        robberies = [*state.robberies, alerted]
    else:
        grown = copied.model_copy(update={"reports": (*copied.reports, report)})
        robberies = [grown if r is copied else r for r in state.robberies]
    newest = max(occurred_at, state.newest or occurred_at)
    kept = sorted(
        (r for r in robberies if r.occurred_at >= newest - 2 * window),
        key=lambda r: r.occurred_at,
    )
    copy_of = None if copied is None else copied.reports[0].event_id
    return Judgement(copy_of, BranchRobberies(newest=newest, robberies=tuple(kept)))


def reported_through(event: faust.EventT[bytes] | None) -> str:
    """The CloudEvent source of the record being read: the edge and the organisation."""
    if event is None:
        raise RuntimeError("report_robberies runs only while the intake reads a record")
    headers = event.headers or {}
    raw = dict(headers).get("ce_source", b"")
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def stored_state(raw: bytes | None, branch_id: str) -> BranchRobberies:
    """A branch's state as the table keeps it; unreadable (a contract change), none."""
    if not raw:
        return BranchRobberies()
    try:
        return BranchRobberies.model_validate_json(raw)
    except ValidationError as error:
        # Losing the branch's copies costs at most a second alert; a crash loop costs them all.
        logger.warning("robbery state unreadable, started afresh",
                       extra={"branch_id": branch_id, "error": str(error)})  # fmt: skip
        return BranchRobberies()


# --- the Faust stage ------------------------------------------------------------------------


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    source = f"urn:heterdaad:stream:{settings.app_id}"
    window = timedelta(minutes=settings.series.duplicate_minutes)
    # Keyed by branch like incident-reports.v1, with its partitions: co-partitioned with the
    # gather agent's stream, which alone reads and writes it (module docstring). Its values
    # hold ids and organisations, no personal data: compacted, as Faust makes changelogs.
    branch_to_alerted_robberies = app.Table(
        "branch_to_alerted_robberies", default=None, key_type=bytes, value_type=bytes,
        partitions=INCIDENT_REPORTS.partitions,
    )  # fmt: skip

    # A direct call from the intake's agent, no topic of its own (streams/intake.py says why).
    async def report_robbery(report: IncidentReport) -> None:
        branch_id = report.branch.branch_id
        key = branch_id.encode()
        state = stored_state(branch_to_alerted_robberies.get(key), branch_id)
        reporter = (report.reporting_org, reported_through(faust.current_event()))
        judgement = judge(state, report.event_id, reporter, report.occurred_at, window)
        if judgement.copy_of is not None:
            metrics.DECISIONS.labels(stage="report_robberies", outcome="copy").inc()
            logger.info(
                "robbery reported again by another source, not alerted again",
                extra={"event_id": str(report.event_id), "copy_of": str(judgement.copy_of),
                       "branch_id": branch_id, "reporting_org": report.reporting_org},
            )  # fmt: skip
        else:
            await send_alert(report)
        # After the alert is queued: Faust commits the report's offset only once both are
        # flushed, and a report read again is judged as before (judge), its alert resent.
        if judgement.state != state:
            branch_to_alerted_robberies[key] = judgement.state.model_dump_json().encode()

    async def send_alert(report: IncidentReport) -> None:
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
