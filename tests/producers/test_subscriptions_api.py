"""`/v1/subscriptions` through the running app and real PostgreSQL: store, read, delete, audit,
refuse with the field and reason, and what routing makes of a subscription made here."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from assembly.cli import app as cli
from consumers.notify.directory import load_directory
from consumers.notify.route import route, webhook_recipient
from heterdaad.auth import SUBSCRIPTIONS_WRITE
from heterdaad.settings import get_settings
from producers.api import ApiLimits, admin
from schemas.alerts import AlertKind, Area
from schemas.common import Location, PoliceUnit
from tests import factories
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    import httpx

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

HOOK = "https://hooks.super-a.example/heterdaad"
PATH = "/v1/subscriptions"


@pytest.fixture
async def keys(db: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """Authorization headers of subscription keys of the test registry's retail-a and police."""
    await register(db)
    await db.execute(
        "UPDATE organisation SET police_unit = 'amsterdam' WHERE organisation_id = 'politie-ams'"
    )
    return await subscription_headers(db, "retail-a", "politie-ams")


async def subscription_headers(db: asyncpg.Connection, *owners: str) -> dict[str, dict[str, str]]:
    """Per organisation, the Authorization header of a new key that may subscribe."""
    headers = {}
    for owner in owners:
        issued = await admin.issue_key(db, owner, scopes=[SUBSCRIPTIONS_WRITE])
        headers[owner] = {"Authorization": f"Bearer {issued.key}"}
    return headers


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(settings, ApiLimits()) as (_, client):
        yield client


async def _audit(db: asyncpg.Connection) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = await db.fetch(
        "SELECT actor, action, subject, details FROM audit_log "
        "WHERE action LIKE 'subscription_%' ORDER BY at"
    )
    return [
        (row["actor"], row["action"], row["subject"], json.loads(row["details"])) for row in rows
    ]


async def test_create_read_list_delete(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    body = {
        "branch_types": ["supermarket"], "radius_m": 2000, "min_severity": "medium",
        "alert_kinds": ["reconnaissance_warning", "hold_up_in_progress"],
        "webhook_url": HOOK, "language": "en",
        "windows": [{"weekdays": [1, 2, 3, 4, 5, 6], "starts": "08:00", "ends": "22:00",
                     "alert_kinds": ["reconnaissance_warning"]}],
    }  # fmt: skip
    created = await client.post(PATH, json=body, headers=keys["retail-a"])
    assert created.status_code == 201, created.text
    answer = created.json()
    subscription_id = answer["subscription_id"]
    assert created.headers["Location"] == f"{PATH}/{subscription_id}"
    # The generated secret is shown this once, and only here.
    secret = answer["webhook_secret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert answer["signed"] is True
    # Write-only in the spec: left out of every answer's spec, not shown as null.
    assert answer["spec"]["radius_m"] == 2000 and "webhook_secret" not in answer["spec"]

    read = await client.get(f"{PATH}/{subscription_id}", headers=keys["retail-a"])
    listed = await client.get(PATH, headers=keys["retail-a"])
    assert read.status_code == listed.status_code == 200
    assert listed.json() == [read.json()]
    assert secret not in read.text + listed.text
    spec = read.json()["spec"]
    assert sorted(spec["alert_kinds"]) == ["hold_up_in_progress", "reconnaissance_warning"]
    assert spec["windows"][0]["starts"] == "08:00:00" and spec["language"] == "en"
    assert "webhook_secret" not in read.json()

    deleted = await client.delete(f"{PATH}/{subscription_id}", headers=keys["retail-a"])
    assert deleted.status_code == 204
    again = await client.delete(f"{PATH}/{subscription_id}", headers=keys["retail-a"])
    gone = await client.get(f"{PATH}/{subscription_id}", headers=keys["retail-a"])
    assert again.status_code == gone.status_code == 404
    assert (await client.get(PATH, headers=keys["retail-a"])).json() == []

    # Both changes are audited as the CLI's are, naming the key; never the secret.
    trail = await _audit(db)
    actor = trail[0][0]
    key_id = actor.rsplit(":", 1)[1]
    assert actor == f"api:retail-a:{key_id}" and len(key_id) == 12
    assert [(action, subject) for _, action, subject, _ in trail] == [
        ("subscription_created", str(subscription_id)),
        ("subscription_deleted", str(subscription_id)),
    ]
    assert trail[0][3]["organisation_id"] == "retail-a" and trail[0][3]["webhook_url"] == HOOK
    assert secret not in json.dumps(trail)


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    # A radius out of range names the field.
    ("retail-a", {"webhook_url": HOOK, "radius_m": -5}, "radius_m", "greater than 0"),
    # An unknown field is refused by name, not ignored.
    ("retail-a", {"webhook_url": HOOK, "colour": "red"}, "colour", "not permitted"),
    # An unknown alert kind names the item.
    ("retail-a", {"webhook_url": HOOK, "alert_kinds": ["party"]}, "alert_kinds.0", "Input"),
    # A window with a weekday that does not exist.
    ("retail-a", {"webhook_url": HOOK, "windows": [{"weekdays": [8], "starts": "08:00",
                                                     "ends": "22:00"}]},
     "windows.0.weekdays", "less than or equal to 7"),
    # PostgreSQL text cannot hold U+0000: refused as a field, not a server error.
    ("retail-a", {"webhook_url": HOOK, "radius_m": 500, "chains": ["Super\u0000A"]},
     "chains.0", "control characters"),
    ("retail-a", {"webhook_url": HOOK, "webhook_secret": "s" * 31 + "\u0000"}, "(body)",
     "webhook_secret must not contain control characters"),
    # A rule of the URL alone names it (it was "(body)" with pydantic's "Value error, ").
    ("retail-a", {"webhook_url": "http://hooks.example/h"}, "webhook_url", "must use https"),
    ("retail-a", {"webhook_url": "http://169.254.169.254/h"}, "webhook_url", "must use https"),
    # Rules across fields are the spec's own; the reason names the fields.
    ("retail-a", {"webhook_url": HOOK, "chains": ["Super A"]}, "(body)", "give radius_m"),
    ("retail-a", {"webhook_url": HOOK, "send_alerts": False}, "(body)", "alerts, escalations"),
    ("retail-a", {"webhook_url": HOOK, "webhook_secret": "short"}, "(body)", "32 characters"),
    # A lone surrogate (JSON's \ud800): SecretStr takes it where str does not; it was a 500.
    ("retail-a", {"webhook_url": HOOK, "webhook_secret": "s" * 32 + "\ud800"}, "(body)",
     "no lone surrogate"),
    # Rules of the caller's role: a retailer has no desk and gets no escalations.
    ("retail-a", {}, "(body)", "nowhere to deliver"),
    ("retail-a", {"webhook_url": HOOK, "send_escalations": True}, "(body)", "escalations are for"),
    # The API's own rule: no webhook inside the network the notify service runs in.
    ("retail-a", {"webhook_url": "http://127.0.0.1:8080/h"}, "webhook_url", "public address"),
    ("politie-ams", {"webhook_url": "https://10.0.0.7/h"}, "webhook_url", "public address"),
    ("retail-a", {"webhook_url": "https://localhost/h"}, "webhook_url", "localhost"),
    # Names of this machine and IPv6 forms embedding loopback (issue 11, finding 6).
    ("retail-a", {"webhook_url": "https://localhost./h"}, "webhook_url", "names this machine"),
    ("retail-a", {"webhook_url": "https://ip6-localhost/h"}, "webhook_url", "names this machine"),
    ("retail-a", {"webhook_url": "https://[::7f00:1]/h"}, "webhook_url", "embeds 127.0.0.1"),
    ("retail-a", {"webhook_url": "https://[64:ff9b::7f00:1]/h"}, "webhook_url",
     "embeds 127.0.0.1"),
    ("retail-a", {"webhook_url": "https://[2002:7f00:1::]/h"}, "webhook_url", "embeds 127.0.0.1"),
    # A name the sender could never send to (IDNA 2008 refuses the emoji of 💩.la): it was a 500.
    ("retail-a", {"webhook_url": "https://xn--ls8h.la/h"}, "webhook_url", "not a name httpx"),
    # A name resolving to loopback (this machine's own name; localhost itself above).
    ("retail-a", {"webhook_url": f"https://{socket.gethostname()}/h"}, "webhook_url",
     "resolves to"),
]  # fmt: skip


@pytest.mark.parametrize(("owner", "body", "field", "reason"), REFUSED)
async def test_refusals_name_the_field_and_store_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    keys: dict[str, dict[str, str]],
    owner: str,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    # json.dumps escapes what is not ASCII, so a lone surrogate goes as JSON writes it.
    headers = {**keys[owner], "Content-Type": "application/json"}
    answer = await client.post(PATH, content=json.dumps(body), headers=headers)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    assert any(
        problem["field"].startswith(field) and reason in problem["reason"] for problem in problems
    ), problems
    assert await db.fetchval("SELECT count(*) FROM subscription") == 0
    assert await _audit(db) == []


async def test_police_subscribe_to_escalations_and_their_desk(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    escalations = {
        "alert_kinds": ["hold_up_in_progress"], "police_units": ["amsterdam"],
        "webhook_url": "https://dienstdoende.politie.example/heterdaad",
        "send_alerts": False, "send_escalations": True,
    }  # fmt: skip
    # A police subscription without a webhook adds alerts to the desk: no secret to hand over.
    for body, secret in ((escalations, True), ({"police_units": ["midden-nederland"]}, False)):
        answer = await client.post(PATH, json=body, headers=keys["politie-ams"])
        assert answer.status_code == 201, answer.text
        assert (answer.json()["webhook_secret"] is not None) is secret
        assert answer.json()["signed"] is secret


async def test_a_subscription_made_here_routes_alerts(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    # retail-a's branch a-001 is on the Damrak, a few hundred metres from the Dam.
    body = {"radius_m": 1000, "branch_types": ["supermarket"], "webhook_url": HOOK}
    answer = await client.post(PATH, json=body, headers=keys["retail-a"])
    assert answer.status_code == 201, answer.text
    directory = await load_directory(db)
    near = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)
    recipients = {r.recipient for r in route(near, directory, default_language="nl")}
    assert webhook_recipient("retail-a", HOOK) in recipients

    # Deleted through the API, it routes nothing more.
    subscription_id = answer.json()["subscription_id"]
    await client.delete(f"{PATH}/{subscription_id}", headers=keys["retail-a"])
    directory = await load_directory(db)
    recipients = {r.recipient for r in route(near, directory, default_language="nl")}
    assert webhook_recipient("retail-a", HOOK) not in recipients


def _capped(settings: Settings, most: int) -> Settings:
    notify = settings.notify.model_copy(update={"subscriptions_per_organisation": most})
    return settings.model_copy(update={"notify": notify})


async def test_an_organisation_holds_at_most_the_cap(
    settings: Settings, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    # Issue 11 finding 17: 300 subscriptions were accepted, and each got every matching alert.
    async with running_api(_capped(settings, 3), ApiLimits()) as (_, client):
        for _ in range(3):
            made = await client.post(PATH, json={"webhook_url": HOOK}, headers=keys["retail-a"])
            assert made.status_code == 201, made.text
        refused = await client.post(PATH, json={"webhook_url": HOOK}, headers=keys["retail-a"])
        assert refused.status_code == 409, refused.text
        assert "most allowed (3)" in refused.json()["detail"][0]["reason"]
        # The cap is per organisation: another one still may subscribe.
        other = await client.post(PATH, json={"webhook_url": HOOK}, headers=keys["politie-ams"])
        assert other.status_code == 201, other.text
        # Deleting one makes room again.
        first = (await client.get(PATH, headers=keys["retail-a"])).json()[0]
        await client.delete(f"{PATH}/{first['subscription_id']}", headers=keys["retail-a"])
        again = await client.post(PATH, json={"webhook_url": HOOK}, headers=keys["retail-a"])
        assert again.status_code == 201, again.text
    held = await db.fetchval("SELECT count(*) FROM subscription WHERE organisation_id = 'retail-a'")
    assert held == 3


async def test_the_cli_holds_to_the_cap_too(settings: Settings, db: asyncpg.Connection) -> None:
    await register(db)
    env = {
        "HETERDAAD_DATABASE_URL": settings.database_url,
        "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
        "HETERDAAD_NOTIFY__SUBSCRIPTIONS_PER_ORGANISATION": "2",
    }
    command = ["notify", "subscribe", "retail-a", "--webhook-url", HOOK]
    get_settings.cache_clear()  # the CLI reads this test's environment, not an earlier one
    try:
        outcomes = [
            await asyncio.to_thread(CliRunner().invoke, cli, command, env=env) for _ in range(3)
        ]
    finally:
        get_settings.cache_clear()
    assert [o.exit_code for o in outcomes] == [0, 0, 1], [(o.output, o.exception) for o in outcomes]
    assert "most allowed (2)" in outcomes[-1].output
    assert await db.fetchval("SELECT count(*) FROM subscription") == 2


async def test_need_to_know_bounds_the_radius_of_branch_roles(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    """A retailer with one branch on the Damrak subscribed without radius_m (or naming the
    Rotterdam unit) and heard of every alert of the country (or of Rotterdam), 201. Now a
    radius beyond notify.retail_max_radius_m is refused naming radius_m, none is stored as the
    cap, and routing holds every retailer, trade association (its members' branches) and alarm
    centre (its alarm sites' branches) to it: rows stored before the cap too."""
    for owner in ("cbl", "pac-1"):
        issued = await admin.issue_key(db, owner, scopes=[SUBSCRIPTIONS_WRITE])
        keys[owner] = {"Authorization": f"Bearer {issued.key}"}
    for owner in ("retail-a", "cbl", "pac-1"):
        refused = await client.post(
            PATH, json={"radius_m": 30_000, "webhook_url": HOOK}, headers=keys[owner]
        )
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["detail"]
        assert problem["field"] == "radius_m"
        assert "at most 25000 m" in problem["reason"], problem
        assert "notify.retail_max_radius_m" in problem["reason"]
    hooks = {}
    for owner, body in (
        ("retail-a", {"police_units": ["rotterdam"]}),
        ("cbl", {}),
        ("pac-1", {"alert_kinds": ["hold_up_in_progress"]}),
    ):
        hooks[owner] = f"https://hooks.{owner}.example/h"
        made = await client.post(PATH, json=body | {"webhook_url": hooks[owner]},
                                 headers=keys[owner])  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["spec"]["radius_m"] == 25_000  # the answer says what it got
    # The police keep their rules: no radius, every alert of the units named.
    police = await client.post(PATH, json={"police_units": ["rotterdam"]},
                               headers=keys["politie-ams"])  # fmt: skip
    assert police.status_code == 201, police.text
    assert police.json()["spec"]["radius_m"] is None
    # A row stored before the cap: no radius, so every alert of the country.
    await db.execute(
        "INSERT INTO subscription (organisation_id, webhook_url, webhook_secret) "
        "VALUES ('retail-b', 'https://hooks.retail-b.example/h', $1)", "s" * 32,
    )  # fmt: skip
    hooks["retail-b"] = "https://hooks.retail-b.example/h"

    rotterdam = Location(lat=51.9225, lon=4.4792)
    directory = await load_directory(db)

    def reached(alert: Any) -> set[str]:
        found = route(alert, directory, default_language="nl")
        return {r.organisation_id for r in found if r.channel == "webhook"}

    robbery_rotterdam = factories.alert(
        police_unit=PoliceUnit.ROTTERDAM, area=Area(center=rotterdam, radius_m=200)
    )
    hold_up_rotterdam = factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, police_unit=PoliceUnit.ROTTERDAM,
        area=Area(center=rotterdam, radius_m=200),
    )  # fmt: skip
    # Every branch is on the Damrak, 57 km away: only the police hear of Rotterdam.
    assert reached(robbery_rotterdam) == reached(hold_up_rotterdam) == set()
    assert {r.organisation_id for r in route(robbery_rotterdam, directory,
            default_language="nl")} == {"politie-ams"}  # fmt: skip
    # Near the Damrak: the CBL for its member's branch, pac-1 for its site's, retail-b's old
    # row (retail-a asked for Rotterdam only).
    assert reached(factories.alert()) == {"cbl", "retail-b"}
    assert reached(factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)) == {
        "cbl", "pac-1", "retail-b"
    }
