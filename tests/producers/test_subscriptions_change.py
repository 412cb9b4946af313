"""`PATCH /v1/subscriptions/{id}` and one secret per webhook, through the running app and real
PostgreSQL: a subscription changes in place (its id, history and queue stay), every reason is
named at once, a secret is rotated for every subscription of its webhook, and what the sender
signs a webhook's requests with is what its organisation was handed."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from consumers.notify import webhook
from consumers.notify.stages import _secret
from heterdaad.auth import SUBSCRIPTIONS_WRITE
from producers.api import ApiLimits, admin
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    import httpx

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

HOOK = "https://hooks.super-a.example/heterdaad"
OTHER_HOOK = "https://alerts.super-a.example/heterdaad"
PATH = "/v1/subscriptions"


@pytest.fixture
async def keys(db: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """Authorization headers of subscription keys of retail-a and retail-b."""
    await register(db)
    headers = {}
    for owner in ("retail-a", "retail-b"):
        issued = await admin.issue_key(db, owner, scopes=[SUBSCRIPTIONS_WRITE])
        headers[owner] = {"Authorization": f"Bearer {issued.key}"}
    return headers


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(settings, ApiLimits()) as (_, client):
        yield client


async def _audit(db: asyncpg.Connection) -> list[tuple[str, str, dict[str, Any]]]:
    rows = await db.fetch(
        "SELECT action, subject, details FROM audit_log "
        "WHERE action LIKE 'subscription_%' ORDER BY at"
    )
    return [(row["action"], row["subject"], json.loads(row["details"])) for row in rows]


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> Any:
    answer = await client.post(PATH, json={"webhook_url": HOOK} | body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _verifies(db: asyncpg.Connection, url: str, secret: str) -> bool:
    """Whether a receiver holding `secret` verifies what the sender signs for retail-a's `url`."""
    signing = await _secret(db, "retail-a", url)
    assert signing is not None
    body, stamp = b'{"alerts":[]}', int(time.time())
    headers = webhook.headers(signing, body, notification_key="k", attempt=1, timestamp=stamp)
    return webhook.verify(secret, str(stamp), body, headers[webhook.SIGNATURE_HEADER])


async def test_a_second_subscription_of_a_webhook_shares_its_secret(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    """Two subscriptions of one organisation with one webhook are one recipient: each alert
    goes once, in one request signed with the oldest subscription's secret. The second was
    handed a secret of its own, which its receiver could never verify with (201 and a new
    secret before; now it shares the first's, and another one given is refused)."""
    first = await _create(client, keys["retail-a"])
    held = first["webhook_secret"]
    second = await _create(client, keys["retail-a"], alert_kinds=["hold_up_in_progress"])
    # No secret of its own to hand over: the webhook's is the one the organisation holds.
    assert second["webhook_secret"] is None and second["signed"] is True
    assert await _verifies(db, HOOK, held)

    refused = await client.post(
        PATH, json={"webhook_url": HOOK, "webhook_secret": "n" * 40}, headers=keys["retail-a"]
    )
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["field"] == "webhook_secret"
    assert f"subscription {first['subscription_id']}" in problem["reason"]
    # The same secret again is no conflict; another organisation's webhook is its own.
    same = await client.post(
        PATH, json={"webhook_url": HOOK, "webhook_secret": held}, headers=keys["retail-a"]
    )
    assert same.status_code == 201, same.text
    other = await _create(client, keys["retail-b"], webhook_secret="b" * 40)
    assert other["webhook_secret"] is None
    assert await db.fetchval("SELECT count(*) FROM subscription") == 4
