"""User-facing alert text, Dutch by default and English selectable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from schemas.alerts import AlertKind, Outcome, Severity
from schemas.common import BranchType, PoliceUnit

if TYPE_CHECKING:
    from schemas.alerts import Alert

Language = Literal["nl", "en"]

KIND: dict[AlertKind, dict[Language, str]] = {
    AlertKind.HOLD_UP_IN_PROGRESS: {"nl": "Overval gaande", "en": "Hold-up in progress"},
    AlertKind.VERIFIED_ALARM: {"nl": "Geverifieerd overvalalarm", "en": "Verified hold-up alarm"},
    AlertKind.ROBBERY_REPORTED: {"nl": "Overval gemeld", "en": "Robbery reported"},
    AlertKind.SERIES: {"nl": "Overvalreeks", "en": "Robbery series"},
    AlertKind.HOTSPOT: {"nl": "Hotspot", "en": "Hotspot"},
    AlertKind.RECONNAISSANCE_WARNING: {
        "nl": "Waarschuwing voorverkenning",
        "en": "Reconnaissance warning",
    },
    AlertKind.MODUS_OPERANDI_BULLETIN: {"nl": "Nieuwe werkwijze", "en": "Modus operandi bulletin"},
}

SEVERITY: dict[Severity, dict[Language, str]] = {
    Severity.CRITICAL: {"nl": "ZEER URGENT", "en": "CRITICAL"},
    Severity.HIGH: {"nl": "urgent", "en": "high"},
    Severity.MEDIUM: {"nl": "middel", "en": "medium"},
    Severity.LOW: {"nl": "laag", "en": "low"},
    Severity.INFO: {"nl": "ter info", "en": "info"},
}

BRANCH_TYPE: dict[BranchType, dict[Language, str]] = {
    BranchType.SUPERMARKET: {"nl": "supermarkten", "en": "supermarkets"},
    BranchType.PETROL_STATION: {"nl": "tankstations", "en": "petrol stations"},
    BranchType.SNACK_BAR: {"nl": "snackbars", "en": "snack bars"},
    BranchType.ICE_CREAM_SHOP: {"nl": "ijssalons", "en": "ice-cream shops"},
    BranchType.DRUGSTORE: {"nl": "drogisterijen", "en": "drugstores"},
    BranchType.JEWELLER: {"nl": "juweliers", "en": "jewellers"},
    BranchType.TELECOM_SHOP: {"nl": "telecomwinkels", "en": "telecom shops"},
    BranchType.OPTICIAN: {"nl": "opticiens", "en": "opticians"},
    BranchType.PHARMACY: {"nl": "apotheken", "en": "pharmacies"},
    BranchType.TOBACCONIST: {"nl": "tabakszaken", "en": "tobacconists"},
    BranchType.HORECA: {"nl": "horeca", "en": "hospitality venues"},
    BranchType.BANK: {"nl": "banken", "en": "banks"},
    BranchType.TRANSPORT: {"nl": "transport", "en": "transport"},
    BranchType.MEAL_DELIVERY: {"nl": "maaltijdbezorgers", "en": "meal-delivery riders"},
    BranchType.HOME: {"nl": "woningen", "en": "homes"},
    BranchType.OTHER_RETAIL: {"nl": "overige winkels", "en": "other shops"},
}

OUTCOME: dict[Outcome, dict[Language, str]] = {
    Outcome.ARRESTED: {"nl": "Aangehouden", "en": "Arrested"},
    Outcome.OFFENDERS_GONE: {"nl": "Daders gevlucht", "en": "Offenders gone"},
    Outcome.FALSE_ALARM: {"nl": "Loos alarm", "en": "False alarm"},
    Outcome.HANDED_OVER: {"nl": "Overgedragen aan recherche", "en": "Handed over to detectives"},
    Outcome.NO_ACTION: {"nl": "Geen actie nodig", "en": "No action needed"},
}

UNIT: dict[PoliceUnit, str] = {
    PoliceUnit.NOORD_NEDERLAND: "Noord-Nederland",
    PoliceUnit.OOST_NEDERLAND: "Oost-Nederland",
    PoliceUnit.MIDDEN_NEDERLAND: "Midden-Nederland",
    PoliceUnit.NOORD_HOLLAND: "Noord-Holland",
    PoliceUnit.AMSTERDAM: "Amsterdam",
    PoliceUnit.DEN_HAAG: "Den Haag",
    PoliceUnit.ROTTERDAM: "Rotterdam",
    PoliceUnit.ZEELAND_WEST_BRABANT: "Zeeland-West-Brabant",
    PoliceUnit.OOST_BRABANT: "Oost-Brabant",
    PoliceUnit.LIMBURG: "Limburg",
}

_PHRASES: dict[str, dict[Language, str]] = {
    "unit": {"nl": "eenheid", "en": "unit"},
    "within": {"nl": "binnen", "en": "within"},
    "at_risk": {"nl": "let op", "en": "at risk"},
    "resolved": {"nl": "Afgehandeld", "en": "Resolved"},
    "outcome": {"nl": "uitkomst", "en": "outcome"},
    "escalated": {
        "nl": "GEËSCALEERD, {seconds} s niet bevestigd",
        "en": "ESCALATED, not acknowledged for {seconds} s",
    },
}


def summary(alert: Alert, language: Language = "nl") -> str:
    """One line for a list or a terminal: kind, urgency, unit, area and who should look out."""
    parts = [
        f"[{SEVERITY[alert.severity][language]}] {KIND[alert.kind][language]}",
        f"{_PHRASES['unit'][language]} {UNIT[alert.police_unit]}",
    ]
    center = alert.area.center
    if alert.area.radius_m is not None:
        parts.append(
            f"{_PHRASES['within'][language]} {alert.area.radius_m / 1000:.1f} km "
            f"({center.lat:.4f}, {center.lon:.4f})"
        )
    if alert.branch_types_at_risk:
        at_risk = ", ".join(BRANCH_TYPE[kind][language] for kind in alert.branch_types_at_risk)
        parts.append(f"{_PHRASES['at_risk'][language]}: {at_risk}")
    return " · ".join(parts)


def resolved_summary(
    kind: AlertKind,
    police_unit: PoliceUnit,
    outcome: Outcome | None,
    language: Language = "nl",
) -> str:
    """One line saying an alert is over and how: from the alert's columns, kept after a purge."""
    parts = [
        f"{_PHRASES['resolved'][language]}: {KIND[kind][language]}",
        f"{_PHRASES['unit'][language]} {UNIT[police_unit]}",
    ]
    if outcome is not None:
        parts.append(f"{_PHRASES['outcome'][language]}: {OUTCOME[outcome][language].lower()}")
    return " · ".join(parts)


def escalated_summary(alert: Alert, unacknowledged_s: float, language: Language = "nl") -> str:
    """The alert's own line, led by how long nobody acknowledged it."""
    lead = _PHRASES["escalated"][language].format(seconds=int(unacknowledged_s))
    return f"{lead}: {summary(alert, language)}"
