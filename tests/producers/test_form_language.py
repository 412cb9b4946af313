"""/meld speaks Dutch by default and English when chosen, as the desk does: ?lang=, then the
browser's earlier choice, then its Accept-Language, then HETERDAAD_LANGUAGE; labels, choices,
answers and reasons alike."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest

from heterdaad.vocabulary import BEHAVIOUR_LABELS, english_label
from schemas.events import HeightBand, ReconBehaviour
from tests.producers.intake_support import Registry, running_api
from tests.producers.test_form import code_for, hidden_value, log_in, post_form, sighting_form

if TYPE_CHECKING:

    import asyncpg
    import httpx

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


# Words of the Dutch form that no English page has.
DUTCH = re.compile(r"\b(Filiaal|Tijdstip|Kleding|Melden|Inloggen|Uitloggen|kies|moet|mag|ligt)\b")


async def test_lang_en_gives_the_form_in_english_and_is_remembered(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    login = await client.get("/meld/login?lang=en")
    assert '<html lang="en">' in login.text and "Login code" in login.text
    assert (await log_in(client, await code_for(db))).status_code == 303
    # no ?lang= any more: the browser's choice is kept, on the form and on what it answers
    page = (await client.get("/meld")).text
    assert '<html lang="en">' in page and not DUTCH.search(page), DUTCH.search(page)
    # A face not covered, not 'no weapon seen' (Weapon.NONE is 'none' too).
    assert '<option value="none"\n>not covered</option>' in page
    assert 'lang="nl">Nederlands</a>' in page  # and back to Dutch in one click
    assert f">{english_label(HeightBand.FROM_180_TO_195)}<" in page  # "1.80 - 1.95 m"
    assert f"> {english_label(ReconBehaviour.WAITS_IN_VEHICLE)}<" in page
    for label in BEHAVIOUR_LABELS.values():
        assert label.replace("'", "&#39;") not in page
    asked: list[tuple[dict[str, str | list[str]], str]] = [
        # Plain, as the Dutch: it read 'lies in the future by more than the allowed clock skew
        # (2 minutes)' and 'String should have at most 60 characters'.
        ({"observed_at": "2099-01-01T12:00"}, "Time: is more than 2 minutes in the future"),
        ({"clothing": "jas, " + "x" * 61}, "Clothing: may have at most 60 characters"),
        ({"behaviours": []}, "What did you see: tick at least one thing."),
        ({"face_covering": "mask"}, "Face: choose one of the options in the list."),
        ({"observed_at": "2026-03-29T02:30"},
         "Time: 02:30 on 29-03-2026 does not exist in Dutch time: that night the clocks went "
         "forward from 02:00 to 03:00 (summer time began); check the time of the incident"),
    ]  # fmt: skip
    for overrides, reason in asked:
        answered = await post_form(client, sighting_form(str(uuid.uuid4()), **overrides))
        assert answered.status_code == 422
        assert reason in answered.text
        assert "Value error" not in answered.text and not DUTCH.search(answered.text)
        assert "String" not in answered.text and "skew" not in answered.text
    # and back to Dutch when asked
    assert '<html lang="nl">' in (await client.get("/meld?lang=nl")).text
    assert '<html lang="nl">' in (await client.get("/meld")).text


async def test_the_deployments_language_is_the_default(
    settings: Settings, registry: Registry, db: asyncpg.Connection
) -> None:
    english = settings.model_copy(update={"language": "en"})
    async with running_api(english) as (_, client):
        page = (await client.get("/meld/login")).text
        assert '<html lang="en">' in page
        token = hidden_value(page, "login_token")
        unknown = await client.post("/meld/login", data={"code": "NOPE-NOPE", "login_token": token})
        assert unknown.status_code == 401
        assert "This code is unknown, already used or expired." in unknown.text
        assert '<html lang="nl">' in (await client.get("/meld/login?lang=nl")).text


async def test_the_browsers_accept_language_comes_after_a_choice(
    registry: Registry, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    english = {"Accept-Language": "de-DE, en-GB;q=0.9, nl;q=0.8"}
    login = await client.get("/meld/login", headers=english)
    assert '<html lang="en">' in login.text and "Login code" in login.text
    # the page depends on the header and the cookie: no cache may give it to another browser
    assert {"accept-language", "cookie"} <= _vary(login)
    # the browser's own wish, not the deployment's, on what the form answers
    token = hidden_value(login.text, "login_token")
    unknown = await client.post(
        "/meld/login", data={"code": "NOPE-NOPE", "login_token": token}, headers=english
    )
    assert unknown.status_code == 401 and '<html lang="en">' in unknown.text
    assert {"accept-language", "cookie"} <= _vary(unknown)
    # ?lang= outweighs the header, and is remembered over it
    dutch = await client.get("/meld/login?lang=nl", headers=english)
    assert '<html lang="nl">' in dutch.text
    assert '<html lang="nl">' in (await client.get("/meld/login", headers=english)).text
    assert (await log_in(client, await code_for(db))).status_code == 303
    form = await client.get("/meld", headers=english)
    assert '<html lang="nl">' in form.text and {"accept-language", "cookie"} <= _vary(form)


async def test_without_a_language_of_ours_the_deployments_decides(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    for header in ("*", "de, fr;q=0.5", "en;q=0", "en;q=zero"):
        page = await client.get("/meld/login", headers={"Accept-Language": header})
        assert page.status_code == 200 and '<html lang="nl">' in page.text, header


def _vary(response: httpx.Response) -> set[str]:
    return {name.strip().lower() for name in response.headers.get("vary", "").split(",")}
