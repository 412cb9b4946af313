"""The kinds of event the intake takes: edge model, topic, key scope and the roles that post it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from heterdaad.auth import (
    ALERTS_READ,
    CAMERA_ROLES,
    CAMERAS_WRITE,
    EVENTS_READ,
    MAINTENANCE_ROLES,
    MAINTENANCE_WRITE,
    RECEIVE_ONLY_ROLES,
    SUBSCRIBER_ROLES,
    SUBSCRIPTIONS_WRITE,
)
from producers.api.edge import IncidentReportIn, PlateKey, ReconSightingIn
from schemas.common import Contract
from schemas.events import AlarmActivation
from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS, TopicSpec


@dataclass(frozen=True)
class EventKind:
    """One kind of reported event and what the intake needs to know to take it in."""

    name: str  # as in the event table's event_type
    path: str  # URL segment under /v1
    title: str  # for people: answers, audit, OpenAPI
    edge_model: type[Contract]
    spec: TopicSpec
    scope: str
    roles: frozenset[str]
    to_contract: Callable[[Contract, PlateKey], Contract]


def _alarm_activation(edge: Contract, plate_key: PlateKey) -> Contract:
    # Alarm activations carry no vehicles: the edge model is the contract itself, except for
    # a plate typed into its free text.
    return plate_key.free_text(edge)


def _incident_report(edge: Contract, plate_key: PlateKey) -> Contract:
    assert isinstance(edge, IncidentReportIn)
    return edge.pseudonymised(plate_key)


def _recon_sighting(edge: Contract, plate_key: PlateKey) -> Contract:
    assert isinstance(edge, ReconSightingIn)
    return edge.pseudonymised(plate_key)


ALARM_ACTIVATION = EventKind(
    name="alarm_activation",
    path="alarm-activations",
    title="alarm activations",
    edge_model=AlarmActivation,
    spec=ALARM_ACTIVATIONS,
    scope="alarm-activations:write",
    roles=frozenset({"alarm_centre"}),
    to_contract=_alarm_activation,
)
INCIDENT_REPORT = EventKind(
    name="incident_report",
    path="incident-reports",
    title="incident reports",
    edge_model=IncidentReportIn,
    spec=INCIDENT_REPORTS,
    scope="incident-reports:write",
    roles=frozenset({"retailer", "trade_association"}),
    to_contract=_incident_report,
)
RECON_SIGHTING = EventKind(
    name="recon_sighting",
    path="recon-sightings",
    title="reconnaissance sightings",
    edge_model=ReconSightingIn,
    spec=RECON_SIGHTINGS,
    scope="recon-sightings:write",
    roles=frozenset({"retailer", "trade_association"}),
    to_contract=_recon_sighting,
)

KINDS: tuple[EventKind, ...] = (ALARM_ACTIVATION, INCIDENT_REPORT, RECON_SIGHTING)


def default_scopes(role: str) -> list[str]:
    """The scopes a new key of an organisation with this role gets unless told otherwise."""
    scopes = [kind.scope for kind in KINDS if role in kind.roles]
    if role not in RECEIVE_ONLY_ROLES:
        scopes.append(EVENTS_READ)
    if role in ("police", "admin"):
        scopes.append(ALERTS_READ)
    if role in CAMERA_ROLES:
        scopes.append(CAMERAS_WRITE)
    return scopes


def allowed_scopes(role: str) -> set[str]:
    """Scopes a key of this role may ever hold: a key never widens what its role allows."""
    opt_in = {SUBSCRIPTIONS_WRITE} if role in SUBSCRIBER_ROLES else set()
    if role in MAINTENANCE_ROLES:
        opt_in.add(MAINTENANCE_WRITE)
    return set(default_scopes(role)) | opt_in
