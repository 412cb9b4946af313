"""Who may do what: every role against every endpoint, data isolation, alert views, desk units.

The endpoint list comes from the app's own routes, so a new endpoint fails the test until its
row of the matrix says who may use it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from assembly.api import create_app
from consumers.desk import add_user
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription, list_subscriptions
from consumers.sink import store
from heterdaad.auth import (
    ALERTS_READ,
    CAMERAS_WRITE,
    EVENTS_READ,
    MAINTENANCE_WRITE,
    SUBSCRIPTIONS_WRITE,
)
from heterdaad.camera_registry import CameraSpec, add_camera
from heterdaad.notation import DUTCH_TIME
from heterdaad.settings import Settings
from producers.api import ApiLimits, admin
from producers.api.form import COOKIE, LOGIN_COOKIE
from producers.api.kinds import allowed_scopes
from schemas.alerts import Alert, RecipientRole, alert_reference, alert_reference_id
from schemas.common import Branch, BranchType, Location, PoliceUnit
from schemas.events import PersonDescription
from schemas.geography import police_unit_for
from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS
from tests import factories
from tests.consumers.test_desk import PASSWORD, csrf_token, logged_in, served_desk
from tests.kafka_helpers import read_topic
from tests.producers import bodies
from tests.producers.intake_support import published_count, register, running_api

if TYPE_CHECKING:
    import asyncpg
    from fastapi import FastAPI

# Rate limits out of the way: the matrix posts more than any organisation may in a second.
LIMITS = ApiLimits(events_per_second=1_000_000, event_burst=1_000_000)
ROTTERDAM = Location(lat=51.9225, lon=4.4792)
# A neighbourhood watch subscribes to an area of its own (docs/neighbourhood-watch.md).
WATCH_AREA = {"area_center": {"lat": 52.3752, "lon": 4.8840}, "radius_m": 1500}


class Who(StrEnum):
    """Who calls: an organisation of each role, or someone without a valid key."""

    ALARM_CENTRE = "alarm_centre"
    RETAILER = "retailer"
    TRADE_ASSOCIATION = "trade_association"
    POLICE = "police"
    ADMIN = "admin"
    NO_KEY = "no key"
    REVOKED = "revoked key"
    NEIGHBOURHOOD_WATCH = "neighbourhood_watch"


# The organisation behind each caller, in the registry of intake_support.register (plus an
# admin); a revoked key was retail-a's, so it asks for what retail-a may do.
ORGANISATION = {
    Who.ALARM_CENTRE: "pac-1",
    Who.RETAILER: "retail-a",
    Who.TRADE_ASSOCIATION: "cbl",
    Who.POLICE: "politie-ams",
    Who.ADMIN: "beheer",
    Who.NO_KEY: "retail-a",
    Who.REVOKED: "retail-a",
    Who.NEIGHBOURHOOD_WATCH: "buurt-1",
}

AC, RE, TA, PO, AD, NK, RK, NW = Who
EVERYONE_200 = dict.fromkeys(Who, 200)


def _cells(
    ac: int, re: int, ta: int, po: int, ad: int, nk: int, rk: int, nw: int
) -> dict[Who, int]:
    return dict(zip(Who, (ac, re, ta, po, ad, nk, rk, nw), strict=True))


# Expected status of each endpoint for each caller, in the order of Who:
# alarm centre, retailer, trade association, police, admin, no key, revoked key, neighbourhood
# watch (it posts nothing and reads no history: it only receives coarse warnings).
MATRIX: dict[tuple[str, str], dict[Who, int]] = {
    # The spec and its pages are public: they describe the contract, no data.
    ("GET", "/openapi.json"): EVERYONE_200,
    ("GET", "/docs"): EVERYONE_200,
    ("GET", "/docs/oauth2-redirect"): EVERYONE_200,
    ("GET", "/redoc"): EVERYONE_200,
    # Whether the database and broker answer: for load balancers, no data.
    ("GET", "/health"): EVERYONE_200,
    ("GET", "/healthz"): EVERYONE_200,
    # Counters with bounded labels (no ids, no names): for Prometheus, no data.
    ("GET", "/metrics"): EVERYONE_200,
    # No worker runs in this test: the alarm path does not consume, and /readyz says so.
    ("GET", "/readyz"): dict.fromkeys(Who, 503),
    # Alarm activations only from alarm centres, for their own sites.
    ("POST", "/v1/alarm-activations"): _cells(202, 403, 403, 403, 403, 401, 401, 403),
    ("POST", "/v1/alarm-activations/batch"): _cells(207, 403, 403, 403, 403, 401, 401, 403),
    # Incident reports from retailers (own branches) and the CBL (members' branches).
    ("POST", "/v1/incident-reports"): _cells(403, 202, 202, 403, 403, 401, 401, 403),
    ("POST", "/v1/incident-reports/batch"): _cells(403, 207, 207, 403, 403, 401, 401, 403),
    # Sightings the same way.
    ("POST", "/v1/recon-sightings"): _cells(403, 202, 202, 403, 403, 401, 401, 403),
    ("POST", "/v1/recon-sightings/batch"): _cells(403, 207, 207, 403, 403, 401, 401, 403),
    # Event history for every organisation with a key, each its own part (see below).
    ("GET", "/v1/history/events"): _cells(200, 200, 200, 200, 200, 401, 401, 403),
    # Alert history is police information.
    ("GET", "/v1/history/alerts"): _cells(403, 403, 403, 200, 200, 401, 401, 403),
    # The sighting form's login page is public.
    ("GET", "/meld/login"): EVERYONE_200,
    # The form has staff sessions of its own, opened with one-time codes an admin issues per
    # branch (tests/producers/test_form.py): an API key is no login code ...
    ("POST", "/meld/login"): _cells(401, 401, 401, 401, 401, 401, 401, 401),
    # ... and no session: with a key in the cookie, the form sends back to the login.
    ("GET", "/meld"): _cells(303, 303, 303, 303, 303, 303, 303, 303),
    ("POST", "/meld"): _cells(303, 303, 303, 303, 303, 303, 303, 303),
    # Logging out always ends at the login page.
    ("POST", "/meld/logout"): _cells(303, 303, 303, 303, 303, 303, 303, 303),
    # Subscriptions: every role that receives alerts manages its own (with a key issued with
    # subscriptions:write, as the callers here are); admin organisations receive nothing.
    ("GET", "/v1/subscriptions"): _cells(200, 200, 200, 200, 403, 401, 401, 200),
    ("POST", "/v1/subscriptions"): _cells(201, 201, 201, 201, 403, 401, 401, 201),
    ("GET", "/v1/subscriptions/{subscription_id}"): _cells(200, 200, 200, 200, 403, 401, 401, 200),
    ("PATCH", "/v1/subscriptions/{subscription_id}"): _cells(
        200, 200, 200, 200, 403, 401, 401, 200
    ),
    ("DELETE", "/v1/subscriptions/{subscription_id}"): _cells(
        204, 204, 204, 204, 403, 401, 401, 204
    ),
    # Alarm tasks are for the alarm centre they were raised for (docs/alarm-tasks.md).
    ("GET", "/v1/alarm-tasks"): _cells(200, 403, 403, 403, 403, 401, 401, 403),
    ("POST", "/v1/alarm-tasks/{task_id}/verdict"): _cells(200, 403, 403, 403, 403, 401, 401, 403),
    # The camera registry holds owners' contacts: police and admins only (docs/cameras.md).
    ("GET", "/v1/cameras"): _cells(403, 403, 403, 200, 200, 401, 401, 403),
    ("POST", "/v1/cameras"): _cells(403, 403, 403, 201, 201, 401, 401, 403),
    ("GET", "/v1/cameras/{camera_id}"): _cells(403, 403, 403, 200, 200, 401, 401, 403),
    ("DELETE", "/v1/cameras/{camera_id}"): _cells(403, 403, 403, 204, 204, 401, 401, 403),
    # An alarm centre keeps the maintenance windows of its own sites (docs/alarm-verification.md);
    # others ask for pac-1's site and are refused by role.
    ("GET", "/v1/alarm-sites/{site_id}/maintenance"): _cells(
        200, 403, 403, 403, 403, 401, 401, 403
    ),
    ("POST", "/v1/alarm-sites/{site_id}/maintenance"): _cells(
        201, 403, 403, 403, 403, 401, 401, 403
    ),
    ("DELETE", "/v1/alarm-sites/{site_id}/maintenance"): _cells(
        204, 403, 403, 403, 403, 401, 401, 403
    ),
}


def endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves; HEAD comes with GET and is not a row of its own."""
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                found.add((method, route.path))
    return found


def test_every_endpoint_has_a_row() -> None:
    # A new endpoint must say who may use it before it can ship.
    served = endpoints(create_app(Settings(plate_key=secrets.token_urlsafe(32), _env_file=None)))
    assert served - set(MATRIX) == set(), "endpoints missing from MATRIX"
    assert set(MATRIX) - served == set(), "rows of MATRIX for endpoints that are gone"


def test_every_role_has_a_column() -> None:
    # A new role must be given a column (and a decision per endpoint).
    assert {who.value for who in Who} >= set(admin.ROLES)
    assert all(set(row) == set(Who) for row in MATRIX.values())


# --- the registry and the requests ----------------------------------------------------------


async def _keys(db: asyncpg.Connection) -> dict[Who, str | None]:
    """A key per caller with every scope its role may hold (subscriptions:write is opt-in),
    an admin's, and a revoked one of retail-a."""
    await register(db)
    await db.execute(
        "UPDATE organisation SET police_unit = 'amsterdam' WHERE organisation_id = 'politie-ams'"
    )
    await admin.create_organisation(db, "beheer", "Functioneel beheer", "admin")
    revoked = await admin.issue_key(db, "retail-a", scopes=sorted(allowed_scopes("retailer")))
    assert await admin.revoke_key(db, revoked.key_id)
    keys: dict[Who, str | None] = {}
    await admin.create_organisation(db, "buurt-1", "Buurtpreventie Jordaan", "neighbourhood_watch")
    for who in (AC, RE, TA, PO, NW):
        scopes = sorted(allowed_scopes(who.value))
        keys[who] = (await admin.issue_key(db, ORGANISATION[who], scopes=scopes)).key
    return keys | {
        AD: (await admin.issue_key(db, "beheer")).key,
        NK: None,
        RK: revoked.key,
    }


async def _subscription_ids(db: asyncpg.Connection) -> dict[tuple[Who, str], int]:
    """Per caller and method, a subscription of the caller's own to read or delete; admin and
    the callers without a valid key ask for retail-a's."""
    ids: dict[tuple[Who, str], int] = {}
    for who in (AC, RE, TA, PO, NW):
        for method in ("GET", "PATCH", "DELETE"):
            spec = SubscriptionSpec.model_validate(
                {"webhook_url": f"https://hooks.example/{who.name.lower()}"}
                | (WATCH_AREA if who is NW else {})
            )
            created = await create_subscription(db, ORGANISATION[who], spec, actor="test")
            ids[(who, method)] = created.subscription_id
    for who in (AD, NK, RK):
        ids |= {(who, method): ids[(RE, method)] for method in ("GET", "PATCH", "DELETE")}
    return ids


async def _alarm_task(db: asyncpg.Connection) -> uuid.UUID:
    """A verify task of pac-1 for a press at its site, as the sink stores them."""
    press = factories.alarm_activation(alarm_centre="pac-1", subscriber_account="acct-1")
    task = factories.alarm_task(alarm_centre="pac-1", activation_ids=[press.event_id])
    await store(db, press)
    await store(db, task)
    return task.task_id


def _camera_id(who: Who, method: str) -> str:
    """A registered camera per caller and method, to read or delete (registered by _cameras)."""
    return f"cam-{who.name.lower().replace('_', '-')}-{method.lower()}"


def _camera_body(camera_id: str) -> dict[str, Any]:
    return {"camera_id": camera_id, "owner": "Bakkerij Jansen", "contact_phone": "020 555 0101",
            "location": {"lat": 52.3731, "lon": 4.8932}, "place": "Damstraat 1, Amsterdam",
            "view": "straat en ingang", "retention_days": 7}  # fmt: skip


async def _cameras(db: asyncpg.Connection) -> None:
    for who in Who:
        for method in ("GET", "DELETE"):
            await add_camera(
                db, CameraSpec.model_validate(_camera_body(_camera_id(who, method))), actor="test"
            )


def _event_body(path: str, organisation: str) -> dict[str, Any]:
    """A valid event as the organisation would post it, for what it may post about."""
    if "alarm-activations" in path:
        return bodies.alarm_activation(alarm_centre=organisation)
    if "incident-reports" in path:
        return bodies.incident_report(reporting_org=organisation)
    return bodies.recon_sighting(reporter_org=organisation)


def _form() -> dict[str, str | list[str]]:
    """The sighting form as shop staff fill it in, at a branch of retail-a (a CBL member)."""
    return {
        "event_id": str(uuid.uuid4()),
        "branch_id": "a-001",
        "behaviours": ["films_entrance"],
        # Dutch local time, as the staff read it off the shop's clock.
        "observed_at": (datetime.now(DUTCH_TIME) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
    }


def _request(
    method: str,
    path: str,
    who: Who,
    key: str | None,
    subscription_ids: dict[tuple[Who, str], int],
    task_id: uuid.UUID,
) -> dict[str, Any]:
    """The request for one cell: the key where that endpoint takes it, a body where needed."""
    organisation = ORGANISATION[who]
    if "{subscription_id}" in path:
        path = path.format(subscription_id=subscription_ids[(who, method)])
    if "{task_id}" in path:
        path = path.format(task_id=task_id)
    if "{camera_id}" in path:
        path = path.format(camera_id=_camera_id(who, method))
    if "{site_id}" in path:
        path = path.format(site_id="site-1")
    request: dict[str, Any] = {"method": method, "url": path, "headers": {}}
    if path.startswith("/meld"):
        if path == "/meld/login" and method == "POST":
            # With the login page's form token and its cookie, as a browser on our page posts.
            token = uuid.uuid4().hex
            request["data"] = {"code": key or "", "login_token": token}
            request["headers"]["Cookie"] = f"{LOGIN_COOKIE}={token}"
        elif key is not None:
            request["headers"]["Cookie"] = f"{COOKIE}={key}"
        if path == "/meld" and method == "POST":
            request["data"] = _form()
        return request
    if key is not None:
        request["headers"]["Authorization"] = f"Bearer {key}"
    if method == "POST" and path == "/v1/subscriptions":
        request["json"] = {"webhook_url": f"https://hooks.example/{organisation}"}
        if who is NW:
            request["json"] |= WATCH_AREA
    elif method == "PATCH" and path.startswith("/v1/subscriptions/"):
        request["json"] = {"language": "en"}
    elif method == "POST" and path == "/v1/cameras":
        request["json"] = _camera_body(f"cam-{uuid.uuid4().hex[:12]}")
    elif method == "POST" and path.startswith("/v1/alarm-tasks/"):
        request["json"] = {"method": "camera", "verified": False}
    elif method == "POST" and path.startswith("/v1/alarm-sites/"):
        request["json"] = {"ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    elif method == "POST":
        body = _event_body(path, organisation)
        request["json"] = [body] if path.endswith("/batch") else body
    return request


@pytest.mark.integration
async def test_every_role_against_every_endpoint(
    settings: Settings, db: asyncpg.Connection
) -> None:
    keys = await _keys(db)
    subscription_ids = await _subscription_ids(db)
    task_id = await _alarm_task(db)
    await _cameras(db)
    actual: dict[tuple[str, str], dict[Who, int]] = {}
    item_statuses: dict[tuple[str, str, Who], list[int]] = {}
    async with running_api(settings, LIMITS) as (app, client):
        for method, path in sorted(endpoints(app)):
            row = actual.setdefault((method, path), {})
            for who in Who:
                # Each cell on its own: no cookie from an earlier cell's form login.
                client.cookies.clear()
                response = await client.request(
                    **_request(method, path, who, keys[who], subscription_ids, task_id)
                )
                row[who] = response.status_code
                if response.status_code == 207:
                    results = response.json()["results"]
                    item_statuses[(method, path, who)] = [item["status"] for item in results]
    wrong = [
        f"{method} {path} as {who}: {actual[(method, path)][who]}, want {want}"
        for (method, path), row in MATRIX.items()
        for who, want in row.items()
        if actual.get((method, path), {}).get(who) != want
    ]
    assert not wrong, "\n".join(wrong)
    # A batch of one own event is accepted inside the 207.
    assert all(statuses == [202] for statuses in item_statuses.values()), item_statuses


# --- every route checks its scope --------------------------------------------------------------

# The scope each route that takes a key needs. A key with every other scope its role may hold
# gets 403: holding a valid key is not enough (issue 11, finding 5: the history took any key).
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/v1/alarm-activations"): "alarm-activations:write",
    ("POST", "/v1/alarm-activations/batch"): "alarm-activations:write",
    ("POST", "/v1/incident-reports"): "incident-reports:write",
    ("POST", "/v1/incident-reports/batch"): "incident-reports:write",
    ("POST", "/v1/recon-sightings"): "recon-sightings:write",
    ("POST", "/v1/recon-sightings/batch"): "recon-sightings:write",
    ("GET", "/v1/history/events"): EVENTS_READ,
    ("GET", "/v1/history/alerts"): ALERTS_READ,
    ("GET", "/v1/subscriptions"): SUBSCRIPTIONS_WRITE,
    ("POST", "/v1/subscriptions"): SUBSCRIPTIONS_WRITE,
    ("GET", "/v1/subscriptions/{subscription_id}"): SUBSCRIPTIONS_WRITE,
    ("PATCH", "/v1/subscriptions/{subscription_id}"): SUBSCRIPTIONS_WRITE,
    ("DELETE", "/v1/subscriptions/{subscription_id}"): SUBSCRIPTIONS_WRITE,
    ("GET", "/v1/alarm-tasks"): "alarm-activations:write",
    ("POST", "/v1/alarm-tasks/{task_id}/verdict"): "alarm-activations:write",
    ("GET", "/v1/cameras"): CAMERAS_WRITE,
    ("POST", "/v1/cameras"): CAMERAS_WRITE,
    ("GET", "/v1/cameras/{camera_id}"): CAMERAS_WRITE,
    ("DELETE", "/v1/cameras/{camera_id}"): CAMERAS_WRITE,
    ("GET", "/v1/alarm-sites/{site_id}/maintenance"): MAINTENANCE_WRITE,
    ("POST", "/v1/alarm-sites/{site_id}/maintenance"): MAINTENANCE_WRITE,
    ("DELETE", "/v1/alarm-sites/{site_id}/maintenance"): MAINTENANCE_WRITE,
}


def test_every_route_that_takes_a_key_names_its_scope() -> None:
    # The API routes that refuse a request without a key are exactly those with a scope here
    # (/meld takes staff sessions, not keys).
    keyed = {route for route, row in MATRIX.items() if row[NK] == 401 and "/v1/" in route[1]}
    assert keyed == set(ROUTE_SCOPES)


@pytest.mark.integration
async def test_a_key_without_the_route_s_scope_is_refused(
    settings: Settings, db: asyncpg.Connection
) -> None:
    full_keys = await _keys(db)
    subscription_ids = await _subscription_ids(db)
    task_id = await _alarm_task(db)
    await _cameras(db)
    wrong = []
    async with running_api(settings, LIMITS) as (_, client):
        for (method, path), scope in sorted(ROUTE_SCOPES.items()):
            # A caller for whom the route works with a full key.
            who = next(w for w in (AC, RE, TA, PO, AD) if MATRIX[(method, path)][w] < 300)
            role = who.value
            lacking = sorted(allowed_scopes(role) - {scope})
            key = (await admin.issue_key(db, ORGANISATION[who], scopes=lacking)).key
            for presented, want in ((full_keys[who], MATRIX[(method, path)][who]), (key, 403)):
                response = await client.request(
                    **_request(method, path, who, presented, subscription_ids, task_id)
                )
                if response.status_code != want:
                    wrong.append(f"{method} {path} as {who} {presented is key}: "
                                 f"{response.status_code}, want {want}")  # fmt: skip
    assert not wrong, "\n".join(wrong)


# --- nobody writes for another ----------------------------------------------------------------


@dataclass(frozen=True)
class ForeignWrite:
    """An event naming a branch, site or organisation that is not the caller's, and one that
    is, to send beside it in a batch."""

    caller: str
    path: str
    foreign: dict[str, Any]
    own: dict[str, Any]


RETAIL_B_OWN = bodies.incident_report(reporting_org="retail-b", branch_id="b-001")
PAC_2_OWN = bodies.alarm_activation(
    alarm_centre="pac-2", site_id="site-2", subscriber_account="acct-9"
)
FOREIGN_WRITES = [
    # A retailer reporting at another retailer's branch, as itself.
    ForeignWrite(
        "retail-b", "/v1/incident-reports",
        bodies.incident_report(reporting_org="retail-b"), RETAIL_B_OWN,
    ),
    # A retailer posing as another retailer.
    ForeignWrite(
        "retail-b", "/v1/incident-reports",
        bodies.incident_report(reporting_org="retail-a"), RETAIL_B_OWN,
    ),
    # A sighting at another retailer's branch.
    ForeignWrite(
        "retail-a", "/v1/recon-sightings",
        bodies.recon_sighting(branch_id="b-001"), bodies.recon_sighting(),
    ),
    # A retailer reporting a sighting by location only: that is the trade association's way.
    ForeignWrite(
        "retail-a", "/v1/recon-sightings",
        bodies.recon_sighting(branch_id=None), bodies.recon_sighting(),
    ),
    # The CBL at the branch of a retailer that is not its member.
    ForeignWrite(
        "cbl", "/v1/incident-reports",
        bodies.incident_report(reporting_org="cbl", branch_id="b-001"),
        bodies.incident_report(reporting_org="cbl"),
    ),
    # The CBL posing as its own member.
    ForeignWrite(
        "cbl", "/v1/incident-reports",
        bodies.incident_report(reporting_org="retail-a"),
        bodies.incident_report(reporting_org="cbl"),
    ),
    # An alarm centre reporting for another centre's site, as itself.
    ForeignWrite(
        "pac-2", "/v1/alarm-activations",
        bodies.alarm_activation(alarm_centre="pac-2"), PAC_2_OWN,
    ),
    # An alarm centre posing as another centre.
    ForeignWrite(
        "pac-2", "/v1/alarm-activations",
        bodies.alarm_activation(alarm_centre="pac-1"), PAC_2_OWN,
    ),
    # Its own site under another subscriber account.
    ForeignWrite(
        "pac-1", "/v1/alarm-activations",
        bodies.alarm_activation(subscriber_account="acct-9"), bodies.alarm_activation(),
    ),
    # The other centre's site under that centre's account.
    ForeignWrite(
        "pac-1", "/v1/alarm-activations",
        bodies.alarm_activation(site_id="site-2", subscriber_account="acct-9"),
        bodies.alarm_activation(),
    ),
]  # fmt: skip


@pytest.mark.integration
async def test_nobody_writes_for_another(settings: Settings, db: asyncpg.Connection) -> None:
    registry = await register(db)
    specs = (ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS)
    before = [await published_count(settings, spec) for spec in specs]
    async with running_api(settings, LIMITS) as (_, client):
        for case in FOREIGN_WRITES:
            auth = registry.auth(case.caller)
            single = await client.post(case.path, json=case.foreign, headers=auth)
            assert single.status_code == 403, (case, single.text)
            # In a batch the foreign event is refused on its own; the own one goes through.
            fresh = [{**body, "event_id": str(uuid.uuid4())} for body in (case.foreign, case.own)]
            batch = await client.post(f"{case.path}/batch", json=fresh, headers=auth)
            assert [r["status"] for r in batch.json()["results"]] == [403, 202], (case, batch.text)
    after = [await published_count(settings, spec) for spec in specs]
    # Only the own events of the batches were published: one per case.
    assert sum(after) - sum(before) == len(FOREIGN_WRITES)


# --- the registry is the truth ---------------------------------------------------------------

# A chain's own Amsterdam branch (a-001, a supermarket of Super A) and an alarm centre's own site
# on it (site-1), each described in the body as a Rotterdam jeweller of another chain.
ROTTERDAM_JEWELLER = {
    "chain": "Juwelier Rotterdam",
    "branch_type": "jeweller",
    "location": {"lat": ROTTERDAM.lat, "lon": ROTTERDAM.lon},
}
MOVED_REPORT = bodies.incident_report() | {
    "branch": {"branch_id": "a-001", **ROTTERDAM_JEWELLER}
}
MOVED_SIGHTING = bodies.recon_sighting() | {
    "branch": {"branch_id": "a-001", **ROTTERDAM_JEWELLER}
}
MOVED_ALARM = bodies.alarm_activation() | {"site": {"site_id": "site-1", **ROTTERDAM_JEWELLER}}
# (caller, path, topic, body): each must be published as the registered Amsterdam supermarket.
REGISTRY_ROWS = [
    ("retail-a", "/v1/incident-reports", INCIDENT_REPORTS, MOVED_REPORT),
    (
        "cbl", "/v1/incident-reports", INCIDENT_REPORTS,
        MOVED_REPORT | {"reporting_org": "cbl", "event_id": str(uuid.uuid4())},
    ),
    ("retail-a", "/v1/recon-sightings", RECON_SIGHTINGS, MOVED_SIGHTING),
    ("pac-1", "/v1/alarm-activations", ALARM_ACTIVATIONS, MOVED_ALARM),
]  # fmt: skip


@pytest.mark.integration
async def test_the_registry_not_the_body_says_where_and_what(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    published: dict[str, int] = {}
    async with running_api(settings, LIMITS) as (_, client):
        for caller, path, spec, body in REGISTRY_ROWS:
            auth = registry.auth(caller)
            single = await client.post(path, json=body, headers=auth)
            assert single.status_code == 202, (caller, path, single.text)
            fresh = {**body, "event_id": str(uuid.uuid4())}
            batch = await client.post(f"{path}/batch", json=[fresh], headers=auth)
            assert [r["status"] for r in batch.json()["results"]] == [202], batch.text
            published[spec.name(settings.topic_prefix)] = (
                published.get(spec.name(settings.topic_prefix), 0) + 2
            )
    for topic, count in published.items():
        for record in await read_topic(settings.kafka_bootstrap, topic, count=count):
            place = json.loads(record.value)
            where = place.get("branch") or place["site"]
            assert where["location"] == {"lat": 52.3731, "lon": 4.8922}, (topic, place)
            assert police_unit_for(Location(**where["location"])) is PoliceUnit.AMSTERDAM
            assert where["branch_type"] == "supermarket", (topic, place)
            assert where["chain"] == "Super A", (topic, place)


@pytest.mark.integration
async def test_a_site_without_a_registered_location_is_refused(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    await admin.create_alarm_site(db, "site-3", "pac-1", "acct-3")
    body = bodies.alarm_activation(site_id="site-3", subscriber_account="acct-3")
    async with running_api(settings, LIMITS) as (_, client):
        auth = registry.auth("pac-1")
        response = await client.post("/v1/alarm-activations", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == "site.location"


# --- nobody reads another's history ---------------------------------------------------------


async def _history(db: asyncpg.Connection) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Keys, and the event ids each organisation may see in the history."""
    registry = await register(db)
    keys = dict(registry.keys)
    await db.execute(
        "UPDATE organisation SET police_unit = 'amsterdam' WHERE organisation_id = 'politie-ams'"
    )
    await admin.create_organisation(
        db, "politie-rdam", "Politie Rotterdam", "police", police_unit=PoliceUnit.ROTTERDAM
    )
    await admin.create_organisation(db, "beheer", "Functioneel beheer", "admin")
    rotterdam = Branch(branch_id="b-rdam", branch_type=BranchType.SUPERMARKET, location=ROTTERDAM)
    await admin.create_branch(db, "retail-b", rotterdam)
    for organisation in ("politie-rdam", "beheer"):
        keys[organisation] = (await admin.issue_key(db, organisation)).key

    a_001 = factories.branch(branch_id="a-001")
    b_001 = factories.branch(branch_id="b-001")
    events = {
        "a robbery at a-001": factories.incident_report(reporting_org="retail-a", branch=a_001),
        "a sighting at a-001": factories.recon_sighting(reporter_org="cbl", branch=a_001),
        "a robbery at b-001": factories.incident_report(reporting_org="retail-b", branch=b_001),
        "a robbery in Rotterdam": factories.incident_report(
            reporting_org="retail-b", branch=rotterdam
        ),
        "pac-1's alarm": factories.alarm_activation(alarm_centre="pac-1"),
        "pac-2's alarm in Rotterdam": factories.alarm_activation(
            alarm_centre="pac-2",
            site=factories.alarm_activation().site.model_copy(update={"location": ROTTERDAM}),
        ),
    }
    for event in events.values():
        await store(db, event)
    ids = {name: str(getattr(event, "event_id")) for name, event in events.items()}  # noqa: B009

    def named(*names: str) -> set[str]:
        return {ids[name] for name in names}

    visible = {
        # A retailer sees its own branches, whoever reported there.
        "retail-a": named("a robbery at a-001", "a sighting at a-001"),
        "retail-b": named("a robbery at b-001", "a robbery in Rotterdam"),
        # The CBL sees its members' branches: retail-a is one, retail-b is not.
        "cbl": named("a robbery at a-001", "a sighting at a-001"),
        # An alarm centre sees the alarms it forwarded, nothing else.
        "pac-1": named("pac-1's alarm"),
        "pac-2": named("pac-2's alarm in Rotterdam"),
        # The police see their unit.
        "politie-ams": named(
            "a robbery at a-001", "a sighting at a-001", "a robbery at b-001", "pac-1's alarm"
        ),
        "politie-rdam": named("a robbery in Rotterdam", "pac-2's alarm in Rotterdam"),
        # Functional management sees everything.
        "beheer": set(ids.values()),
    }
    return keys, visible


# Filters that name someone else's part narrow what a caller sees; they never widen it.
# (who, query): each must still return only the caller's own events.
WIDENING_FILTERS: list[tuple[str, dict[str, Any]]] = [
    # Another retailer's branch.
    ("retail-b", {"branch_id": "a-001"}),
    # A non-member's branch, for the CBL.
    ("cbl", {"branch_id": "b-001"}),
    # Another unit, for the police.
    ("politie-rdam", {"police_unit": "amsterdam"}),
    # Incidents, for an alarm centre (it sees alarm activations only).
    ("pac-1", {"kind": "overval"}),
    # Paging one event at a time: every page stays within the caller's part.
    ("retail-a", {"limit": 1}),
]


@pytest.mark.integration
async def test_nobody_reads_another_s_history(settings: Settings, db: asyncpg.Connection) -> None:
    keys, visible = await _history(db)
    async with running_api(settings, LIMITS) as (_, client):

        async def seen(who: str, **params: Any) -> set[str]:
            """Every event id of every page the caller gets."""
            found: set[str] = set()
            cursor = None
            while True:
                answer = await client.get(
                    "/v1/history/events", headers={"Authorization": f"Bearer {keys[who]}"},
                    params=params | ({"cursor": cursor} if cursor else {}),
                )  # fmt: skip
                if answer.status_code == 422 and "police_unit" in params:
                    # Another unit, asked by the police: refused by name, nothing seen.
                    assert answer.json()["detail"][0]["field"] == "police_unit", answer.text
                    return found
                assert answer.status_code == 200, (who, params, answer.text)
                page = answer.json()
                found |= {item["event_id"] for item in page["items"]}
                cursor = page["next_cursor"]
                if cursor is None:
                    return found

        for who, own in visible.items():
            assert await seen(who, limit=500) == own, who
        for who, params in WIDENING_FILTERS:
            assert await seen(who, **params) <= visible[who], (who, params)


@pytest.mark.integration
async def test_police_read_only_their_unit_s_alerts(
    settings: Settings, db: asyncpg.Connection
) -> None:
    keys, _ = await _history(db)
    amsterdam = factories.alert()
    rotterdam = factories.alert(police_unit=PoliceUnit.ROTTERDAM)
    for alert in (amsterdam, rotterdam):
        await store(db, alert)
    expected = {
        # Each unit its own alerts.
        "politie-ams": {str(amsterdam.alert_id)},
        "politie-rdam": {str(rotterdam.alert_id)},
        # Functional management all.
        "beheer": {str(amsterdam.alert_id), str(rotterdam.alert_id)},
    }
    who_unit = {"politie-ams": "amsterdam", "politie-rdam": "rotterdam"}
    async with running_api(settings, LIMITS) as (_, client):
        for who, own in expected.items():
            for params in ({}, {"police_unit": "amsterdam"}, {"police_unit": "rotterdam"}):
                answer = await client.get(
                    "/v1/history/alerts", params=params,
                    headers={"Authorization": f"Bearer {keys[who]}"},
                )  # fmt: skip
                if who != "beheer" and params.get("police_unit") not in (None, who_unit[who]):
                    # Another unit's alerts: refused by name, not an empty page.
                    assert answer.status_code == 422, answer.text
                    continue
                assert answer.status_code == 200, answer.text
                got = {item["alert_id"] for item in answer.json()["items"]}
                assert got <= own, (who, params)
                if not params:
                    assert got == own, who


# --- what each recipient of an alert sees ---------------------------------------------------

CLOTHING = "groene regenjas met capuchon"
# Whether each recipient role sees vehicles, persons and evidence: only the police.
SEES_PERSONAL_DATA = {
    RecipientRole.POLICE: True,
    RecipientRole.BRANCH: False,
    RecipientRole.CHAIN: False,
    RecipientRole.TRADE_ASSOCIATION: False,
    RecipientRole.ALARM_CENTRE: False,
    RecipientRole.NEIGHBOURHOOD_WATCH: False,
}


def _alert() -> Alert:
    return factories.alert(persons=[PersonDescription(clothing=[CLOTHING])], site_id="site-1")


def test_every_recipient_role_has_a_decision() -> None:
    assert set(SEES_PERSONAL_DATA) == set(RecipientRole)


@pytest.mark.parametrize("role", list(RecipientRole))
def test_alert_view_of_each_role(role: RecipientRole) -> None:
    alert = _alert()
    view = json.loads(alert.view_for(role, reference_key=factories.REFERENCE_KEY).model_dump_json())
    text = json.dumps(view)
    personal = [factories.PLATE_PSEUDONYM, CLOTHING, str(alert.evidence[0].event_id)]
    if SEES_PERSONAL_DATA[role]:
        assert view["alert"]["vehicles"] and view["alert"]["persons"] and view["alert"]["evidence"]
        assert all(secret in text for secret in personal)
    else:
        assert not {"vehicles", "persons", "evidence", "alert"} & set(view)
        assert [secret for secret in personal if secret in text] == []
    # Whoever it is for, the view says what happened and where; a neighbourhood watch gets no
    # ids at all, only kind, area and time. A dedup key names the event behind the alert: the
    # police see it, the others a keyed reference of it to deduplicate on.
    assert view.get("alert", view)["kind"] == alert.kind.value
    reference = alert_reference(alert.dedup_key, factories.REFERENCE_KEY)
    ids = (str(alert.alert_id), alert.dedup_key, reference)
    found = tuple(id_ in text for id_ in ids)
    if role is RecipientRole.NEIGHBOURHOOD_WATCH:
        assert found == (False, False, False) and "area" in view
    elif role is RecipientRole.POLICE:
        assert found == (True, True, False)
    else:
        # The alert id is a name-based UUID of the dedup key: a guessed event id could be
        # tried against it. The others see an id derived from the reference instead.
        assert found == (False, False, True)
        assert view["alert_id"] == str(alert_reference_id(alert.dedup_key, factories.REFERENCE_KEY))


# --- the desk: each unit its own alerts -------------------------------------------------------

UNITS = list(PoliceUnit)


def _username(unit: PoliceUnit) -> str:
    return f"coordinator.{unit.value}"


@pytest.mark.integration
async def test_desk_units_see_and_handle_only_their_own(
    settings: Settings, db: asyncpg.Connection
) -> None:
    alerts = {unit: factories.alert(police_unit=unit) for unit in UNITS}
    for unit, alert in alerts.items():
        await add_user(db, _username(unit), PASSWORD, unit)
        await store(db, alert)
    wrong: list[str] = []
    async with served_desk(settings) as base_url:
        for user_unit in UNITS:
            async with logged_in(base_url, _username(user_unit)) as client:
                page = await client.get("/")
                csrf = csrf_token(page.text)
                for alert_unit, alert in alerts.items():
                    own = alert_unit is user_unit
                    cell = f"{user_unit} on {alert_unit}'s alert"
                    if (str(alert.alert_id) in page.text) != own:
                        wrong.append(f"{cell}: listed {not own}")
                    wrong += await _handle(client, alert, csrf, own, cell)
    assert not wrong, "\n".join(wrong)
    # Only each unit's own user acknowledged and resolved its alert.
    rows = await db.fetch("SELECT police_unit, acknowledged_by, resolved_by FROM alert")
    assert {row["police_unit"]: (row["acknowledged_by"], row["resolved_by"]) for row in rows} == {
        unit.value: (_username(unit), _username(unit)) for unit in UNITS
    }


async def _handle(
    client: httpx.AsyncClient, alert: Alert, csrf: str, own: bool, cell: str
) -> list[str]:
    """View, acknowledge and resolve; a foreign alert is not found, whatever is asked."""
    path = f"/alerts/{alert.alert_id}"
    answers = {
        "view": await client.get(path),
        "acknowledge": await client.post(f"{path}/acknowledge", data={"csrf": csrf}),
        "resolve": await client.post(
            f"{path}/resolve", data={"csrf": csrf, "outcome": "no_action"}
        ),
    }
    want = {"view": 200, "acknowledge": 303, "resolve": 303} if own else dict.fromkeys(answers, 404)
    return [
        f"{cell}: {action} {answer.status_code}, want {want[action]}"
        for action, answer in answers.items()
        if answer.status_code != want[action]
    ]


# --- nobody sees or changes another's subscriptions -----------------------------------------


@pytest.mark.integration
async def test_nobody_sees_changes_or_deletes_another_s_subscriptions(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    owners = ("retail-a", "retail-b", "cbl", "pac-1", "politie-ams")
    # Keys issued for managing subscriptions only, as the docs advise.
    keys = {
        owner: (await admin.issue_key(db, owner, scopes=[SUBSCRIPTIONS_WRITE])).key
        for owner in owners
    }

    def auth(owner: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[owner]}"}

    async with running_api(settings, LIMITS) as (_, client):
        created: dict[str, int] = {}
        for owner in owners:
            answer = await client.post(
                "/v1/subscriptions", json={"webhook_url": f"https://hooks.example/{owner}"},
                headers=auth(owner),
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
            created[owner] = answer.json()["subscription_id"]
        missing = max(created.values()) + 1_000
        wrong: list[str] = []
        for who in owners:
            listed = await client.get("/v1/subscriptions", headers=auth(who))
            if [item["subscription_id"] for item in listed.json()] != [created[who]]:
                wrong.append(f"{who} lists {listed.text}")
            for owner, subscription_id in created.items():
                if owner == who:
                    continue
                for method in ("GET", "PATCH", "DELETE"):
                    body = {"language": "en"} if method == "PATCH" else None
                    foreign = await client.request(
                        method, f"/v1/subscriptions/{subscription_id}", headers=auth(who),
                        json=body,
                    )  # fmt: skip
                    absent = await client.request(
                        method, f"/v1/subscriptions/{missing}", headers=auth(who), json=body
                    )
                    # Another's is answered exactly as one that does not exist.
                    said = foreign.json()["detail"].replace(str(subscription_id), "#")
                    if (foreign.status_code, said) != (
                        404, absent.json()["detail"].replace(str(missing), "#"),
                    ):  # fmt: skip
                        wrong.append(f"{who} {method} {owner}'s: {foreign.status_code} {said}")
        # The keys that post events do not manage subscriptions: the scope is opt-in.
        for owner in owners:
            answer = await client.get("/v1/subscriptions", headers=registry.auth(owner))
            if answer.status_code != 403 or SUBSCRIPTIONS_WRITE not in answer.json()["detail"]:
                wrong.append(f"{owner}'s event key: {answer.status_code} {answer.text}")
    assert not wrong, "\n".join(wrong)
    # Nothing of anyone's was changed or deleted.
    stored = await list_subscriptions(db)
    assert {item.organisation_id: item.subscription_id for item in stored} == created
    assert {item.spec.language for item in stored} == {"nl"}
