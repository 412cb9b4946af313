"""The police desk through real Kafka and PostgreSQL: login, unit scope, live stream, handling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import pytest

from assembly.model_cli import judged_pairs
from consumers.desk import DeskThresholds, add_user, create_desk_app, disable_user
from consumers.desk.alerts import AlertStore
from consumers.desk.live import change_channel
from consumers.desk.tail import tail
from consumers.sink import store
from heterdaad.db import create_pool
from heterdaad.kafka import make_producer
from schemas.alerts import (
    Alert,
    AlertKind,
    Area,
    DetectionBasis,
    EvidenceLink,
    LinkReason,
    Lookout,
    SeriesExtent,
    Severity,
)
from schemas.common import Location, PoliceUnit
from schemas.events import Weapon
from schemas.topics import ALERTS
from schemas.wire import encode
from streams.link_reconnaissance import RULE_VERSION, link_basis
from tests import factories
from tests.consumers.test_retention import assert_without_personal_data
from tests.kafka_helpers import eventually
from tests.processes import model_command
from tests.served import served

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

AMS_USER, ROT_USER = "ams.coordinator", "rot.coordinator"
PASSWORD = "overval-112-heterdaad"
ROTTERDAM_CENTRAAL = Location(lat=51.9244, lon=4.4690)


@dataclass
class FakeClock:
    """The desk's clock, moved forward by a test instead of waiting."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


# --- running the desk -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def served_desk(
    settings: Settings,
    *,
    thresholds: DeskThresholds | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[str]:
    """The desk app under uvicorn on a free loopback port, run as `desk serve` runs it."""
    app = create_desk_app(settings, thresholds=thresholds, clock=clock or FakeClock())
    async with served(app, settings, name="desk") as url:
        yield url


async def users(db: asyncpg.Connection) -> None:
    await add_user(db, AMS_USER, PASSWORD, PoliceUnit.AMSTERDAM)
    await add_user(db, ROT_USER, PASSWORD, PoliceUnit.ROTTERDAM, language="en")


def login_token(page: str) -> str:
    match = re.search(r'name="login_token" value="([^"]+)"', page)
    assert match is not None, page
    return match[1]


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match[1]


def position(page: str) -> str:
    match = re.search(r'data-position="([^"]+)"', page)
    assert match is not None
    return match[1]


async def log_in(
    client: httpx.AsyncClient, username: str = AMS_USER, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"login_token": login_token(form.text), "username": username, "password": password},
    )


@contextlib.asynccontextmanager
async def logged_in(base_url: str, username: str = AMS_USER) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await log_in(client, username)
        assert response.status_code == 303, response.text
        yield client


async def publish_alerts(settings: Settings, *alerts: Alert) -> None:
    """Publish on one partition, so every reader gets them in this order."""
    producer = make_producer(settings)
    await producer.start()
    try:
        for alert in alerts:
            record = encode(ALERTS, alert, "urn:test")
            await producer.send_and_wait(
                ALERTS.name(settings.topic_prefix), value=record.value, key=record.key,
                headers=record.headers, partition=0,
            )  # fmt: skip
    finally:
        await producer.stop()


def rotterdam_alert(**overrides: object) -> Alert:
    fields: dict[str, object] = {
        "police_unit": PoliceUnit.ROTTERDAM,
        "area": Area(center=ROTTERDAM_CENTRAAL, radius_m=1500),
    }
    return factories.alert(**(fields | overrides))


class EventReader:
    """The server-sent events of one open stream, read on as a test needs them."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def until(
        self, wanted: Callable[[str, dict[str, str]], bool], timeout: float = 30
    ) -> list[tuple[str, dict[str, str]]]:
        """The events up to the first one `wanted` accepts, or fail after `timeout`."""
        seen: list[tuple[str, dict[str, str]]] = []
        name, data = "message", ""
        try:
            async with asyncio.timeout(timeout):
                async for line in self._lines:
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        data = line.removeprefix("data: ")
                    elif line == "" and data:
                        seen.append((name, json.loads(data)))
                        if wanted(*seen[-1]):
                            return seen
                        name, data = "message", ""
        except TimeoutError:
            raise AssertionError(f"no such event within {timeout} s; saw {seen}") from None
        raise AssertionError(f"the stream ended; saw {seen}")


async def audit_rows(db: asyncpg.Connection, action: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT actor, subject, details FROM audit_log WHERE action = $1 ORDER BY at", action
    )
    return rows


# --- login ----------------------------------------------------------------------------------


async def test_login_scrypt_sessions_and_logout(settings: Settings, db: asyncpg.Connection) -> None:
    await users(db)
    stored = await db.fetchval("SELECT password_hash FROM desk_user WHERE username = $1", AMS_USER)
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    async with served_desk(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/healthz")).json() == {"live": True}
        ready = await client.get("/readyz")
        assert ready.json() == {"ready": True, "problems": [], "live_feed": True,
                                "database": True, "changes": True}
        first = await client.get("/")
        assert (first.status_code, first.headers["location"]) == (303, "/login")
        login = await client.get("/login")
        assert "Gebruikersnaam" in login.text and "Wachtwoord" in login.text  # Dutch by default
        assert "samesite=strict" in login.headers["set-cookie"].lower()

        # A login form posted without the form's own token (from another site) is refused.
        forged = await client.post(
            "/login",
            data={"login_token": "forged", "username": AMS_USER, "password": PASSWORD},
        )
        assert forged.status_code == 403
        wrong = await log_in(client, password="niet-het-wachtwoord")
        assert wrong.status_code == 401
        assert "onjuist wachtwoord" in wrong.text
        unknown = await log_in(client, username="onbekend")
        assert unknown.status_code == 401

        response = await log_in(client)
        assert (response.status_code, response.headers["location"]) == (303, "/")
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        token = client.cookies["heterdaad_desk"]
        assert await db.fetchval("SELECT count(*) FROM desk_session") == 1
        assert token not in await db.fetchval("SELECT token_hash FROM desk_session")
        page = await client.get("/")
        assert page.status_code == 200
        assert "Meldingen" in page.text and "Eenheid Amsterdam" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]

        # Logging out needs the session's CSRF token too.
        assert (await client.post("/logout", data={"csrf": "forged"})).status_code == 403
        out = await client.post("/logout", data={"csrf": csrf_token(page.text)})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
        assert await db.fetchval("SELECT count(*) FROM desk_session") == 0
        client.cookies.set("heterdaad_desk", token)  # an old cookie is worth nothing now
        assert (await client.get("/")).status_code == 303

    logins = await audit_rows(db, "login")
    outcomes = [(row["actor"], json.loads(row["details"])["succeeded"]) for row in logins]
    assert outcomes == [
        ("desk:ams.coordinator", False),
        ("desk:onbekend", False),
        ("desk:ams.coordinator", True),
    ]


async def test_a_wait_of_a_minute_or_less_is_said_in_the_singular(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A throttled login that may try again within the minute read 'Probeer het over 1 minuten
    opnieuw' ('in 1 minutes')."""
    await users(db)
    thresholds = DeskThresholds(login_failures_per_user=1, login_window_minutes=1)
    async with (
        served_desk(settings, thresholds=thresholds, clock=FakeClock()) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
        httpx.AsyncClient(base_url=base_url, headers={"Accept-Language": "en"}) as browser,
    ):
        assert (await log_in(client, password="geraden-wachtwoord")).status_code == 401
        dutch = await log_in(client)
        english = await log_in(browser)
    assert dutch.status_code == english.status_code == 429
    assert "Probeer het over een minuut opnieuw." in dutch.text
    assert "Please try again in a minute." in english.text
    assert "1 minut" not in dutch.text + english.text


@pytest.mark.parametrize(
    ("hours", "dutch", "english"),
    [
        # One hour read 'in de afgelopen 1 uur' and 'in the past 1 hours'.
        (1, "Geen meldingen in het afgelopen uur.", "No alerts in the past hour."),
        # A fraction read '1.5' in Dutch too.
        (1.5, "Geen meldingen in de afgelopen 1,5 uur.", "No alerts in the past 1.5 hours."),
        (24, "Geen meldingen in de afgelopen 24 uur.", "No alerts in the past 24 hours."),
    ],
)
async def test_an_empty_list_names_its_hours_as_a_reader_writes_them(
    settings: Settings, db: asyncpg.Connection, hours: float, dutch: str, english: str
) -> None:
    await users(db)
    thresholds = DeskThresholds(recent_hours=hours)
    async with served_desk(settings, thresholds=thresholds) as base_url, logged_in(
        base_url
    ) as client:
        page = (await client.get("/")).text
        in_english = (await client.get("/?lang=en")).text
    assert dutch in page
    assert english in in_english


async def test_password_guessing_is_throttled_per_name_and_per_address(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Issue 11 finding 12: 100 wrong passwords took 3.1 s and were all checked."""
    await users(db)
    clock = FakeClock()
    thresholds = DeskThresholds(
        login_failures_per_user=3, login_failures_per_address=5, login_window_minutes=10
    )
    async with (
        served_desk(settings, thresholds=thresholds, clock=clock) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
    ):
        for _ in range(3):
            assert (await log_in(client, password="geraden-wachtwoord")).status_code == 401
        # The right password now gets the same 429 as a wrong one: the guesser learns nothing.
        for password in (PASSWORD, "nog-een-gok"):
            refused = await log_in(client, password=password)
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["Retry-After"]) <= 600
            assert "Te veel mislukte pogingen" in refused.text
        # An unknown name is counted the same way, so 429 tells nothing about which names exist.
        for _ in range(2):
            assert (await log_in(client, username="onbekend")).status_code == 401
        # The address has 5 failures now: every name from it waits, the other user's too.
        assert (await log_in(client, username=ROT_USER)).status_code == 429
        # After the window the name and the address may try again; success clears the name.
        clock.offset += timedelta(minutes=10, seconds=1)
        assert (await log_in(client)).status_code == 303
    assert await db.fetchval(
        "SELECT count(*) FROM desk_login_failure WHERE username = $1", AMS_USER
    ) == 0
    throttled = [
        json.loads(row["details"]).get("throttled", False) for row in await audit_rows(db, "login")
    ]
    assert throttled == [False] * 3 + [True, True] + [False] * 2 + [True, False]


@pytest.mark.parametrize(("trusted", "secure"), [("127.0.0.1", True), ("192.0.2.7", False)])
async def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(
    settings: Settings, db: asyncpg.Connection, trusted: str, secure: bool
) -> None:
    """Issue 11 finding 18: served over plain HTTP behind a TLS proxy, cookies lacked Secure.
    The proxy's X-Forwarded-Proto counts only from an address in trusted_proxies."""
    await users(db)
    proxied = settings.model_copy(update={"trusted_proxies": trusted})
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
    async with (
        served_desk(proxied) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers) as client,
    ):
        form = await client.get("/login")
        assert ("secure" in form.headers["set-cookie"].lower().split("; ")) is secure
        client.cookies.set("heterdaad_desk_login", login_token(form.text))
        response = await client.post("/login", data={
            "login_token": login_token(form.text), "username": AMS_USER, "password": PASSWORD,
        })  # fmt: skip
        assert response.status_code == 303, response.text
        [session] = [c for c in response.headers.get_list("set-cookie")
                     if c.startswith("heterdaad_desk=")]  # fmt: skip
        assert ("secure" in session.lower().split("; ")) is secure


async def test_disabled_user_can_no_longer_log_in(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        assert (await client.get("/")).status_code == 200
        await disable_user(db, AMS_USER)
        assert (await client.get("/")).status_code == 303  # the session ended with it
        assert (await log_in(client)).status_code == 401


async def test_a_login_with_a_name_no_user_can_have_is_refused_not_a_server_error(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    async with served_desk(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        # PostgreSQL text cannot hold U+0000: the throttle's look-up of this name was a 500.
        for name in (f"{AMS_USER}\u0000", "<b>x</b>", "a" * 10_000):
            assert (await log_in(client, name)).status_code == 401, name
        assert (await log_in(client)).status_code == 303
    trail = await db.fetch(
        "SELECT actor FROM audit_log WHERE action = 'login' AND subject = 'desk' ORDER BY at"
    )
    assert [row["actor"] for row in trail] == ["desk:(invalid name)"] * 3 + [f"desk:{AMS_USER}"]


async def test_offboarding_a_units_police_organisation_locks_its_desk_users_out(
    settings: Settings, db: asyncpg.Connection
) -> None:
    from consumers.desk import list_users
    from producers.api import admin

    await users(db)
    await admin.create_organisation(db, "politie-ams", "Politie Amsterdam", "police",
                                    police_unit=PoliceUnit.AMSTERDAM)  # fmt: skip
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        assert (await client.get("/")).status_code == 200
        await admin.set_organisation_disabled(db, "politie-ams", disabled=True)
        assert (await client.get("/")).status_code == 303  # the session ended with it
        assert (await log_in(client)).status_code == 401
        # Another unit's users, whose unit has no police organisation registered, are not.
        async with logged_in(base_url, ROT_USER) as other:
            assert (await other.get("/")).status_code == 200
        refused = {user.username: why for user, why in await list_users(db)}
        assert refused == {AMS_USER: "unit offboarded", ROT_USER: None}
        # Its sessions ended: enabling the organisation again asks them to log in again.
        await admin.set_organisation_disabled(db, "politie-ams", disabled=False)
        assert (await client.get("/")).status_code == 303
        await admin.set_organisation_disabled(db, "politie-ams", disabled=True)
        # A second police organisation of the unit, enabled, lets them in again.
        await admin.create_organisation(db, "politie-ams-2", "Politie Amsterdam 2", "police",
                                        police_unit=PoliceUnit.AMSTERDAM)  # fmt: skip
        async with logged_in(base_url) as again:
            assert (await again.get("/")).status_code == 200


async def test_language_from_query_then_cookie_then_user(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    async with served_desk(settings) as base_url:
        async with logged_in(base_url) as client:
            english = await client.get("/", params={"lang": "en"})
            assert "Alerts" in english.text and 'lang="en"' in english.text
            again = await client.get("/")  # the choice is remembered by this browser
            assert "Alerts" in again.text
            dutch = await client.get("/", params={"lang": "nl"})
            assert "Meldingen" in dutch.text
        async with logged_in(base_url, ROT_USER) as client:
            page = await client.get("/")  # this user prefers English
            assert "Alerts" in page.text and "Unit Rotterdam" in page.text


async def test_the_login_page_speaks_the_browsers_language_unless_one_is_chosen(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    english = {"Accept-Language": "fr-FR, en-GB;q=0.9, nl;q=0.5"}
    async with served_desk(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        login = await client.get("/login", headers=english)
        assert 'lang="en"' in login.text and "Log in" in login.text
        vary = {name.strip().lower() for name in login.headers.get("vary", "").split(",")}
        assert {"accept-language", "cookie"} <= vary
        assert 'lang="nl"' in (await client.get("/login", headers={"Accept-Language": "*"})).text
        # ?lang= outweighs the header, and the cookie it leaves too
        assert 'lang="nl"' in (await client.get("/login?lang=nl", headers=english)).text
        assert 'lang="nl"' in (await client.get("/login", headers=english)).text
    async with served_desk(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        # a user's own language outweighs the browser's once logged in
        client.headers.update(english)
        assert (await log_in(client)).status_code == 303
        page = await client.get("/")
        assert "Meldingen" in page.text and "accept-language" in page.headers["vary"].lower()


# --- unit scope, views and handling ----------------------------------------------------------


async def _desk_row(
    db: asyncpg.Connection, alert: Alert, state: str, muted_by: str | None, channel: str = "desk"
) -> None:
    """A row of notify's log as its mute and desk stages leave it (docs/notify.md)."""
    await db.execute(
        "INSERT INTO delivery (dedup_key, recipient, alert_id, channel, state, muted_by, "
        "organisation_id) VALUES ($1, $2, $3, $4, $5, $6, 'politie-ams')",
        alert.dedup_key, f"politie-ams/{channel}", alert.alert_id, channel, state, muted_by,
    )  # fmt: skip


def _card_of(page: str, alert: Alert) -> str:
    start = page.index(f'id="alert-{alert.alert_id}"')
    return page[start : page.index("</li>", start)]


async def test_an_alert_silenced_for_the_desk_is_shown_as_silenced_not_hidden(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Issue 12 item 3: silences and inhibition act on the desk as docs/notify.md says."""
    await users(db)
    silence = uuid.uuid4()
    silenced = factories.alert(dedup_key="robbery_reported:a")
    inhibited = factories.alert(kind=AlertKind.VERIFIED_ALARM, dedup_key="verified_alarm:b")
    plain = factories.alert(dedup_key="robbery_reported:c")
    for alert in (silenced, inhibited, plain):
        await store(db, alert)
    await _desk_row(db, silenced, "muted", f"silence {silence}")
    await _desk_row(db, inhibited, "muted", "inhibited by hold_up:site-7")
    await _desk_row(db, plain, "delivered", None)
    # A webhook muted for someone else says nothing about the desk.
    await _desk_row(db, plain, "muted", f"silence {silence}", channel="webhook")
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get("/")).text
        # Its silence's row is not there: said without the id, which only the title keeps
        # (tests/consumers/test_desk_list_words.py names one that is there).
        assert "Gedempt door een stilte: getoond, niet verstuurd" in _card_of(page, silenced)
        assert f'title="Stilte {silence}"' in _card_of(page, silenced)
        assert "Gedempt: valt onder een andere melding" in _card_of(page, inhibited)
        assert "Gedempt" not in _card_of(page, plain)
        detail = (await client.get(f"/alerts/{silenced.alert_id}")).text
        assert 'id="muted"' in detail and str(silence) in detail


async def test_police_confirm_or_reject_a_pattern_and_each_judgement_is_kept_and_audited(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Issue 15 item 5: the analysts' judgements, stored and audited, for the model fit."""
    await users(db)
    member, partner = uuid.uuid4(), uuid.uuid4()
    link = EvidenceLink(
        event_id=member, event_type="incident_report", similarity={"plate": 1.0},
        reasons=[LinkReason(feature="linked_with", value=str(partner), contribution=0.0),
                 LinkReason(feature="distance_km", value=3.2, contribution=0.4),
                 LinkReason(feature="plate", value="match", contribution=7.2)],
    )  # fmt: skip
    series = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-9", evidence=[link],
                             basis=DetectionBasis(model_version="series-test", probability=0.87))
    robbery = factories.alert()
    other_unit = rotterdam_alert(kind=AlertKind.SERIES, series_id="S-ROT-1")
    # A robbery linked back to reconnaissance, published as an update of the warning.
    robbed = uuid.uuid4()
    linked = factories.alert(kind=AlertKind.RECONNAISSANCE_WARNING,
                             dedup_key=f"recon-link:{robbed}:2",
                             basis=link_basis(settings.reconnaissance))  # fmt: skip
    for alert in (series, robbery, other_unit, linked):
        await store(db, alert)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = await client.get(f"/alerts/{series.alert_id}")
        assert 'id="judgement-heading"' in page.text and "Klopt niet" in page.text
        csrf = csrf_token(page.text)
        judged = await client.post(
            f"/alerts/{series.alert_id}/judge", data={"csrf": csrf, "verdict": "rejected"}
        )
        assert judged.status_code == 303
        again = await client.post(
            f"/alerts/{series.alert_id}/judge", data={"csrf": csrf, "verdict": "confirmed"}
        )
        assert again.status_code == 303
        shown = (await client.get(f"/alerts/{series.alert_id}")).text
        # With the date, also on the day itself: a judgement is read back weeks later.
        today = datetime.now(ZoneInfo("Europe/Amsterdam")).strftime("%d-%m-%Y")
        assert f"Afgewezen als patroon door ams.coordinator op {today} " in shown
        assert f"Bevestigd als patroon door ams.coordinator op {today} " in shown
        # The link is judged as a link: did this reconnaissance precede this robbery?
        link_page = (await client.get(f"/alerts/{linked.alert_id}")).text
        assert "Ging deze voorverkenning aan deze overval vooraf?" in link_page
        assert "Klopt: deze voorverkenning ging eraan vooraf" in link_page
        assert "Klopt niet: geen verband" in link_page
        answer = await client.post(
            f"/alerts/{linked.alert_id}/judge", data={"csrf": csrf, "verdict": "confirmed"}
        )
        assert answer.status_code == 303
        link_shown = (await client.get(f"/alerts/{linked.alert_id}")).text
        assert f"Bevestigd als koppeling door ams.coordinator op {today} " in link_shown
        # A single robbery is no pattern; another unit's series is not this desk's to judge.
        single = await client.get(f"/alerts/{robbery.alert_id}")
        assert 'id="judgement-heading"' not in single.text
        for alert_id, verdict, status in (
            (robbery.alert_id, "confirmed", 422),
            (other_unit.alert_id, "confirmed", 404),
            (series.alert_id, "maybe", 422),
        ):
            answer = await client.post(
                f"/alerts/{alert_id}/judge", data={"csrf": csrf, "verdict": verdict}
            )
            assert answer.status_code == status
        forged = await client.post(
            f"/alerts/{series.alert_id}/judge", data={"csrf": "forged", "verdict": "confirmed"}
        )
        assert forged.status_code == 403

    rows = await db.fetch(
        "SELECT kind, pattern, verdict, judged_by, model_version, stated_probability, "
        "stated_recurrence_days FROM judgement ORDER BY judgement_id"
    )
    # What the alert stated is kept with the verdict, for the check of stated chances. The
    # link is a kind of its own, named after its robbery, not a pattern named like one.
    assert [tuple(r) for r in rows] == [
        ("series", "S-AMS-9", "rejected", AMS_USER, "series-test", 0.87, None),
        ("series", "S-AMS-9", "confirmed", AMS_USER, "series-test", 0.87, None),
        ("reconnaissance_link", f"recon-link:{robbed}", "confirmed", AMS_USER, RULE_VERSION,
         None, None),
    ]  # fmt: skip
    audited = await audit_rows(db, "alert_judged")
    assert [(json.loads(r["details"])["kind"], json.loads(r["details"])["verdict"])
            for r in audited] == [("series", "rejected"), ("series", "confirmed"),
                                  ("reconnaissance_link", "confirmed")]  # fmt: skip
    # The links the fit learns from are kept too, with numbers only: "match" is dropped.
    [kept] = {row["evidence"] for row in await db.fetch(
        "SELECT evidence FROM judgement WHERE kind = 'series'")}  # fmt: skip
    [reasons] = [link["reasons"] for link in json.loads(kept)]
    assert [(r["feature"], r["value"]) for r in reasons] == [
        ("linked_with", str(partner)), ("distance_km", 3.2), ("plate", None),
    ]
    # The fit learns series pairs from the series judgement alone, not from the link.
    assert [pair.group for pair in await judged_pairs(db)] == ["judged:S-AMS-9"]
    # The check of stated chances lists the link as a row of its own kind.
    listed = await asyncio.to_thread(model_command, settings, "judged")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:7] for line in listed.stdout.splitlines()[1:]] == [
        ["reconnaissance_link", RULE_VERSION, "robbery", "linked", "back", "1", "1"],
        ["series", "series-test", "probability", "0.80-0.95", "1", "1", "100%"],
    ]


async def test_a_pattern_judged_on_an_earlier_alert_is_shown_on_the_next(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A series has an alert per size (series:<id>:<n>), each with an id of its own. The page
    of its fourth robbery showed no judgement, though the series was rejected at its third: the
    analyst's verdict was invisible where the pattern came up again. Another unit's verdict on
    a pattern of the same name is not shown."""
    await users(db)
    third = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-9",
                            dedup_key="series:S-AMS-9:3")  # fmt: skip
    fourth = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-9",
                             dedup_key="series:S-AMS-9:4")  # fmt: skip
    elsewhere = rotterdam_alert(kind=AlertKind.SERIES, series_id="S-AMS-9",
                                dedup_key="series:S-AMS-9:rdam")  # fmt: skip
    for alert in (third, fourth, elsewhere):
        await store(db, alert)
    await db.execute(
        "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at) "
        "VALUES ($1, 'series', 'S-AMS-9', 'confirmed', $2, now())",
        elsewhere.alert_id, ROT_USER,
    )
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        csrf = csrf_token((await client.get(f"/alerts/{third.alert_id}")).text)
        judged = await client.post(
            f"/alerts/{third.alert_id}/judge", data={"csrf": csrf, "verdict": "rejected"}
        )
        assert judged.status_code == 303
        page = (await client.get(f"/alerts/{fourth.alert_id}")).text
        own = (await client.get(f"/alerts/{third.alert_id}")).text
        english = (await client.get(f"/alerts/{fourth.alert_id}?lang=en")).text
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).strftime("%d-%m-%Y")
    assert f"Afgewezen als patroon door {AMS_USER} op {today} " in page
    assert (f'<a href="/alerts/{third.alert_id}">bij een andere melding van dit patroon</a>'
            in page)  # fmt: skip
    assert f"Rejected as a pattern by {AMS_USER} on " in english
    assert "on another alert of this pattern" in english
    # On its own alert the verdict is this alert's; Rotterdam's is on neither page.
    assert f"Afgewezen als patroon door {AMS_USER}" in own
    assert "andere melding van dit patroon" not in own
    assert ROT_USER not in page and ROT_USER not in own


async def test_only_a_series_judgement_is_said_to_teach_the_series_model(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """`heterdaad model fit` learns from series judgements alone: a reconnaissance pattern's
    or a hotspot's page must not say the series model learns from the verdict (a stranger's:
    every pattern page said so, and a hotspot's spoke of a chance it does not state)."""
    await users(db)
    series = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-3")
    warning = factories.alert(kind=AlertKind.RECONNAISSANCE_WARNING,
                              dedup_key="recon:rp-0123456789abcdef:2")  # fmt: skip
    hotspot = factories.alert(kind=AlertKind.HOTSPOT, hotspot_id="hs-ams-1")
    for alert in (series, warning, hotspot):
        await store(db, alert)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get(f"/alerts/{series.alert_id}")).text
        assert "en het reeksmodel leert ervan" in page
        for alert in (warning, hotspot):
            page = (await client.get(f"/alerts/{alert.alert_id}?lang=nl")).text
            assert 'id="judgement-heading"' in page
            assert "reeksmodel" not in page
            assert "het toetst wat de melding als grond noemt" in page
            english = (await client.get(f"/alerts/{alert.alert_id}?lang=en")).text
            assert "series model" not in english
            assert "it checks what the alert says it rests on" in english


async def test_the_map_legend_names_red_for_what_it_marks(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Red on the map is a critical or escalated alert; the legend called it "open", while
    most open alerts are orange (a stranger's)."""
    await users(db)
    await store(db, factories.alert())
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get("/?lang=nl")).text
        legend = page[page.index('<ul class="legend">'):]
        legend = legend[:legend.index("</ul>")]
        assert "zeer urgent of geëscaleerd</li>" in legend and ">open</li>" not in legend
        english = (await client.get("/?lang=en")).text
        assert "critical or escalated</li>" in english


async def test_the_detail_page_says_what_the_offenders_carried_and_how_many(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Officers going to a robbery need to know it was armed (a stranger's: the report's
    weapons and offender count reached no page and no webhook)."""
    await users(db)
    lookout = Lookout(weapons=[Weapon.FIREARM, Weapon.KNIFE], offender_count=2)
    armed = factories.alert(lookout=lookout)
    alone = factories.alert(lookout=Lookout(offender_count=1))
    await store(db, armed)
    await store(db, alone)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        dutch = (await client.get(f"/alerts/{armed.alert_id}?lang=nl")).text
        assert "Wapens en daders" in dutch
        assert ">vuurwapen, mes of steekwapen · 2 daders</dd>" in dutch
        english = (await client.get(f"/alerts/{armed.alert_id}?lang=en")).text
        assert ">firearm, knife or stabbing weapon · 2 offenders</dd>" in english
        # One offender is one, as the alert line says it: '1 dader(s)' read as a form.
        assert ">1 dader</dd>" in (await client.get(f"/alerts/{alone.alert_id}?lang=nl")).text


async def test_the_detail_page_says_a_series_lists_its_newest_members_only(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A series of hundreds names its newest 50 in the evidence (docs/series-linkage.md,
    "Bounded"); the page says how many there are in all and since when."""
    await users(db)
    first = datetime(2026, 1, 6, 12, tzinfo=UTC)
    member = EvidenceLink(event_id=uuid.uuid4(), event_type="incident_report",
                          occurred_at=first + timedelta(days=300))  # fmt: skip
    extent = SeriesExtent(members=327, listed=50, first_occurred_at=first,
                          last_occurred_at=first + timedelta(days=300))  # fmt: skip
    large = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-327", evidence=[member],
                            series_extent=extent)  # fmt: skip
    whole = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-4", evidence=[member],
                            series_extent=extent.model_copy(update={"members": 4, "listed": 4}))
    await store(db, large)
    await store(db, whole)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        dutch = (await client.get(f"/alerts/{large.alert_id}?lang=nl")).text
        assert "reeks van 327 overvallen sinds 06-01-2026; de nieuwste 50 uitgewerkt" in dutch
        english = (await client.get(f"/alerts/{large.alert_id}?lang=en")).text
        assert "series of 327 robberies since 2026-01-06; the newest 50 detailed" in english
        assert 'id="series-extent"' not in (await client.get(f"/alerts/{whole.alert_id}")).text


async def test_a_unit_sees_and_handles_only_its_own_alerts(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    own = factories.alert(kind=AlertKind.SERIES, series_id="S-AMS-7")
    other = rotterdam_alert()
    await store(db, own)
    await store(db, other)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = await client.get("/")
        assert str(own.alert_id) in page.text and "Overvalreeks" in page.text
        assert str(other.alert_id) not in page.text
        csrf = csrf_token(page.text)

        assert (await client.get(f"/alerts/{other.alert_id}")).status_code == 404
        assert (await client.get("/alerts/not-an-id")).status_code == 404
        refused = await client.post(f"/alerts/{other.alert_id}/acknowledge", data={"csrf": csrf})
        assert refused.status_code == 404
        refused = await client.post(
            f"/alerts/{other.alert_id}/resolve", data={"csrf": csrf, "outcome": "false_alarm"}
        )
        assert refused.status_code == 404
        row = await db.fetchrow("SELECT * FROM alert WHERE alert_id = $1", other.alert_id)
        assert row["acknowledged_at"] is None and row["resolved_at"] is None

        detail = await client.get(f"/alerts/{own.alert_id}")
        assert detail.status_code == 200
        assert "Onderbouwing" in detail.text and str(own.evidence[0].event_id) in detail.text
        assert "S-AMS-7" in detail.text

    views = await audit_rows(db, "alert_viewed")
    assert [(row["actor"], row["subject"]) for row in views] == [
        ("desk:ams.coordinator", "list:amsterdam"),
        ("desk:ams.coordinator", str(own.alert_id)),
    ]
    assert json.loads(views[0]["details"])["alert_ids"] == [str(own.alert_id)]
    assert await audit_rows(db, "alert_acknowledged") == []


async def test_the_list_takes_event_times_from_their_column_not_the_payload_text(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """An alert stored before the contract refused offsets past ±14:00 may hold one in its
    payload, which PostgreSQL cannot cast (none past ±15:59): the unit's whole list, live and
    history, answered 500 for as long as that alert was in it."""
    await users(db)
    live, past = factories.alert(), factories.alert(historical=True)
    for alert in (live, past):
        await store(db, alert)
    await db.execute(
        "UPDATE alert SET payload = jsonb_set(payload, '{occurred_at}', "
        "'\"2026-12-07T07:00:00+23:59\"')"
    )
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = await client.get("/")
        assert page.status_code == 200, page.text
        assert str(live.alert_id) in page.text and str(past.alert_id) in page.text


async def test_acknowledge_and_resolve_write_the_row_and_the_audit_log(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL)
    reported = factories.alert()
    await store(db, hold_up)
    await store(db, reported)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        csrf = csrf_token((await client.get("/")).text)
        ack = f"/alerts/{hold_up.alert_id}/acknowledge"
        assert (await client.post(ack, data={"next": "/"})).status_code == 403  # no CSRF token
        done = await client.post(ack, data={"csrf": csrf, "next": "https://elders.example/"})
        assert (done.status_code, done.headers["location"]) == (303, "/")
        again = await client.post(ack, data={"csrf": csrf})  # a double click changes nothing
        assert again.status_code == 303

        resolve = f"/alerts/{hold_up.alert_id}/resolve"
        unknown = await client.post(resolve, data={"csrf": csrf, "outcome": "weet niet"})
        assert unknown.status_code == 422
        resolved = await client.post(
            resolve,
            data={"csrf": csrf, "outcome": "arrested", "next": f"/alerts/{hold_up.alert_id}"},
        )
        assert resolved.headers["location"] == f"/alerts/{hold_up.alert_id}"
        # Resolving what nobody acknowledged acknowledges it as well.
        await client.post(
            f"/alerts/{reported.alert_id}/resolve", data={"csrf": csrf, "outcome": "false_alarm"}
        )
        detail = await client.get(f"/alerts/{hold_up.alert_id}")
        assert "Afgehandeld" in detail.text and "Aangehouden" in detail.text

    row = await db.fetchrow("SELECT * FROM alert WHERE alert_id = $1", hold_up.alert_id)
    assert (row["acknowledged_by"], row["resolved_by"], row["outcome"]) == (
        AMS_USER,
        AMS_USER,
        "arrested",
    )
    assert row["acknowledged_at"] <= row["resolved_at"]
    other = await db.fetchrow("SELECT * FROM alert WHERE alert_id = $1", reported.alert_id)
    assert (other["acknowledged_by"], other["outcome"]) == (AMS_USER, "false_alarm")

    acks = await audit_rows(db, "alert_acknowledged")
    assert [row["subject"] for row in acks] == [str(hold_up.alert_id), str(reported.alert_id)]
    assert [json.loads(row["details"])["implied_by_resolve"] for row in acks] == [False, True]
    resolves = await audit_rows(db, "alert_resolved")
    assert [(row["subject"], json.loads(row["details"])["outcome"]) for row in resolves] == [
        (str(hold_up.alert_id), "arrested"),
        (str(reported.alert_id), "false_alarm"),
    ]


# --- live -----------------------------------------------------------------------------------


async def test_stream_delivers_new_alerts_of_the_unit_and_their_changes(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    theirs, ours = rotterdam_alert(), factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = await client.get("/")
        async with client.stream("GET", "/stream", params={"after": position(page.text)}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            # Both on one partition: once ours arrives, theirs was handed out before it.
            events = EventReader(stream)
            await publish_alerts(settings, theirs, ours)
            seen = await events.until(lambda name, data: data.get("alert_id") == str(ours.alert_id))
            assert all(data["alert_id"] != str(theirs.alert_id) for _, data in seen)
            name, data = seen[-1]
            assert (name, data["state"]) == ("alert", "open")
            assert "Overval gaande" in data["html"] and "Bevestigen" in data["html"]

            # The desk stored what it showed, so it can be acknowledged before the sink runs.
            csrf = csrf_token(page.text)
            ack = await client.post(f"/alerts/{ours.alert_id}/acknowledge", data={"csrf": csrf})
            assert ack.status_code == 303
            name, data = (await events.until(lambda name, data: name == "change"))[-1]
            assert (data["alert_id"], data["state"]) == (str(ours.alert_id), "acknowledged")
            assert "Bevestigd door ams.coordinator" in data["html"]
    assert await db.fetchval("SELECT count(*) FROM alert") == 2


async def test_a_change_on_one_desk_reaches_the_streams_of_another(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)
    await store(db, hold_up)
    async with (
        served_desk(settings) as first_url,
        served_desk(settings) as second_url,
        logged_in(first_url) as first,
        logged_in(second_url) as second,
    ):
        watching = await second.get("/")
        async with second.stream(
            "GET", "/stream", params={"after": position(watching.text)}
        ) as stream:
            events = EventReader(stream)
            page = await first.get("/")
            await first.post(
                f"/alerts/{hold_up.alert_id}/acknowledge", data={"csrf": csrf_token(page.text)}
            )
            _, data = (await events.until(lambda name, data: name == "change"))[-1]
            assert (data["alert_id"], data["state"]) == (str(hold_up.alert_id), "acknowledged")


async def test_a_stream_ends_with_its_session_while_alerts_keep_coming(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """The session is checked at least every keepalive_seconds, not only when the stream is
    idle: a unit with an alert or change more often than that kept streaming to a disabled user
    (or a cookie logged out) for as long as the alerts kept coming."""
    await users(db)
    thresholds = DeskThresholds(keepalive_seconds=1)
    async with (
        served_desk(settings, thresholds=thresholds) as base_url,
        logged_in(base_url) as client,
    ):
        page = await client.get("/")
        async with client.stream("GET", "/stream", params={"after": position(page.text)}) as stream:
            events = EventReader(stream)
            first = factories.alert()
            await publish_alerts(settings, first)
            await events.until(lambda name, data: data.get("alert_id") == str(first.alert_id))
            await disable_user(db, AMS_USER)
            producer = make_producer(settings)
            await producer.start()

            async def keep_coming() -> None:
                while True:  # an alert of the unit every 0.2 s, until cancelled
                    record = encode(ALERTS, factories.alert(), "urn:test")
                    await producer.send_and_wait(
                        ALERTS.name(settings.topic_prefix), value=record.value, key=record.key,
                        headers=record.headers, partition=0,
                    )  # fmt: skip
                    await asyncio.sleep(0.2)

            coming = asyncio.create_task(keep_coming())
            try:
                seen = await events.until(lambda name, data: name == "logout", timeout=8)
            finally:
                coming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await coming
                await producer.stop()
            # Alerts raised in the moment before the check may still be shown; not for long.
            assert len(seen) < 15, seen


async def test_stream_from_an_unknown_position_asks_for_a_reload(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    async with served_desk(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as anonymous:
            assert (await anonymous.get("/stream")).status_code == 401
        async with (
            logged_in(base_url) as client,
            client.stream("GET", "/stream", params={"after": "0ther:12"}) as stream,
        ):
            [(name, data)] = await EventReader(stream).until(lambda name, data: True)
            assert (name, data["reason"]) == ("reload", "unknown position")


async def test_tail_says_the_units_new_alerts_in_dutch(settings: Settings) -> None:
    lines: list[str] = []
    ready, stop = asyncio.Event(), asyncio.Event()
    tailing = asyncio.create_task(
        tail(settings, PoliceUnit.AMSTERDAM, lines.append, stop=stop, ready=ready)
    )
    try:
        await asyncio.wait_for(ready.wait(), 30)
        ours = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL)
        await publish_alerts(settings, rotterdam_alert(), ours)
        await eventually(lambda: _has(lines, str(ours.alert_id)), timeout=30)
    finally:
        stop.set()
        await tailing
    assert lines[0] == "Live meldingen van eenheid Amsterdam (Ctrl-C stopt)"
    [line] = lines[1:]  # not Rotterdam's
    assert "[ZEER URGENT] Overval gaande · eenheid Amsterdam" in line


async def test_tail_leaves_history_out_unless_asked(settings: Settings) -> None:
    # A CBL import while the tail runs: hundreds of history lines buried the live ones under
    # a heading saying "Live meldingen". Now the tail shows what the desk's live list shows.
    for historical, heading in (
        (False, "Live meldingen van eenheid Amsterdam (Ctrl-C stopt)"),
        (True, "Meldingen van eenheid Amsterdam, live en historie (Ctrl-C stopt)"),
    ):
        history = factories.alert(
            severity=Severity.MEDIUM, historical=True,
            occurred_at=datetime(2026, 3, 14, tzinfo=UTC),
        )  # fmt: skip
        lines = await _tail_until_live(settings, history, historical=historical)
        assert lines[0] == heading
        printed = [line for line in lines[1:] if str(history.alert_id) in line]
        assert len(printed) == (1 if historical else 0), lines


async def _tail_until_live(settings: Settings, history: Alert, *, historical: bool) -> list[str]:
    """What the tail says when `history` and then a live hold-up reach the alerts topic."""
    lines: list[str] = []
    live = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL)
    ready, stop = asyncio.Event(), asyncio.Event()
    tailing = asyncio.create_task(
        tail(settings, PoliceUnit.AMSTERDAM, lines.append, historical=historical,
             stop=stop, ready=ready)
    )  # fmt: skip
    try:
        await asyncio.wait_for(ready.wait(), 30)
        await publish_alerts(settings, history, live)  # in this order: history first
        await eventually(lambda: _has(lines, str(live.alert_id)), timeout=30)
    finally:
        stop.set()
        await tailing
    return lines


async def _has(lines: list[str], text: str) -> bool:
    return any(text in line for line in lines)


# --- escalation -----------------------------------------------------------------------------


async def test_escalation_marks_open_hold_ups_once_after_the_threshold(
    settings: Settings, db: asyncpg.Connection
) -> None:
    clock = FakeClock()
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)
    handled = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)
    reported = factories.alert(kind=AlertKind.ROBBERY_REPORTED)
    # Verified by the centre's camera or a second member of staff: a hold-up as much as one
    # the stage took as real; unless a silence (a site's maintenance) muted it for the desk.
    verified = factories.alert(kind=AlertKind.VERIFIED_ALARM, severity=Severity.CRITICAL)
    silenced = factories.alert(kind=AlertKind.VERIFIED_ALARM, severity=Severity.CRITICAL)
    for alert in (hold_up, handled, reported, verified, silenced):
        await store(db, alert)
    await _desk_row(db, silenced, "muted", f"silence {uuid.uuid4()}")
    await db.execute(
        "UPDATE alert SET acknowledged_at = now(), acknowledged_by = 'x' WHERE alert_id = $1",
        handled.alert_id,
    )
    pool = await create_pool(settings, max_size=2)
    try:
        alerts = AlertStore(pool, channel=change_channel(settings), clock=clock)
        after, window = timedelta(seconds=120), timedelta(hours=24)
        clock.offset = timedelta(seconds=119)  # one second early: not yet
        assert await alerts.escalate_due(after=after, window=window) == []
        clock.offset = timedelta(seconds=121)
        escalated_now = await alerts.escalate_due(after=after, window=window)
        assert sorted(escalated_now) == sorted([hold_up.alert_id, verified.alert_id])
        assert await alerts.escalate_due(after=after, window=window) == []  # once
        clock.offset = timedelta(hours=25)  # an old open hold-up is history, not an emergency
        assert await alerts.escalate_due(after=after, window=window) == []
    finally:
        await pool.close()
    escalated = await db.fetch("SELECT alert_id FROM alert WHERE escalated_at IS NOT NULL")
    assert sorted(row["alert_id"] for row in escalated) == sorted([hold_up.alert_id,
                                                                   verified.alert_id])  # fmt: skip
    audits = await audit_rows(db, "alert_escalated")
    assert sorted((a["actor"], a["subject"]) for a in audits) == sorted(
        ("system:desk", str(a.alert_id)) for a in (hold_up, verified)
    )
    assert all(json.loads(a["details"])["unacknowledged_s"] >= 120 for a in audits)


async def test_desk_escalates_an_unacknowledged_hold_up_live(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    clock = FakeClock()
    thresholds = DeskThresholds(escalate_hold_up_after_seconds=120, escalation_check_seconds=0.05)
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL)
    await store(db, hold_up)
    async with (
        served_desk(settings, thresholds=thresholds, clock=clock) as base_url,
        logged_in(base_url) as client,
    ):
        page = await client.get("/")
        assert 'id="escalation" class="banner" role="alert" hidden' in page.text
        async with client.stream("GET", "/stream", params={"after": position(page.text)}) as stream:
            events = EventReader(stream)
            clock.offset = timedelta(seconds=121)  # two minutes pass without an acknowledgement
            _, data = (await events.until(lambda name, data: name == "change"))[-1]
            assert (data["alert_id"], data["state"]) == (str(hold_up.alert_id), "escalated")
            assert "GEËSCALEERD" in data["html"]
        reloaded = await client.get("/")
        assert "niet binnen 120 seconden bevestigd" in reloaded.text
        assert 'role="alert" hidden' not in reloaded.text
        csrf = csrf_token(reloaded.text)
        await client.post(f"/alerts/{hold_up.alert_id}/acknowledge", data={"csrf": csrf})
    row = await db.fetchrow("SELECT * FROM alert WHERE alert_id = $1", hold_up.alert_id)
    assert row["escalated_at"] is not None and row["acknowledged_by"] == AMS_USER
    [ack] = await audit_rows(db, "alert_acknowledged")
    assert json.loads(ack["details"])["was_escalated"] is True


# --- users ----------------------------------------------------------------------------------


async def test_user_management_refuses_what_it_cannot_do(db: asyncpg.Connection) -> None:
    from consumers.desk import DeskUserError, list_users, set_password

    await users(db)
    with pytest.raises(DeskUserError, match="exists already"):
        await add_user(db, AMS_USER, PASSWORD, PoliceUnit.AMSTERDAM)
    with pytest.raises(DeskUserError, match="at least 12"):
        await add_user(db, "nieuw", "kort", PoliceUnit.AMSTERDAM)
    with pytest.raises(DeskUserError, match="username"):
        await add_user(db, "Hoofd Agent!", PASSWORD, PoliceUnit.AMSTERDAM)
    with pytest.raises(DeskUserError, match="no user"):
        await disable_user(db, "niemand")
    await set_password(db, AMS_USER, "een-nieuw-lang-wachtwoord")
    await disable_user(db, ROT_USER)
    listed = [(user.username, user.police_unit, refused) for user, refused in await list_users(db)]
    assert listed == [
        (AMS_USER, PoliceUnit.AMSTERDAM, None),
        (ROT_USER, PoliceUnit.ROTTERDAM, "disabled"),
    ]


async def test_the_desk_stores_an_alert_about_an_event_past_retention_without_its_payload(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # The desk may write an alert before the sink does (take_in): the same rule holds there.
    old = factories.alert(occurred_at=datetime.now(UTC) - timedelta(days=40))
    recent = factories.alert(occurred_at=datetime.now(UTC) - timedelta(days=1))
    pool = await create_pool(settings, max_size=2)
    try:
        alerts = AlertStore(pool, channel=change_channel(settings), clock=FakeClock(),
                            retention_days=30)  # fmt: skip
        for alert in (old, recent):
            await alerts.take_in(alert)
    finally:
        await pool.close()
    rows = {row["alert_id"]: row for row in await db.fetch(
        "SELECT alert_id, payload, payload_purged_at FROM alert")}  # fmt: skip
    assert_without_personal_data(rows[old.alert_id]["payload"], old)
    assert rows[old.alert_id]["payload_purged_at"] is not None
    assert factories.PLATE_PSEUDONYM in rows[recent.alert_id]["payload"]
    # The page shows what stays, and says what went.
    await users(db)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        detail = (await client.get(f"/alerts/{old.alert_id}")).text
        fresh = (await client.get(f"/alerts/{recent.alert_id}")).text
    assert 'id="purged"' in detail and "Na de bewaartermijn verwijderd" in detail
    assert factories.PLATE_PSEUDONYM[:18] not in detail
    assert 'id="purged"' not in fresh and factories.PLATE_PSEUDONYM[:18] in fresh
