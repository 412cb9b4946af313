"""Neighbourhood watch groups (buurtpreventie): which alerts, within which area, in which words.

A watch is told that something happened in its neighbourhood and when, so its members keep
their eyes open; never who, which shop or which car (docs/neighbourhood-watch.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumers.alert_text import local_time
from schemas.alerts import AlertKind, coarse_area
from schemas.distance import metres_between

if TYPE_CHECKING:
    from consumers.notify.subscriptions import SubscriptionSpec
    from heterdaad.language import Language
    from schemas.alerts import Alert

WATCH_ROLE = "neighbourhood_watch"

# Reconnaissance seen nearby and a robbery nearby are what a watch can act on (eyes and ears in
# the street, seed §7.5 f); a hotspot says the neighbourhood is hit more often. A hold-up in
# progress is not for citizens: they must not go there.
WATCH_KINDS: frozenset[AlertKind] = frozenset(
    {AlertKind.RECONNAISSANCE_WARNING, AlertKind.ROBBERY_REPORTED, AlertKind.HOTSPOT}
)

_WORDS: dict[AlertKind, dict[Language, str]] = {
    AlertKind.RECONNAISSANCE_WARNING: {
        "nl": "Verdachte verkenning gezien in uw buurt",
        "en": "Suspected reconnaissance seen in your neighbourhood",
    },
    AlertKind.ROBBERY_REPORTED: {
        "nl": "Overval gepleegd in uw buurt",
        "en": "Robbery committed in your neighbourhood",
    },
    AlertKind.HOTSPOT: {
        "nl": "Uw buurt is een hotspot van overvallen",
        "en": "Your neighbourhood is a robbery hotspot",
    },
}
_ASK: dict[Language, str] = {
    "nl": "houd ogen en oren open, ga niet zelf op onderzoek uit; bel 112 bij heterdaad",
    "en": "keep your eyes and ears open, do not investigate yourself; call 112 if you see "
    "a crime in progress",
}
_WHEN: dict[Language, str] = {"nl": "gebeurd", "en": "happened"}
_WITHIN: dict[Language, str] = {"nl": "binnen", "en": "within"}


def watch_refusal(spec: SubscriptionSpec, role: str, max_radius_m: float) -> str | None:
    """Why a subscription of an organisation with this role is refused, as to its area."""
    if role != WATCH_ROLE:
        if spec.area_center is not None:
            return "area_center is for neighbourhood watch groups: others count from branches"
        return None
    if spec.area_center is None or spec.radius_m is None:
        return "a neighbourhood watch must give its area: area_center and radius_m"
    if spec.radius_m > max_radius_m:
        return f"radius_m may be at most {max_radius_m:.0f} m for a neighbourhood watch"
    if not spec.alert_kinds <= WATCH_KINDS:
        allowed = ", ".join(sorted(WATCH_KINDS))
        return f"a neighbourhood watch may subscribe to these alert_kinds only: {allowed}"
    if spec.branch_types or spec.chains:
        return "a neighbourhood watch has no branches: no branch_types or chains"
    if spec.include_historical:
        return "a neighbourhood watch hears only what happens now: no include_historical"
    return None


def within_area(alert: Alert, center: tuple[float, float], radius_m: float) -> bool:
    """The alert's circle touches the watch's circle (an area of cells: its centre does)."""
    metres = metres_between(alert.area.center.lat, alert.area.center.lon, *center)
    return metres - (alert.area.radius_m or 0.0) <= radius_m


def wants(alert: Alert, kinds: frozenset[AlertKind]) -> bool:
    """A watch takes only its kinds, and only what happens now, whatever its row says."""
    return alert.kind in WATCH_KINDS and (not kinds or alert.kind in kinds) and not alert.historical


def watch_summary(alert: Alert, language: Language) -> str:
    """The one line a watch reads: what, roughly where, when, and what to do (no unit, no
    coordinates beyond the view's coarse ones, no branch types, no grounds)."""
    area = coarse_area(alert.area)
    radius_km = f"{area.radius_m / 1000:.1f}".replace(".", "," if language == "nl" else ".")
    happened = alert.occurred_at or alert.created_at
    return (
        f"{_WORDS[alert.kind][language]} · {_WITHIN[language]} {radius_km} km · "
        f"{_WHEN[language]} {local_time(happened, language)} · {_ASK[language]}"
    )
