"""The reconnaissance web form: log in, see the Dutch form, report, find the sighting on Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from heterdaad.vocabulary import BEHAVIOUR_LABELS
from producers.api.form import COOKIE, form_token
from producers.api.staff_sessions import StaffSessionError, issue_codes
from schemas.events import ReconSighting
from schemas.pseudonym import pseudonymise_plate
from schemas.topics import RECON_SIGHTINGS
from schemas.wire import decode_as
from tests.kafka_helpers import read_topic
from tests.producers import bodies
from tests.producers.intake_support import Registry, published_count

if TYPE_CHECKING:
    import asyncpg
    import httpx

    from heterdaad.settings import Settings


async def code_for(
    db: asyncpg.Connection, organisation_id: str = "retail-a", branch_id: str = "a-001"
) -> str:
    [code] = await issue_codes(db, organisation_id, branch_id, valid_for=timedelta(days=1))
    return code


async def log_in(client: httpx.AsyncClient, code: str) -> httpx.Response:
    """Post the code from the login page, with the page's form token (and its cookie)."""
    page = await client.get("/meld/login")
    token = hidden_value(page.text, "login_token")
    return await client.post("/meld/login", data={"code": code, "login_token": token})


async def logged_in(client: httpx.AsyncClient, db: asyncpg.Connection) -> str:
    """Log in with a fresh code of retail-a's branch a-001; the session token of the cookie."""
    response = await log_in(client, await code_for(db))
    assert response.status_code == 303, response.text
    return response.cookies[COOKIE]


async def post_form(
    client: httpx.AsyncClient, fields: dict[str, str | list[str]]
) -> httpx.Response:
    """Post the sighting form as our page does: with the form token the page of this session
    carries."""
    page = await client.get("/meld")
    token = hidden_value(page.text, "form_token")
    return await client.post("/meld", data=fields | {"form_token": token})


async def log_out(client: httpx.AsyncClient) -> httpx.Response:
    page = await client.get("/meld")
    token = hidden_value(page.text, "form_token")
    return await client.post("/meld/logout", data={"form_token": token})


def hidden_value(page: str, name: str) -> str:
    """The value the page filled in for a field."""
    match = re.search(rf'name="{name}"\s+value="([^"]*)"', page)
    assert match is not None, name
    return match[1]


def sighting_form(event_id: str, **overrides: str | list[str]) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        "event_id": event_id,
        "branch_id": "a-001",
        "behaviours": ["films_entrance", "waits_in_vehicle"],
        "height_band": "180_195",
        "build": "slim",
        "face_covering": "cap",
        "clothing": "zwarte jas, witte sneakers",
        "vehicle_kind": "car",
        "vehicle_make": "Volkswagen",
        "vehicle_colour": "grijs",
        "plate": bodies.RAW_PLATE,
        "free_text": "Stond tien minuten met draaiende motor voor de deur.",
    }
    return fields | overrides


async def test_form_asks_to_log_in_first(registry: Registry, client: httpx.AsyncClient) -> None:
    response = await client.get("/meld")
    assert response.status_code == 303
    assert response.headers["location"] == "/meld/login"
    login = await client.get("/meld/login")
    assert login.status_code == 200
    assert "Inlogcode" in login.text


async def test_login_is_refused_without_a_valid_code(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    code = await code_for(db)
    expired = await code_for(db)
    await db.execute(
        "UPDATE meld_code SET expires_at = now() - interval '1 second' "
        "WHERE code_hash = encode(sha256($1::bytea), 'hex')",
        expired.encode(),
    )
    assert (await log_in(client, code)).status_code == 303
    client.cookies.clear()
    for typed in (
        "ABCD-EFGH-JKMN",  # guessed
        registry.keys["retail-a"],  # the organisation's API key is no login
        code,  # spent by its first use
        expired,
    ):
        response = await log_in(client, typed)
        assert response.status_code == 401, typed
        assert COOKIE not in response.cookies


async def test_a_login_posted_from_another_site_is_refused_and_the_code_kept(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Login CSRF: a page of another organisation posting one of its own codes logged this
    browser in at its branch, over the staff's own session; their reports went there."""
    code = await code_for(db)
    for token in (None, "forged"):  # no form token; one that is not this browser's
        data = {"code": code} if token is None else {"code": code, "login_token": token}
        forged = await client.post("/meld/login", data=data)
        assert forged.status_code == 403
        assert COOKIE not in forged.cookies
        assert "verlopen" in forged.text
        # The code is filled in again and not spent: logging in from the page works.
        assert hidden_value(forged.text, "code") == code
    assert (await log_in(client, code)).status_code == 303


async def test_the_pages_are_not_kept_framed_or_open_to_scripts(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """The QR link's page holds a one-time code, a refused report what staff saw: a shop's
    shared browser kept both in its cache, and any site could frame the form."""
    code = await code_for(db)
    pages = [await client.get(f"/meld/login?code={code}")]
    await log_in(client, code)
    pages.append(await client.get("/meld"))
    pages.append(await post_form(client, sighting_form(str(uuid.uuid4()), behaviours=[])))
    assert [page.status_code for page in pages] == [200, 200, 422]
    for page in pages:
        assert page.headers["cache-control"] == "no-store"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy  # so 'none', from default-src
        assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("organisation_id", ["politie-ams", "pac-1"])
async def test_no_codes_for_organisations_that_report_no_sightings(
    registry: Registry, db: asyncpg.Connection, organisation_id: str
) -> None:
    await db.execute("UPDATE branch SET organisation_id = $1 WHERE branch_id = 'b-001'",
                     organisation_id)  # fmt: skip
    with pytest.raises(StaffSessionError, match="reports no sightings"):
        await code_for(db, organisation_id, "b-001")


async def test_no_codes_for_another_s_branch(registry: Registry, db: asyncpg.Connection) -> None:
    with pytest.raises(StaffSessionError, match="not a branch"):
        await code_for(db, "retail-a", "b-001")


async def test_the_api_key_is_not_a_session(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    # Issue 11, finding 5: the cookie was the raw API key.
    client.cookies.set(COOKIE, registry.keys["retail-a"], path="/meld")
    response = await client.get("/meld")
    assert response.status_code == 303
    assert response.headers["location"] == "/meld/login"


async def test_the_session_is_not_an_api_key(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    token = await logged_in(client, db)
    assert token != registry.keys["retail-a"] and "hd_" not in token
    response = await client.post(
        "/v1/recon-sightings", json=bodies.recon_sighting(),
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 401


async def test_logout_revokes_the_session(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    token = await logged_in(client, db)
    assert (await client.get("/meld")).status_code == 200
    assert (await log_out(client)).status_code == 303
    # A copy of the cookie kept from before the logout is worth nothing.
    client.cookies.set(COOKIE, token, path="/meld")
    assert (await client.get("/meld")).status_code == 303
    response = await client.post("/meld", data=sighting_form(str(uuid.uuid4())))
    assert response.status_code == 303


async def test_a_session_expires(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await logged_in(client, db)
    assert (await client.get("/meld")).status_code == 200
    await db.execute("UPDATE meld_session SET expires_at = now() - interval '1 second'")
    assert (await client.get("/meld")).status_code == 303


async def test_the_qr_link_fills_the_code_in_but_does_not_spend_it(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    code = await code_for(db)
    page = await client.get("/meld/login", params={"code": code})
    assert page.status_code == 200
    assert f'value="{code}"' in page.text
    assert COOKIE not in page.cookies
    assert (await log_in(client, code)).status_code == 303


@pytest.mark.integration
async def test_an_admin_issues_codes_from_the_cli(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "heterdaad"), "org", "meld-code", "retail-a", "a-001",
        "--count", "2", env=os.environ | settings.to_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    assert await process.wait() == 0, output
    links = re.findall(r"(\w{4}-\w{4}-\w{4})  (\S+/meld/login\?code=(\w{12}))", output)
    assert len(links) == 2, output
    readable, _, code = links[0]
    # Typed as printed (dashes, lower case) it works, once.
    assert (await log_in(client, readable.lower())).status_code == 303
    client.cookies.clear()
    assert (await log_in(client, code)).status_code == 401
    assert (await log_in(client, links[1][2])).status_code == 303


async def test_form_renders_in_dutch_with_own_branches(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await logged_in(client, db)
    response = await client.get("/meld")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="nl">' in page
    assert 'name="viewport"' in page
    for label in BEHAVIOUR_LABELS.values():
        assert label.replace("'", "&#39;") in page
    # The branch of the code, by chain and address: its id is only the value posted.
    assert '<option value="a-001" selected>Super A, Damrak 1, Amsterdam</option>' in page
    assert "b-001" not in page


async def test_posting_the_form_publishes_a_sighting(
    settings: Settings, db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    await logged_in(client, db)
    page = (await client.get("/meld")).text
    event_id = hidden_value(page, "event_id")
    submitted = sighting_form(event_id, observed_at=hidden_value(page, "observed_at"))
    submitted["form_token"] = hidden_value(page, "form_token")
    response = await client.post("/meld", data=submitted)
    assert response.status_code == 202, response.text
    assert "Bedankt voor uw melding" in response.text
    assert event_id in response.text
    # Named as the form named it; it read 'bij filiaal a-001', the organisation's number.
    assert "<p>Filiaal: Super A, Damrak 1, Amsterdam</p>" in response.text
    assert "a-001" not in response.text.replace(event_id, "")

    [record] = await read_topic(
        settings.kafka_bootstrap, RECON_SIGHTINGS.name(settings.topic_prefix), count=1
    )
    raw = record.value + b"".join(value for _, value in record.headers)
    for form in bodies.PLATE_FORMS:
        assert form not in raw
    sighting = decode_as(ReconSighting, RECON_SIGHTINGS, record.value, record.headers)
    assert str(sighting.event_id) == event_id
    assert sighting.reporter_org == "retail-a"
    assert sighting.branch is not None and sighting.branch.branch_id == "a-001"
    assert [b.value for b in sighting.behaviours] == ["films_entrance", "waits_in_vehicle"]
    assert sighting.persons[0].clothing == ["zwarte jas", "witte sneakers"]
    assert sighting.vehicle is not None
    assert sighting.vehicle.plate_pseudonym == pseudonymise_plate(
        bodies.RAW_PLATE, settings.require_plate_key(), settings.plate_key_id
    )

    # A double submit of the same page is a replay: confirmed again, published once.
    again = await client.post("/meld", data=submitted)
    assert again.status_code == 202
    assert await published_count(settings, RECON_SIGHTINGS) == 1
    actions = await db.fetch(  # the registry's keys are audited too
        "SELECT action, details FROM audit_log WHERE action <> 'api_key_issued' ORDER BY at"
    )
    assert [row["action"] for row in actions] == ["login", "event_accepted", "event_accepted"]
    assert json.loads(actions[2]["details"])["replay"] is True


async def test_a_report_posted_by_another_site_is_not_taken_in(
    settings: Settings, db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    """The session's cookie goes along with any post the browser makes to /meld; only our page
    has the session's form token. A browser that ignores SameSite posted another site's form."""
    await logged_in(client, db)
    other_session = form_token(secrets.token_urlsafe(32))  # another session's, well formed
    page = (await client.get("/meld")).text
    for forged in ({}, {"form_token": ""}, {"form_token": other_session},
                   {"form_token": hidden_value(page, "form_token")[:-1]}):  # fmt: skip
        response = await client.post("/meld", data=sighting_form(str(uuid.uuid4())) | forged)
        assert response.status_code == 403, forged
        assert "Het formulier is verlopen en niet verstuurd" in response.text
        # Shown again as it was entered, except the plate, with this session's own token.
        assert "zwarte jas, witte sneakers" in response.text
        assert bodies.RAW_PLATE not in response.text
        assert hidden_value(response.text, "form_token") == hidden_value(page, "form_token")
    # Nor can another site log staff out.
    assert (await client.post("/meld/logout")).headers["location"] == "/meld"
    assert (await client.get("/meld")).status_code == 200
    assert await published_count(settings, RECON_SIGHTINGS) == 0
    # From our page it goes.
    assert (await post_form(client, sighting_form(str(uuid.uuid4())))).status_code == 202


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"behaviours": []}, "Wat zag u: vink ten minste één ding aan.",
                     id="nothing ticked"),
        pytest.param({"branch_id": "onbekend"}, "kies een van uw filialen", id="unknown branch"),
        pytest.param(
            {"plate": "!!"}, "Kenteken: een kenteken heeft 2 tot 12 letters en cijfers",
            id="unreadable plate",
        ),
        pytest.param({"observed_at": "gisteren"}, "Tijdstip", id="no time"),
        # A tester's: these came back in English, under an internal path for the clothing.
        pytest.param(
            {"observed_at": "2099-01-01T12:00"}, "Tijdstip: ligt meer dan 2 minuten in de toekomst",
            id="in the future",
        ),
        pytest.param(
            {"clothing": "zwarte jas, witte sneakers, " + "x" * 61},
            "Kleding: mag ten hoogste 60 tekens hebben", id="too long",
        ),
        # The night summer time began: it was taken as 03:30 summer time without a word.
        pytest.param(
            {"observed_at": "2026-03-29T02:30"},
            "Tijdstip: 02:30 op 29-03-2026 bestaat niet in Nederlandse tijd: die nacht ging de "
            "klok van 02:00 naar 03:00 (begin zomertijd); controleer het tijdstip van het incident",
            id="a time the clocks skip",
        ),
        # A choice the page did not offer (a changed post, an old page): named by the form's
        # label, not the path ('persons.0.height_band'), and without the values it takes.
        pytest.param({"height_band": "reus"}, "Lengte: kies een van de mogelijkheden in de lijst.",
                     id="no such height"),
        pytest.param({"vehicle_kind": "tank"},
                     "Voertuig: kies een van de mogelijkheden in de lijst.", id="no such vehicle"),
    ],
)
async def test_form_errors_are_shown_in_dutch(
    settings: Settings,
    registry: Registry,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    overrides: dict[str, str | list[str]],
    message: str,
) -> None:
    await logged_in(client, db)
    response = await post_form(client, sighting_form(str(uuid.uuid4()), **overrides))
    assert response.status_code == 422
    assert message in response.text
    [errors] = re.findall(r'<div class="fout">.*?</div>', response.text, re.DOTALL)
    assert "persons." not in errors and "under_165" not in errors and "'" not in errors, errors
    # The form comes back filled in, except for the plate, which is never echoed.
    assert "zwarte jas, witte sneakers" in response.text
    assert "!!" not in response.text and bodies.RAW_PLATE not in response.text
    assert await published_count(settings, RECON_SIGHTINGS) == 0


async def test_the_form_names_every_reason_at_once(
    settings: Settings, registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    # Nothing ticked stopped the form before the intake: the time ahead and the plate were
    # heard of only after the next post.
    await logged_in(client, db)
    overrides: dict[str, str | list[str]] = {
        "behaviours": [], "observed_at": "2099-01-01T12:00", "plate": "!!",
    }  # fmt: skip
    response = await post_form(client, sighting_form(str(uuid.uuid4()), **overrides))
    assert response.status_code == 422
    for message in (
        "Wat zag u: vink ten minste één ding aan.",
        "Tijdstip: ligt meer dan 2 minuten in de toekomst",
        "Kenteken: een kenteken heeft 2 tot 12 letters en cijfers",
    ):
        assert message in response.text, message
    assert await published_count(settings, RECON_SIGHTINGS) == 0


async def test_a_time_of_the_hour_that_comes_twice_is_taken_in_summer_time(
    settings: Settings, registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """25-10-2026 02:30 is there twice (the clocks went back from 03:00 to 02:00): taken the
    first time, in summer time, as the CBL import takes it (docs/cbl-import.md)."""
    await logged_in(client, db)
    event_id = str(uuid.uuid4())
    response = await post_form(client, sighting_form(event_id, observed_at="2026-10-25T02:30"))
    assert response.status_code == 202, response.text
    [record] = await read_topic(
        settings.kafka_bootstrap, RECON_SIGHTINGS.name(settings.topic_prefix), count=1
    )
    sighting = decode_as(ReconSighting, RECON_SIGHTINGS, record.value, record.headers)
    assert sighting.observed_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


async def test_a_time_posted_with_an_offset_keeps_it(
    settings: Settings, registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A browser's datetime-local has no offset; a client posting one (+05:00 here) had it
    dropped and the wall time read as Dutch time, five hours off (a stranger's pass)."""
    await logged_in(client, db)
    posted = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    at_plus_five = posted.astimezone(timezone(timedelta(hours=5))).isoformat()
    response = await post_form(client, sighting_form(str(uuid.uuid4()), observed_at=at_plus_five))
    assert response.status_code == 202, response.text
    [record] = await read_topic(
        settings.kafka_bootstrap, RECON_SIGHTINGS.name(settings.topic_prefix), count=1
    )
    sighting = decode_as(ReconSighting, RECON_SIGHTINGS, record.value, record.headers)
    assert sighting.observed_at == posted


async def test_form_answers_alike_for_another_retailers_branch_and_an_unknown_one(
    settings: Settings, registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Issue 11 #16: a 403 for b-001 and a 422 for an unknown id told which branch ids exist."""
    # Staff report at the branch their code was for; any other is answered as an unknown one.
    await logged_in(client, db)
    event_id = str(uuid.uuid4())
    pages = {}
    for branch_id in ("b-001", "zz-999"):
        response = await post_form(client, sighting_form(event_id, branch_id=branch_id))
        assert response.status_code == 422, (branch_id, response.text)
        assert "Filiaal: kies een van uw filialen." in response.text
        pages[branch_id] = response.text.replace(branch_id, "<branch>")
    assert pages["b-001"] == pages["zz-999"]
    assert await published_count(settings, RECON_SIGHTINGS) == 0
