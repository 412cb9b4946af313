"""Routing: which recipients an alert reaches, in which role and through which channel."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from consumers.notify.route import (
    BranchSite,
    Directory,
    NearbyBranch,
    PoliceDesk,
    Route,
    SubscriptionRule,
    route,
)
from consumers.notify.windows import TimeWindow
from schemas.alerts import AlertKind, Area, RecipientRole, Severity
from schemas.common import BranchType, Location, PoliceUnit
from schemas.distance import metres_between
from tests import factories

DAM = factories.DAM_SQUARE
# 1.5 km east of the Dam (one degree of longitude is about 67.96 km at this latitude).
EAST_1500 = Location(lat=DAM.lat, lon=DAM.lon + 1500 / 67_960)
ROTTERDAM = Location(lat=51.9225, lon=4.4792)
GRONINGEN = Location(lat=53.2194, lon=6.5665)
HOOK_AH = "https://hooks.ah.example/heterdaad"
OPENING_HOURS = TimeWindow(
    weekdays=frozenset({1, 2, 3, 4, 5, 6}),
    starts=time(8),
    ends=time(22),
    alert_kinds=frozenset({AlertKind.RECONNAISSANCE_WARNING}),
)


def _site(branch_id: str, organisation_id: str, where: Location, **extra: Any) -> BranchSite:
    fields: dict[str, Any] = {"chain": None, "branch_type": BranchType.SUPERMARKET}
    fields |= extra
    return BranchSite(branch_id, organisation_id, lat=where.lat, lon=where.lon, **fields)


DIRECTORY = Directory(
    desks=(
        PoliceDesk("politie-ams", PoliceUnit.AMSTERDAM),
        PoliceDesk("politie-rdam", PoliceUnit.ROTTERDAM),
    ),
    subscriptions=(
        SubscriptionRule(
            1,
            "ah",
            "retailer",
            branch_types=frozenset({BranchType.SUPERMARKET}),
            radius_m=1000,
            webhook_url=HOOK_AH,
            language="en",
        ),
        SubscriptionRule(
            2,
            "cbl",
            "trade_association",
            branch_types=frozenset({BranchType.SUPERMARKET}),
            min_severity=Severity.HIGH,
            webhook_url="https://cbl.example/hook",
        ),
        SubscriptionRule(
            3,
            "jumbo",
            "retailer",
            chains=frozenset({"Jumbo City"}),
            radius_m=500,
            webhook_url="https://jumbo.example/hook",
        ),
        SubscriptionRule(
            4,
            "pac",
            "alarm_centre",
            alert_kinds=frozenset({AlertKind.VERIFIED_ALARM, AlertKind.HOLD_UP_IN_PROGRESS}),
            police_units=frozenset({PoliceUnit.AMSTERDAM}),
            webhook_url="https://pac.example/h",
        ),
        SubscriptionRule(5, "politie-nl", "police", alert_kinds=frozenset({AlertKind.SERIES})),
        SubscriptionRule(6, "beheer", "admin", webhook_url="https://beheer.example/h"),
        SubscriptionRule(
            7,
            "ah",
            "retailer",
            alert_kinds=frozenset({AlertKind.RECONNAISSANCE_WARNING}),
            radius_m=3000,
            webhook_url=HOOK_AH,
            windows=(OPENING_HOURS,),
        ),
    ),
    branches={
        "ah": (_site("ah-1", "ah", DAM), _site("ah-2", "ah", ROTTERDAM)),
        "jumbo": (
            _site("jumbo-1", "jumbo", EAST_1500, chain="Jumbo City"),
            _site("jumbo-2", "jumbo", DAM, chain="Jumbo Foodmarkt"),
        ),
        # A trade association counts from its members' branches (consumers/notify/directory),
        # an alarm centre from the branches of its alarm sites.
        "cbl": (_site("ah-1", "ah", DAM), _site("ah-2", "ah", ROTTERDAM)),
        "pac": (_site("goud-1", "goud", DAM, branch_type=BranchType.JEWELLER),),
    },
)

SUPERMARKETS = [BranchType.SUPERMARKET]


def _alert(**overrides: Any) -> Any:
    """An alert in a small circle at the Dam, unless the case says otherwise."""
    return factories.alert(**({"area": Area(center=DAM, radius_m=100)} | overrides))


def _reached(routes: list[Route]) -> set[tuple[str, str, RecipientRole]]:
    return {(r.organisation_id, r.channel, r.role) for r in routes}


AMS_DESK = ("politie-ams", "desk", RecipientRole.POLICE)
AH_BRANCH = ("ah", "webhook", RecipientRole.BRANCH)
CBL = ("cbl", "webhook", RecipientRole.TRADE_ASSOCIATION)


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        # A robbery at the Dam: the unit's desk, AH for its branch there, the CBL for its
        # member's (within notify.retail_max_radius_m, as it gave no radius).
        (_alert(branch_types_at_risk=SUPERMARKETS), {AMS_DESK, AH_BRANCH, CBL}),
        # Low severity: below the CBL's minimum, still for AH (minimum info).
        (
            _alert(branch_types_at_risk=SUPERMARKETS, severity=Severity.LOW),
            {AMS_DESK, AH_BRANCH},
        ),
        # In Rotterdam: that unit's desk, AH for its Rotterdam branch, the CBL.
        (
            _alert(
                branch_types_at_risk=SUPERMARKETS,
                police_unit=PoliceUnit.ROTTERDAM,
                area=Area(center=ROTTERDAM, radius_m=500),
            ),
            {("politie-rdam", "desk", RecipientRole.POLICE), AH_BRANCH, CBL},
        ),
        # Jewellers at risk: supermarket subscriptions do not want it.
        (_alert(branch_types_at_risk=[BranchType.JEWELLER]), {AMS_DESK}),
        # No branch type named: everyone near is at risk.
        (_alert(), {AMS_DESK, AH_BRANCH, CBL}),
        # The alert's circle reaches to 200 m of the Jumbo City branch: within its 500 m.
        (
            _alert(area=Area(center=DAM, radius_m=1300)),
            {AMS_DESK, AH_BRANCH, CBL, ("jumbo", "webhook", RecipientRole.BRANCH)},
        ),
        # A small circle: Jumbo City is 1.4 km beyond it, and Jumbo's Dam branch is of another
        # chain.
        (_alert(), {AMS_DESK, AH_BRANCH, CBL}),
        # A series: the national coordinator's subscription adds its desk.
        (
            _alert(kind=AlertKind.SERIES, branch_types_at_risk=[BranchType.JEWELLER]),
            {AMS_DESK, ("politie-nl", "desk", RecipientRole.POLICE)},
        ),
        # A hold-up at a jeweller: the alarm centre of the unit.
        (
            _alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, branch_types_at_risk=[BranchType.JEWELLER]),
            {AMS_DESK, ("pac", "webhook", RecipientRole.ALARM_CENTRE)},
        ),
        # In Groningen, 150 km from every branch of AH and of the CBL's members: only the
        # desk. The CBL has no radius and heard of it nationwide before need to know.
        (
            _alert(branch_types_at_risk=SUPERMARKETS, area=Area(center=GRONINGEN, radius_m=500)),
            {AMS_DESK},
        ),
        # A hold-up at a jeweller in Groningen: not one of the alarm centre's sites' branches
        # (it asked for its unit, and the alert's unit is Amsterdam: the unit alone no longer
        # lets it through).
        (
            _alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, branch_types_at_risk=[BranchType.JEWELLER],
                   area=Area(center=GRONINGEN, radius_m=100)),
            {AMS_DESK},
        ),
    ],
)
def test_recipients(alert: Any, expected: set[tuple[str, str, RecipientRole]]) -> None:
    assert _reached(route(alert, DIRECTORY, default_language="nl")) == expected


WANTS_HISTORY = Directory(
    desks=DIRECTORY.desks,
    subscriptions=(
        DIRECTORY.subscriptions[1],  # the CBL: no history
        SubscriptionRule(8, "politie-nl", "police", webhook_url="https://politie.example/h",
                         include_historical=True),  # analysts want history too
        SubscriptionRule(9, "ah", "retailer", webhook_url=HOOK_AH),  # live only
        SubscriptionRule(10, "politie-rdam", "police", police_units=frozenset(
            {PoliceUnit.AMSTERDAM}), webhook_url="https://rdam.example/h"),  # live only
    ),
    branches=DIRECTORY.branches,
)
POLITIE_NL = {("politie-nl", "desk", RecipientRole.POLICE),
              ("politie-nl", "webhook", RecipientRole.POLICE)}  # fmt: skip
RDAM = {("politie-rdam", "desk", RecipientRole.POLICE),
        ("politie-rdam", "webhook", RecipientRole.POLICE)}  # fmt: skip


@pytest.mark.parametrize(
    ("historical", "expected"),
    [
        # Live: every webhook that wants it.
        (False, {AMS_DESK, CBL, AH_BRANCH} | POLITIE_NL | RDAM),
        # History: the unit's desk (its history view), police desks a subscription adds, and
        # only the webhooks that asked for historical alerts.
        (True, {AMS_DESK, ("politie-rdam", "desk", RecipientRole.POLICE)} | POLITIE_NL),
    ],
)
def test_historical_alerts_reach_webhooks_only_when_asked(
    historical: bool, expected: set[tuple[str, str, RecipientRole]]
) -> None:
    alert = _alert(branch_types_at_risk=SUPERMARKETS, historical=historical)
    assert _reached(route(alert, WANTS_HISTORY, default_language="nl")) == expected


def test_two_subscriptions_with_one_webhook_make_one_recipient() -> None:
    alert = factories.alert(kind=AlertKind.RECONNAISSANCE_WARNING)
    [ah] = [r for r in route(alert, DIRECTORY, default_language="nl") if r.organisation_id == "ah"]
    assert ah.subscription_ids == (1, 7)
    # Subscription 1 has no window for this kind, so nothing holds the warning back.
    assert ah.windows is None
    assert ah.nearby == (NearbyBranch("ah-1", 0),)
    assert ah.language == "en"


def test_windows_of_the_only_subscription_apply() -> None:
    only_recon = Directory(subscriptions=(DIRECTORY.subscriptions[6],), branches=DIRECTORY.branches)
    alert = factories.alert(kind=AlertKind.RECONNAISSANCE_WARNING)
    [ah] = route(alert, only_recon, default_language="nl")
    assert ah.windows == (OPENING_HOURS,)
    assert ah.role is RecipientRole.BRANCH


@pytest.mark.parametrize("role", ["retailer", "trade_association", "alarm_centre"])
@pytest.mark.parametrize("radius_m", [None, 50_000])
def test_a_subscription_counts_at_most_the_cap_from_its_branches(
    role: str, radius_m: float | None
) -> None:
    """Need to know, when routing: a row without radius_m (stored before the cap) or with one
    beyond it (by hand) hears only of alerts within notify.retail_max_radius_m of a branch it
    answers for. The police, whose rules are their own, still hear of it nationwide."""
    hook = "https://hooks.example/h"
    directory = Directory(
        subscriptions=(
            SubscriptionRule(1, "org", role, radius_m=radius_m, webhook_url=hook),
            SubscriptionRule(2, "politie-nl", "police", webhook_url="https://politie.example/h"),
        ),
        branches={"org": (_site("org-1", "owner", DAM),)},
        retail_max_radius_m=25_000,
    )
    # Rotterdam is 57 km from the Dam, Haarlem about 19 km, Groningen 150 km.
    haarlem = Location(lat=52.3874, lon=4.6462)
    for where, reached in ((ROTTERDAM, False), (GRONINGEN, False), (haarlem, True), (DAM, True)):
        alert = _alert(area=Area(center=where, radius_m=100))
        names = {r.organisation_id for r in route(alert, directory, default_language="nl")}
        assert ("org" in names) is reached, (where, names)
        assert "politie-nl" in names
    # Without a branch it answers for, nothing reaches it.
    bare = Directory(subscriptions=directory.subscriptions, retail_max_radius_m=25_000)
    assert all(r.organisation_id != "org"
               for r in route(_alert(), bare, default_language="nl"))  # fmt: skip


def test_recipients_are_stable_names() -> None:
    routes = route(_alert(), DIRECTORY, default_language="nl")
    names = [r.recipient for r in routes]
    assert names == sorted(names)
    assert "politie-ams/desk" in names
    assert all(
        name.startswith(("politie-ams/desk", "ah/webhook/", "cbl/webhook/")) for name in names
    )
    assert route(_alert(), DIRECTORY, default_language="nl") == routes


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        # The same point.
        (DAM, DAM, 0),
        # 1.5 km east, by construction.
        (DAM, EAST_1500, 1500),
        # Amsterdam to Rotterdam, about 57 km.
        (DAM, ROTTERDAM, 57_300),
    ],
)
def test_distance(a: Location, b: Location, metres: float) -> None:
    expected = pytest.approx(metres, abs=metres * 0.01 + 1)
    assert metres_between(a.lat, a.lon, b.lat, b.lon) == expected
