"""The reconnaissance web form: log in, see the Dutch form, report, find the sighting on Kafka."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING

import pytest

from producers.api.pages import BEHAVIOUR_LABELS
from schemas.events import ReconSighting
from schemas.pseudonym import pseudonymise_plate
from schemas.topics import RECON_SIGHTINGS
from schemas.wire import decode_as
from tests.kafka_helpers import read_topic
from tests.producers import bodies
from tests.producers.intake_support import Registry, published_count, register, running_api

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    import httpx

    from heterdaad.settings import Settings


@pytest.fixture
async def registry(db: asyncpg.Connection) -> Registry:
    return await register(db)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(settings) as (_, client):
        yield client


async def log_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/meld/login", data={"sleutel": key})


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
    assert "Sleutel" in login.text


@pytest.mark.parametrize(
    ("organisation_id", "status"),
    [
        pytest.param(None, 401, id="unknown key"),
        pytest.param("politie-ams", 403, id="police may not report"),
        pytest.param("pac-1", 403, id="alarm centres post activations only"),
    ],
)
async def test_login_is_refused(
    registry: Registry, client: httpx.AsyncClient, organisation_id: str | None, status: int
) -> None:
    key = "hd_000000000000_guessed" if organisation_id is None else registry.keys[organisation_id]
    response = await log_in(client, key)
    assert response.status_code == status
    assert "heterdaad_meld" not in response.cookies


@pytest.mark.parametrize("organisation_id", ["politie-ams", "pac-1"])
async def test_form_is_refused_to_a_key_that_may_not_report(
    registry: Registry, client: httpx.AsyncClient, organisation_id: str
) -> None:
    # The login never sets this cookie for such a key: it is forged (or copied by hand).
    client.cookies.set("heterdaad_meld", registry.keys[organisation_id], path="/meld")
    response = await client.get("/meld")
    assert response.status_code == 403
    assert "Met deze sleutel kunt u geen voorverkenningen melden" in response.text
    assert 'action="/meld/login"' in response.text
    assert 'action="/meld"' not in response.text
    # The useless session is ended.
    assert 'heterdaad_meld=""' in response.headers["set-cookie"]


async def test_form_renders_in_dutch_with_own_branches(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    await log_in(client, registry.keys["retail-a"])
    response = await client.get("/meld")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="nl">' in page
    assert 'name="viewport"' in page
    for label in BEHAVIOUR_LABELS.values():
        assert label.replace("'", "&#39;") in page
    assert '<option value="a-001">' in page
    assert "b-001" not in page


async def test_posting_the_form_publishes_a_sighting(
    settings: Settings, db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    await log_in(client, registry.keys["retail-a"])
    page = (await client.get("/meld")).text
    event_id = hidden_value(page, "event_id")
    submitted = sighting_form(event_id, observed_at=hidden_value(page, "observed_at"))
    response = await client.post("/meld", data=submitted)
    assert response.status_code == 202, response.text
    assert "Bedankt voor uw melding" in response.text
    assert event_id in response.text

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
    actions = await db.fetch("SELECT action, details FROM audit_log ORDER BY at")
    assert [row["action"] for row in actions] == ["login", "event_accepted", "event_accepted"]
    assert json.loads(actions[2]["details"])["replay"] is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"behaviours": []}, "kies ten minste één gedraging", id="nothing ticked"),
        pytest.param({"branch_id": "onbekend"}, "kies een van uw filialen", id="unknown branch"),
        pytest.param({"plate": "!!"}, "Kenteken", id="unreadable plate"),
        pytest.param({"observed_at": "gisteren"}, "Tijdstip", id="no time"),
    ],
)
async def test_form_errors_are_shown_in_dutch(
    settings: Settings,
    registry: Registry,
    client: httpx.AsyncClient,
    overrides: dict[str, str | list[str]],
    message: str,
) -> None:
    await log_in(client, registry.keys["retail-a"])
    response = await client.post("/meld", data=sighting_form(str(uuid.uuid4()), **overrides))
    assert response.status_code == 422
    assert message in response.text
    # The form comes back filled in, except for the plate, which is never echoed.
    assert "zwarte jas, witte sneakers" in response.text
    assert "!!" not in response.text and bodies.RAW_PLATE not in response.text
    assert await published_count(settings, RECON_SIGHTINGS) == 0


async def test_form_answers_alike_for_another_retailers_branch_and_an_unknown_one(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    """Issue 11 #16: a 403 for b-001 and a 422 for an unknown id told which branch ids exist."""
    await log_in(client, registry.keys["retail-a"])
    event_id = str(uuid.uuid4())
    pages = {}
    for branch_id in ("b-001", "zz-999"):
        response = await client.post("/meld", data=sighting_form(event_id, branch_id=branch_id))
        assert response.status_code == 422, (branch_id, response.text)
        assert "Filiaal: kies een van uw filialen." in response.text
        pages[branch_id] = response.text.replace(branch_id, "<branch>")
    assert pages["b-001"] == pages["zz-999"]
    assert await published_count(settings, RECON_SIGHTINGS) == 0
