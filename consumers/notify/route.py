"""The route tree: which recipients an alert goes to, from police units and subscriptions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from consumers.notify import watch
from heterdaad.thresholds.notify import NotifyThresholds
from schemas.alerts import AlertKind, RecipientRole, Severity
from schemas.common import Location
from schemas.distance import metres_between
from schemas.geography import police_unit_for

if TYPE_CHECKING:
    from collections.abc import Mapping

    from consumers.notify.windows import TimeWindow
    from heterdaad.language import Language
    from schemas.alerts import Alert
    from schemas.common import BranchType, PoliceUnit

Channel = Literal["desk", "webhook"]

# Roles that hear of an alert only near branches they answer for (need to know: AVG, Wet
# politiegegevens): a retailer its own, a trade association also its member organisations',
# an alarm centre those of its alarm sites (consumers/notify/directory). Their radius is at
# most notify.retail_max_radius_m, and a subscription without one counts as having that.
BRANCH_ROLES = frozenset({"retailer", "trade_association", "alarm_centre"})


@dataclass(frozen=True)
class PoliceDesk:
    """A police organisation whose desk gets every alert of its unit."""

    organisation_id: str
    police_unit: PoliceUnit


@dataclass(frozen=True)
class BranchSite:
    """A registered branch, as far as routing needs it."""

    branch_id: str
    organisation_id: str
    chain: str | None
    branch_type: BranchType
    lat: float
    lon: float


@dataclass(frozen=True)
class SubscriptionRule:
    """One subscription: an empty set means "any"; no radius means "anywhere"."""

    subscription_id: int
    organisation_id: str
    organisation_role: str
    alert_kinds: frozenset[AlertKind] = frozenset()
    branch_types: frozenset[BranchType] = frozenset()
    chains: frozenset[str] = frozenset()
    police_units: frozenset[PoliceUnit] = frozenset()
    radius_m: float | None = None
    min_severity: Severity = Severity.INFO
    webhook_url: str | None = None
    language: Language = "nl"
    windows: tuple[TimeWindow, ...] = ()
    send_alerts: bool = True
    # Police webhooks only: also told when a hold-up it wants is escalated on the desk.
    send_escalations: bool = False
    # Webhooks: also historical alerts (docs/time.md); a desk always has its history view.
    include_historical: bool = False
    # Neighbourhood watch groups: the centre of their area (radius_m is its radius).
    area_center: tuple[float, float] | None = None


@dataclass(frozen=True)
class Directory:
    """Everything routing reads from the database, loaded at once (consumers/notify/directory)."""

    desks: tuple[PoliceDesk, ...] = ()
    subscriptions: tuple[SubscriptionRule, ...] = ()
    # By subscribing organisation: the branches its radius counts from (BRANCH_ROLES).
    branches: Mapping[str, tuple[BranchSite, ...]] = field(default_factory=dict)
    # notify.retail_max_radius_m, applied to every rule of BRANCH_ROLES when routing.
    retail_max_radius_m: float = field(
        default_factory=lambda: NotifyThresholds().retail_max_radius_m
    )


@dataclass(frozen=True)
class NearbyBranch:
    """One of the recipient's own branches near the alert: what makes it concern them."""

    branch_id: str
    distance_m: float


@dataclass(frozen=True)
class Route:
    """One recipient of an alert: who, through which channel, in which language and view."""

    recipient: str
    organisation_id: str
    role: RecipientRole
    channel: Channel
    language: Language
    webhook_url: str | None = None
    # None: no time window holds this alert back; else the windows of its subscriptions.
    windows: tuple[TimeWindow, ...] | None = None
    nearby: tuple[NearbyBranch, ...] = ()
    subscription_ids: tuple[int, ...] = ()


def desk_recipient(organisation_id: str) -> str:
    return f"{organisation_id}/desk"


def webhook_recipient(organisation_id: str, webhook_url: str) -> str:
    # One recipient per endpoint: two subscriptions of an organisation with the same URL must
    # not notify it twice, and '/' cannot occur in an organisation id.
    digest = hashlib.sha256(webhook_url.encode()).hexdigest()[:12]
    return f"{organisation_id}/webhook/{digest}"


def nearby_branches(
    alert: Alert, rule: SubscriptionRule, branches: tuple[BranchSite, ...], radius_m: float
) -> tuple[NearbyBranch, ...]:
    """The rule's branches within `radius_m` of the alert's area, nearest first.

    The radius counts from the edge of the alert's circle; an area of grid cells only counts
    from its centre (the cells are not resolved here).
    """
    center, alert_radius = alert.area.center, alert.area.radius_m or 0.0
    at_risk = set(alert.branch_types_at_risk)
    # A bulletin's area is its police unit (the desk sends it to its own, docs/desk.md): the
    # branches in that unit, however far from its centre, and none beyond its border.
    unit_wide = alert.kind is AlertKind.MODUS_OPERANDI_BULLETIN
    found = []
    for site in branches:
        if rule.chains and site.chain not in rule.chains:
            continue
        if rule.branch_types and site.branch_type not in rule.branch_types:
            continue
        # A branch of a type that is not at risk need not look out.
        if at_risk and site.branch_type not in at_risk:
            continue
        metres = metres_between(center.lat, center.lon, site.lat, site.lon)
        if unit_wide:
            if _unit_of(site) is alert.police_unit:
                found.append(NearbyBranch(site.branch_id, round(metres)))
        elif metres - alert_radius <= radius_m:
            found.append(NearbyBranch(site.branch_id, round(metres)))
    return tuple(sorted(found, key=lambda near: (near.distance_m, near.branch_id)))


def _unit_of(site: BranchSite) -> PoliceUnit | None:
    """The police unit a branch lies in; None for a point the contract's box refuses."""
    try:
        return police_unit_for(Location(lat=site.lat, lon=site.lon))
    except ValueError:
        return None


def matches(
    alert: Alert,
    rule: SubscriptionRule,
    branches: tuple[BranchSite, ...],
    *,
    retail_max_radius_m: float,
) -> tuple[NearbyBranch, ...] | None:
    """None when the subscription does not want the alert; else its branches near it.

    A rule of BRANCH_ROLES counts at most `retail_max_radius_m` from its branches, whatever its
    row says: a row stored without a radius, or with a larger one (before the cap, or by hand),
    does not hear of alerts far from every branch it answers for."""
    if rule.organisation_role == watch.WATCH_ROLE:
        return _watch_matches(alert, rule)
    if rule.alert_kinds and alert.kind not in rule.alert_kinds:
        return None
    if alert.severity.rank > rule.min_severity.rank:
        return None
    if rule.police_units and alert.police_unit not in rule.police_units:
        return None
    if (
        rule.branch_types
        and alert.branch_types_at_risk
        and not rule.branch_types.intersection(alert.branch_types_at_risk)
    ):
        return None
    radius_m = rule.radius_m
    if rule.organisation_role in BRANCH_ROLES:
        radius_m = min(radius_m or retail_max_radius_m, retail_max_radius_m)
    if radius_m is None:
        return ()
    return nearby_branches(alert, rule, branches, radius_m) or None


def _watch_matches(alert: Alert, rule: SubscriptionRule) -> tuple[NearbyBranch, ...] | None:
    # Checked again here, not only when subscribing: a row changed by hand is not trusted.
    if rule.area_center is None or rule.radius_m is None:
        return None
    if not watch.wants(alert, rule.alert_kinds):
        return None
    if alert.severity.rank > rule.min_severity.rank:
        return None
    if rule.police_units and alert.police_unit not in rule.police_units:
        return None
    return () if watch.within_area(alert, rule.area_center, rule.radius_m) else None


_ROLES: dict[str, RecipientRole] = {
    "police": RecipientRole.POLICE,
    "retailer": RecipientRole.CHAIN,
    "trade_association": RecipientRole.TRADE_ASSOCIATION,
    "alarm_centre": RecipientRole.ALARM_CENTRE,
    watch.WATCH_ROLE: RecipientRole.NEIGHBOURHOOD_WATCH,
}


def route(alert: Alert, directory: Directory, *, default_language: Language) -> list[Route]:
    """Every recipient of the alert, once each, in a stable order."""
    routes: dict[str, Route] = {}
    for desk in directory.desks:
        if desk.police_unit == alert.police_unit:
            recipient = desk_recipient(desk.organisation_id)
            routes[recipient] = Route(
                recipient, desk.organisation_id, RecipientRole.POLICE, "desk", default_language
            )
    for rule in sorted(directory.subscriptions, key=lambda rule: rule.subscription_id):
        role = _ROLES.get(rule.organisation_role)
        if role is None or not rule.send_alerts:  # admin organisations receive nothing
            continue
        nearby = matches(
            alert, rule, directory.branches.get(rule.organisation_id, ()),
            retail_max_radius_m=directory.retail_max_radius_m,
        )  # fmt: skip
        if nearby is None:
            continue
        for candidate in _routes_of(alert, rule, role, nearby, default_language):
            known = routes.get(candidate.recipient)
            routes[candidate.recipient] = candidate if known is None else _merge(known, candidate)
    return sorted(routes.values(), key=lambda route: route.recipient)


def escalation_routes(alert: Alert, directory: Directory) -> list[Route]:
    """Who hears that the desk escalated this alert: the escalation receivers that want it.

    An escalation receiver is a police subscription with `send_escalations` and a webhook (a
    duty officer's phone, the national coordinator); it wants the escalation of an alert its
    filters (kinds, severity, units, branch types, radius) let through, whether or not it
    wants the alerts themselves. It is sent to the webhook only, as the police view, at once:
    no time window holds back an escalation. The desk shows escalations itself.
    """
    routes: dict[str, Route] = {}
    for rule in sorted(directory.subscriptions, key=lambda rule: rule.subscription_id):
        if not rule.send_escalations or rule.webhook_url is None:
            continue
        if _ROLES.get(rule.organisation_role) is not RecipientRole.POLICE:
            continue  # refused when subscribing; a row changed by hand is not trusted either
        nearby = matches(
            alert, rule, directory.branches.get(rule.organisation_id, ()),
            retail_max_radius_m=directory.retail_max_radius_m,
        )  # fmt: skip
        if nearby is None:
            continue
        candidate = Route(
            webhook_recipient(rule.organisation_id, rule.webhook_url), rule.organisation_id,
            RecipientRole.POLICE, "webhook", rule.language, webhook_url=rule.webhook_url,
            nearby=nearby, subscription_ids=(rule.subscription_id,),
        )  # fmt: skip
        known = routes.get(candidate.recipient)
        routes[candidate.recipient] = candidate if known is None else _merge(known, candidate)
    return sorted(routes.values(), key=lambda route: route.recipient)


def _routes_of(
    alert: Alert,
    rule: SubscriptionRule,
    role: RecipientRole,
    nearby: tuple[NearbyBranch, ...],
    default_language: Language,
) -> list[Route]:
    if role is RecipientRole.CHAIN and nearby:
        role = RecipientRole.BRANCH  # it concerns their branch, not the chain at large
    found = []
    if role is RecipientRole.POLICE:
        # A police subscription (another unit, the national coordinator) adds to its desk.
        found.append(
            Route(
                desk_recipient(rule.organisation_id),
                rule.organisation_id,
                role,
                "desk",
                default_language,
                subscription_ids=(rule.subscription_id,),
            )
        )
    if rule.webhook_url is not None and (not alert.historical or rule.include_historical):
        applicable = tuple(window for window in rule.windows if window.applies_to(alert.kind))
        found.append(
            Route(
                webhook_recipient(rule.organisation_id, rule.webhook_url),
                rule.organisation_id,
                role,
                "webhook",
                rule.language,
                webhook_url=rule.webhook_url,
                windows=applicable or None,
                nearby=nearby,
                subscription_ids=(rule.subscription_id,),
            )
        )
    return found


def _merge(known: Route, other: Route) -> Route:
    """Two subscriptions reach the same recipient: one notification, the widest of both."""
    windows = (
        None if known.windows is None or other.windows is None else known.windows + other.windows
    )
    nearby = {near.branch_id: near for near in known.nearby + other.nearby}
    role = RecipientRole.BRANCH if RecipientRole.BRANCH in (known.role, other.role) else known.role
    return Route(
        known.recipient, known.organisation_id, role, known.channel, known.language,
        webhook_url=known.webhook_url, windows=windows,
        nearby=tuple(sorted(nearby.values(), key=lambda near: (near.distance_m, near.branch_id))),
        subscription_ids=known.subscription_ids + other.subscription_ids,
    )  # fmt: skip
