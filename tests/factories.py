"""Factories for contract models with keyword defaults: a test names only what it is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, Severity
from schemas.common import Branch, BranchType, Location, PoliceUnit
from schemas.events import (
    AlarmActivation,
    AlarmSignal,
    AlarmSite,
    Getaway,
    GetawayMode,
    IncidentReport,
    IncidentType,
    PersonDescription,
    ReconBehaviour,
    ReconSighting,
    Vehicle,
)
from schemas.tasks import AlarmTask, AlarmTaskKind

DAM_SQUARE = Location(lat=52.3731, lon=4.8926)
PLATE_PSEUDONYM = "hp1:k1:" + "ab" * 16
# The server's plate key where a test forms recipients' views (schemas.alerts.alert_reference).
REFERENCE_KEY = b"a reference key of 32 characters"


def _ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def branch(**overrides: Any) -> Branch:
    fields: dict[str, Any] = {
        "branch_id": "ah-1001",
        "chain": "Buurtsuper",
        "branch_type": BranchType.SUPERMARKET,
        "location": DAM_SQUARE,
    }
    return Branch(**(fields | overrides))


def alarm_activation(**overrides: Any) -> AlarmActivation:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "alarm_centre": "pac-noord",
        "subscriber_account": "100234",
        "site": AlarmSite(site_id="site-1", location=DAM_SQUARE, branch_type=BranchType.JEWELLER),
        "signal": AlarmSignal.HOLD_UP,
        "button_id": "zone-3",
        "user_id": "staff-7",
        "occurred_at": _ago(2),
        "received_at": _ago(1),
    }
    return AlarmActivation(**(fields | overrides))


def incident_report(**overrides: Any) -> IncidentReport:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "reporting_org": "cbl",
        "branch": branch(),
        "incident_type": IncidentType.OVERVAL,
        "occurred_at": _ago(10),
        "offender_count": 2,
        "getaway": Getaway(
            mode=GetawayMode.SCOOTER,
            vehicle=Vehicle(
                kind=GetawayMode.SCOOTER, colour="zwart", plate_pseudonym=PLATE_PSEUDONYM
            ),
        ),
        "offenders": [PersonDescription(clothing=["zwarte jas"])],
    }
    return IncidentReport(**(fields | overrides))


def recon_sighting(**overrides: Any) -> ReconSighting:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "reporter_org": "ah",
        "branch": branch(),
        "observed_at": _ago(60),
        "behaviours": [ReconBehaviour.FILMS_CAMERAS],
    }
    return ReconSighting(**(fields | overrides))


def alert(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": uuid.uuid4(),
        "kind": AlertKind.ROBBERY_REPORTED,
        "severity": Severity.HIGH,
        "area": Area(center=DAM_SQUARE, radius_m=2000),
        "police_unit": PoliceUnit.AMSTERDAM,
        "vehicles": [Vehicle(kind=GetawayMode.CAR, plate_pseudonym=PLATE_PSEUDONYM)],
        "evidence": [EvidenceLink(event_id=uuid.uuid4(), event_type="incident_report")],
        "dedup_key": f"test:{uuid.uuid4()}",
        "created_at": _ago(0),
        "occurred_at": _ago(10),
    }
    return Alert(**(fields | overrides))


def alarm_task(**overrides: Any) -> AlarmTask:
    fields: dict[str, Any] = {
        "task_id": uuid.uuid4(),
        "kind": AlarmTaskKind.VERIFY,
        "alarm_centre": "pac-noord",
        "site_id": "site-1",
        "signal": AlarmSignal.HOLD_UP,
        "activation_ids": [uuid.uuid4()],
        "respond_within_s": 90,
        "dedup_key": f"verify:{uuid.uuid4()}",
        "created_at": _ago(0),
    }
    return AlarmTask(**(fields | overrides))
