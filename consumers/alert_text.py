"""User-facing alert text, Dutch by default and English selectable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from schemas.alerts import AlertKind, Severity
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
