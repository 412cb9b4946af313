"""The single contract: pydantic models, topic catalogue and wire codec shared by every part."""

from schemas.alerts import (
    Alert,
    AlertKind,
    AlertView,
    Area,
    BranchAlertView,
    EvidenceLink,
    PoliceAlertView,
    Recipient,
    RecipientRole,
    Severity,
    WatchAlertView,
)
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import (
    AlarmActivation,
    AlarmSignal,
    AuditEvent,
    IncidentReport,
    IncidentType,
    ReconSighting,
)
from schemas.pseudonym import PlatePseudonym, pseudonymise_plate
from schemas.tasks import AlarmTask, AlarmTaskKind

__all__ = [
    "AlarmActivation",
    "AlarmSignal",
    "AlarmTask",
    "AlarmTaskKind",
    "Alert",
    "AlertKind",
    "AlertView",
    "Area",
    "AuditEvent",
    "BranchAlertView",
    "BranchType",
    "EvidenceLink",
    "IncidentReport",
    "IncidentType",
    "Location",
    "PlatePseudonym",
    "PoliceAlertView",
    "PoliceUnit",
    "Recipient",
    "RecipientRole",
    "ReconSighting",
    "Severity",
    "WatchAlertView",
    "pseudonymise_plate",
]
