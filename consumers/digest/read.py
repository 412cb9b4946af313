"""Reads what the digest needs from PostgreSQL: anonymous columns only, in one consistent snapshot.

Payloads hold personal data (descriptions, plate pseudonyms) and are purged after the retention
period, so the counts use the event and alert columns (and import receipts, which say which
reports came through a CBL import). From alert payloads only the ids of
patterns and of their evidence are taken, picked out in SQL, so no description or pseudonym
ever reaches this process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from consumers.digest.found import ScanEvent, scan_reach, scan_span
from consumers.reliability import judged_alerts

if TYPE_CHECKING:
    import asyncpg

    from consumers.digest.period import Month
    from consumers.reliability import JudgedAlert
    from heterdaad.thresholds.hotspots import HotspotThresholds

logger = logging.getLogger(__name__)

TREND_MONTHS = 12
PRESS_SIGNALS = ("panic", "hold_up", "duress")
# Alerts that say a press was a real hold-up; an episode without one counts as a false alarm.
ESCALATION_KINDS = ("hold_up_in_progress", "verified_alarm")
PATTERN_KINDS = ("hotspot", "series")
# Presses this long before the month are read so that an episode that began in the previous
# month is recognised as such and not counted twice.
PRESS_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident report as the anonymous columns keep it, with who reported it and how."""

    event_id: UUID
    kind: str
    branch_type: str | None
    police_unit: str | None
    lat: float
    lon: float
    occurred_at: datetime
    organisation_id: str  # the reporting organisation (the event's reporting_org)
    channel: str  # API_CHANNEL, or the import's source ('cbl') from import_receipt

    @property
    def source(self) -> tuple[str, str]:
        """Who reported it through which channel: each source gives a robbery one id of its own."""
        return self.organisation_id, self.channel


@dataclass(frozen=True, slots=True)
class Sighting:
    """A reconnaissance report (voorverkenning)."""

    event_id: UUID
    branch_type: str | None
    police_unit: str | None
    lat: float
    lon: float
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Press:
    """A panic, hold-up or duress activation; the site is the centre plus the spot."""

    alarm_centre: str
    lat: float
    lon: float
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Escalation:
    """An alert that a press was a real hold-up, at the press's time (event time).

    `at` is the alert's `occurred_at` where it has one, else its `created_at`: a replayed
    press verified days later belongs to the episode it was pressed in, not to the replay.
    """

    kind: str
    lat: float
    lon: float
    at: datetime


@dataclass(frozen=True, slots=True)
class PatternAlert:
    """A hotspot or series alert with the ids it names; several alerts may share one pattern."""

    kind: str
    pattern_id: str
    severity: str
    police_unit: str
    lat: float
    lon: float
    created_at: datetime
    occurred_at: datetime  # event time: the newest member's, else when raised
    radius_m: float | None
    branch_types: tuple[str, ...]
    # Every incident the alert names: each link's member and the member it was linked with.
    member_ids: tuple[UUID, ...]


@dataclass(frozen=True)
class Snapshot:
    """Everything one digest is made of, read in one repeatable-read transaction."""

    month: Month
    read_at: datetime
    incidents: tuple[Incident, ...]
    sightings: tuple[Sighting, ...]
    presses: tuple[Press, ...]
    escalations: tuple[Escalation, ...]
    pattern_alerts: tuple[PatternAlert, ...]
    pattern_incidents: dict[UUID, Incident]
    recon_warnings: int
    centre_names: dict[str, str]
    data_since: datetime | None
    # The analysts' newest verdict on each pattern alert, as it stood at the month's end.
    judged: tuple[JudgedAlert, ...]
    judgements_in_month: int
    # What the month's hotspot scans need (consumers/digest/found.py): every robbery (and
    # sighting, if the stage scans them) of their span (found.scan_span: the study period
    # before the month to some weeks after it), the oldest one stored, the robberies among
    # them, and the events each hotspot alert about the month names (a found hotspot sharing
    # one is that alert's).
    scan_events: tuple[ScanEvent, ...] = ()
    scan_since: datetime | None = None
    scan_incidents: dict[UUID, Incident] = field(default_factory=dict)
    hotspot_evidence: tuple[frozenset[UUID], ...] = ()


# A report sent through the intake API (or posted by any client of it) has no import receipt.
API_CHANNEL = "api"
# The channel a report came in through: an imported one (a CBL export) has its import receipt,
# kept as long as the event; every other report came through the intake API.
_INCIDENT_COLUMNS = f"""
SELECT e.event_id, e.kind, e.branch_type, e.police_unit, e.lat, e.lon, e.occurred_at,
       e.organisation_id, COALESCE(r.source, '{API_CHANNEL}') AS channel
FROM event e LEFT JOIN import_receipt r ON r.event_id = e.event_id
"""
_INCIDENTS = f"""{_INCIDENT_COLUMNS}
WHERE e.event_type = 'incident_report' AND e.occurred_at >= $1 AND e.occurred_at < $2
ORDER BY e.occurred_at, e.event_id
"""
_INCIDENTS_BY_ID = f"""{_INCIDENT_COLUMNS}
WHERE e.event_type = 'incident_report' AND e.event_id = ANY($1::uuid[])
"""
_SIGHTINGS = """
SELECT event_id, branch_type, police_unit, lat, lon, occurred_at
FROM event
WHERE event_type = 'recon_sighting' AND occurred_at >= $1 AND occurred_at < $2
ORDER BY occurred_at, event_id
"""
_PRESSES = """
SELECT organisation_id, lat, lon, occurred_at
FROM event
WHERE event_type = 'alarm_activation' AND kind = ANY($3::text[])
  AND occurred_at >= $1 AND occurred_at < $2
ORDER BY occurred_at
"""
# Event time from its column (migration 0025), not cast from the payload's text, which fails
# the whole read on an offset PostgreSQL cannot take (past ±15:59); alerts without one fall
# back to when they were made. An escalation is never made before its press (hence the bound
# on created_at, which keeps the index in use) but may be made long after it.
_EVENT_TIME = "COALESCE(occurred_at, created_at)"
_ESCALATIONS = f"""
SELECT kind, lat, lon, {_EVENT_TIME} AS at
FROM alert
WHERE kind = ANY($3::text[]) AND created_at >= $1 AND {_EVENT_TIME} < $2
"""
# Only ids and times are taken from the payload; persons, vehicles and lookouts stay in the
# database. A pattern belongs to the month when the alert was made in it, or when it names an
# event of the month (a series found through a late CBL import is made months later). It
# cannot have been made before the month if it names an event of the month.
_PATTERN_ALERTS = f"""
SELECT kind,
       COALESCE(CASE kind WHEN 'series' THEN payload->>'series_id'
                          ELSE payload->>'hotspot_id' END, dedup_key) AS pattern_id,
       severity, police_unit, lat, lon, created_at, {_EVENT_TIME} AS occurred_at,
       (payload->'area'->>'radius_m')::double precision AS radius_m,
       ARRAY(SELECT jsonb_array_elements_text(
                 COALESCE(payload->'branch_types_at_risk', '[]'::jsonb))) AS branch_types,
       ARRAY(SELECT DISTINCT member::uuid FROM (
                 SELECT link->>'event_id' AS member, link
                 FROM jsonb_array_elements(COALESCE(payload->'evidence', '[]'::jsonb)) AS link
                 UNION ALL
                 SELECT reason->>'value', link
                 FROM jsonb_array_elements(COALESCE(payload->'evidence', '[]'::jsonb)) AS link,
                      jsonb_array_elements(COALESCE(link->'reasons', '[]'::jsonb)) AS reason
                 WHERE reason->>'feature' = 'linked_with') AS named
             WHERE named.link->>'event_type' = 'incident_report') AS member_ids
FROM alert
WHERE kind = ANY($3::text[]) AND created_at >= $1
  AND (created_at < $2
       OR {_EVENT_TIME} >= $1 AND {_EVENT_TIME} < $2
       OR EXISTS (SELECT 1
                  FROM jsonb_array_elements(COALESCE(payload->'evidence', '[]'::jsonb)) AS link
                  WHERE (link->>'occurred_at')::timestamptz >= $1
                    AND (link->>'occurred_at')::timestamptz < $2))
ORDER BY created_at, alert_id
"""
# A robbery linked back to reconnaissance is published as a warning update (dedup key
# recon-link:..., docs/reconnaissance.md) but warns nobody of a crew still scouting: not counted.
# By event time, as everything the digest counts (docs/time.md): a warning raised today about
# reconnaissance of March, from a CBL import or a centre's backlog, is one of March's. An alert
# stored before it carried its event time is dated by when it was raised.
_RECON_WARNINGS = """
SELECT count(*) FROM alert
WHERE kind = 'reconnaissance_warning' AND dedup_key NOT LIKE 'recon-link:%'
  AND coalesce(occurred_at, created_at) >= $1 AND coalesce(occurred_at, created_at) < $2
"""
_DATA_SINCE = "SELECT min(occurred_at) FROM event"
# The hotspot stage scans robberies (every incident report) and, if it is set to, sightings.
_SCAN_INCIDENTS = f"""{_INCIDENT_COLUMNS}
WHERE e.event_type = 'incident_report' AND e.occurred_at >= $1 AND e.occurred_at < $2
"""
_SCAN_SIGHTINGS = """
SELECT event_id, occurred_at, lat, lon, police_unit FROM event
WHERE event_type = 'recon_sighting' AND occurred_at >= $1 AND occurred_at < $2
"""
_SCAN_SINCE = "SELECT min(occurred_at) FROM event WHERE event_type = ANY($1::text[])"
# Every event a hotspot alert names (sightings too), of alerts that name an event from $1 on:
# a hotspot of the month reaches back at most as far as the month's scans (found.scan_reach),
# and an alert is never made before the events it names.
_HOTSPOT_EVIDENCE = """
SELECT ARRAY(SELECT DISTINCT (link->>'event_id')::uuid
             FROM jsonb_array_elements(COALESCE(payload->'evidence', '[]'::jsonb)) AS link)
       AS event_ids
FROM alert
WHERE kind = 'hotspot' AND created_at >= $1
  AND EXISTS (SELECT 1
              FROM jsonb_array_elements(COALESCE(payload->'evidence', '[]'::jsonb)) AS link
              WHERE (link->>'occurred_at')::timestamptz >= $1
                AND (link->>'occurred_at')::timestamptz < $2)
"""
_JUDGEMENTS = "SELECT count(*) FROM judgement WHERE judged_at >= $1 AND judged_at < $2"
_CENTRE_NAMES = "SELECT organisation_id, name FROM organisation WHERE role = 'alarm_centre'"


async def read_snapshot(
    connection: asyncpg.Connection,
    month: Month,
    *,
    follow_up: timedelta,
    escalation_window: timedelta,
    now: datetime,
    hotspots: HotspotThresholds | None = None,
) -> Snapshot:
    """The month, the eleven before it for the trend, and what came after that still counts.

    `follow_up` after the month for robberies after sightings, `escalation_window` for
    escalations of the month's last alarm episodes. With `hotspots` (the stage's thresholds)
    also what the month's hotspot scan needs: its `study_days` before the month.
    """
    trend_start = month.shift(1 - TREND_MONTHS).start
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        incidents = [
            _incident(row)
            for row in await connection.fetch(_INCIDENTS, trend_start, month.end + follow_up)
        ]
        sightings = [
            Sighting(
                row["event_id"],
                row["branch_type"],
                row["police_unit"],
                row["lat"],
                row["lon"],
                row["occurred_at"],
            )
            for row in await connection.fetch(_SIGHTINGS, month.start, month.end)
        ]
        presses = [
            Press(row["organisation_id"], row["lat"], row["lon"], row["occurred_at"])
            for row in await connection.fetch(
                _PRESSES, month.start - PRESS_LOOKBACK, month.end, list(PRESS_SIGNALS)
            )
        ]
        escalations = [
            Escalation(row["kind"], row["lat"], row["lon"], row["at"])
            for row in await connection.fetch(
                _ESCALATIONS,
                month.start - PRESS_LOOKBACK,
                month.end + escalation_window,
                list(ESCALATION_KINDS),
            )
        ]
        pattern_alerts = [
            _pattern_alert(row)
            for row in await connection.fetch(
                _PATTERN_ALERTS, month.start, month.end, list(PATTERN_KINDS)
            )
        ]
        evidence = sorted({i for alert in pattern_alerts for i in alert.member_ids})
        pattern_incidents = {
            row["event_id"]: _incident(row)
            for row in await connection.fetch(_INCIDENTS_BY_ID, evidence)
        }
        recon_warnings: int = await connection.fetchval(_RECON_WARNINGS, month.start, month.end)
        centre_names = {
            row["organisation_id"]: row["name"] for row in await connection.fetch(_CENTRE_NAMES)
        }
        data_since: datetime | None = await connection.fetchval(_DATA_SINCE)
        # Verdicts given by the month's end only: a digest made again later says the same.
        judged = await judged_alerts(connection, until=month.end)
        judgements: int = await connection.fetchval(_JUDGEMENTS, month.start, month.end)
        scanned = await _scan_data(connection, month, hotspots) if hotspots else {}
    logger.info(
        "digest.read month=%s incidents=%d sightings=%d presses=%d pattern_alerts=%d",
        month, len(incidents), len(sightings), len(presses), len(pattern_alerts),
    )  # fmt: skip
    return Snapshot(
        month=month,
        read_at=now,
        incidents=tuple(incidents),
        sightings=tuple(sightings),
        presses=tuple(presses),
        escalations=tuple(escalations),
        pattern_alerts=tuple(pattern_alerts),
        pattern_incidents=pattern_incidents,
        recon_warnings=recon_warnings,
        centre_names=centre_names,
        data_since=data_since,
        judged=tuple(judged),
        judgements_in_month=judgements,
        **scanned,
    )


async def _scan_data(
    connection: asyncpg.Connection, month: Month, thresholds: HotspotThresholds
) -> dict[str, Any]:
    """The Snapshot's fields for the month's hotspot scan."""
    start, end = scan_span(month, thresholds)
    incidents = {
        row["event_id"]: _incident(row)
        for row in await connection.fetch(_SCAN_INCIDENTS, start, end)
    }
    events = [
        ScanEvent(i.event_id, i.occurred_at, i.lat, i.lon, i.police_unit)
        for i in incidents.values()
    ]
    kinds = ["incident_report"]
    if thresholds.include_sightings:
        kinds.append("recon_sighting")
        events += [
            ScanEvent(
                row["event_id"], row["occurred_at"], row["lat"], row["lon"], row["police_unit"]
            )
            for row in await connection.fetch(_SCAN_SIGHTINGS, start, end)
        ]
    reach = month.start - scan_reach(thresholds)
    evidence = [
        frozenset(row["event_ids"])
        for row in await connection.fetch(_HOTSPOT_EVIDENCE, reach, month.end)
    ]
    return {
        "scan_events": tuple(events),
        "scan_since": await connection.fetchval(_SCAN_SINCE, kinds),
        "scan_incidents": incidents,
        "hotspot_evidence": tuple(evidence),
    }


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(
        row["event_id"], row["kind"], row["branch_type"], row["police_unit"], row["lat"],
        row["lon"], row["occurred_at"], row["organisation_id"], row["channel"],
    )  # fmt: skip


def _pattern_alert(row: asyncpg.Record) -> PatternAlert:
    return PatternAlert(
        kind=row["kind"],
        pattern_id=row["pattern_id"],
        severity=row["severity"],
        police_unit=row["police_unit"],
        lat=row["lat"],
        lon=row["lon"],
        created_at=row["created_at"],
        occurred_at=row["occurred_at"],
        radius_m=row["radius_m"],
        branch_types=tuple(row["branch_types"]),
        member_ids=tuple(row["member_ids"]),
    )
