"""`PATCH /v1/subscriptions/{id}` and one secret per webhook, through the running app and real
PostgreSQL: a subscription changes in place (its id, history and queue stay), every reason is
named at once, a secret is rotated for every subscription of its webhook, and what the sender
signs a webhook's requests with is what its organisation was handed."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from assembly.cli import app as cli
from consumers.notify import nflog, webhook
from consumers.notify.directory import load_directory
from consumers.notify.route import route, webhook_recipient
from consumers.notify.stages import _secret
from heterdaad.settings import get_settings
from schemas.alerts import AlertKind, RecipientRole
from tests import factories
from tests.producers.intake_support import register
from tests.producers.test_subscriptions_api import client as client  # the API, a fixture
from tests.producers.test_subscriptions_api import subscription_headers

if TYPE_CHECKING:
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
    return await subscription_headers(db, "retail-a", "retail-b")


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


async def test_a_change_keeps_the_id_and_is_audited(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    made = await _create(client, keys["retail-a"], radius_m=2000)
    subscription_id, secret = made["subscription_id"], made["webhook_secret"]
    window = {"weekdays": [1, 2, 3, 4, 5], "starts": "08:00", "ends": "22:00"}
    changed = await client.patch(
        f"{PATH}/{subscription_id}",
        json={"alert_kinds": ["hold_up_in_progress"], "radius_m": 500, "language": "en",
              "windows": [window]},
        headers=keys["retail-a"],
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    assert answer["subscription_id"] == subscription_id and answer["webhook_secret"] is None
    spec = answer["spec"]
    assert spec["alert_kinds"] == ["hold_up_in_progress"] and spec["radius_m"] == 500
    assert spec["language"] == "en" and spec["windows"][0]["starts"] == "08:00:00"
    # What was not given stays: the webhook, and its secret.
    assert spec["webhook_url"] == HOOK and await _verifies(db, HOOK, secret)
    read = await client.get(f"{PATH}/{subscription_id}", headers=keys["retail-a"])
    assert read.json() == {key: value for key, value in answer.items() if key != "webhook_secret"}

    # Routing takes the change: a robbery is no hold-up any more.
    directory = await load_directory(db)
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS)
    recipient = webhook_recipient("retail-a", HOOK)
    assert recipient in {r.recipient for r in route(hold_up, directory, default_language="nl")}
    assert recipient not in {
        r.recipient for r in route(factories.alert(), directory, default_language="nl")
    }

    trail = await _audit(db)
    assert [(action, subject) for action, subject, _ in trail] == [
        ("subscription_created", str(subscription_id)),
        ("subscription_changed", str(subscription_id)),
    ]
    details = trail[1][2]
    assert details["organisation_id"] == "retail-a" and details["secret_replaced"] is False
    assert sorted(details["changed"]) == ["alert_kinds", "language", "radius_m", "windows"]
    assert secret not in json.dumps(trail)


async def test_a_change_names_every_reason_at_once_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    made = await _create(client, keys["retail-a"], radius_m=2000)
    url = f"{PATH}/{made['subscription_id']}"
    # Beyond the retailer's radius, nothing to send, and a webhook inside our network.
    body = {"radius_m": 30_000, "send_alerts": False, "webhook_url": "https://10.0.0.7/h"}
    refused = await client.patch(url, json=body, headers=keys["retail-a"])
    assert refused.status_code == 422, refused.text
    reasons = {problem["field"]: problem["reason"] for problem in refused.json()["detail"]}
    assert set(reasons) == {"webhook_url", "(body)", "radius_m"}, reasons
    assert "public address" in reasons["webhook_url"]
    assert "alerts, escalations or both" in reasons["(body)"]
    assert "at most 25000 m" in reasons["radius_m"]
    # Malformed fields are named by the body's own validation; unknown ones too.
    malformed = await client.patch(
        url, json={"radius_m": -1, "alert_kinds": ["party"], "colour": "red"},
        headers=keys["retail-a"],
    )  # fmt: skip
    assert malformed.status_code == 422, malformed.text
    fields = {problem["field"] for problem in malformed.json()["detail"]}
    assert {"radius_m", "alert_kinds.0", "colour"} <= fields, fields
    # Both secret fields at once, and another organisation's subscription (404, as none).
    both = await client.patch(url, json={"rotate_secret": True, "webhook_secret": "x" * 40},
                              headers=keys["retail-a"])  # fmt: skip
    assert both.status_code == 422 and both.json()["detail"][0]["field"] == "rotate_secret"
    foreign = await client.patch(url, json={"radius_m": 100}, headers=keys["retail-b"])
    assert foreign.status_code == 404, foreign.text
    assert (await client.get(url, headers=keys["retail-a"])).json()["spec"]["radius_m"] == 2000
    assert [action for action, _, _ in await _audit(db)] == ["subscription_created"]


async def test_rotating_replaces_the_secret_of_every_subscription_of_the_webhook(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    first = await _create(client, keys["retail-a"])
    second = await _create(client, keys["retail-a"], alert_kinds=["hold_up_in_progress"])
    old = first["webhook_secret"]
    rotated = await client.patch(
        f"{PATH}/{second['subscription_id']}", json={"rotate_secret": True},
        headers=keys["retail-a"],
    )  # fmt: skip
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["webhook_secret"]
    assert isinstance(new, str) and len(new) >= 32 and new != old
    # The webhook's requests are signed with the new secret whichever subscription they are
    # for; the old one verifies nothing more. Shown once: never in a read.
    assert await _verifies(db, HOOK, new) and not await _verifies(db, HOOK, old)
    stored = await db.fetch("SELECT DISTINCT webhook_secret FROM subscription")
    assert [row["webhook_secret"] for row in stored] == [new]
    listed = await client.get(PATH, headers=keys["retail-a"])
    assert new not in listed.text
    [(_, _, _), (_, _, _), (action, _, details)] = await _audit(db)
    assert action == "subscription_changed" and details["secret_replaced"] is True
    assert new not in json.dumps(details)


def _queued(dedup_key: str, recipient: str, url: str) -> nflog.Delivery:
    alert = factories.alert()
    return nflog.Delivery(
        dedup_key=dedup_key, recipient=recipient, alert_id=alert.alert_id, channel="webhook",
        organisation_id="retail-a", group_key="g", labels={"recipient": recipient},
        language="nl", summary="overval", alert_created_at=alert.created_at,
        payload={"view": {}}, webhook_url=url, next_attempt_at=datetime.now(UTC),
        role=RecipientRole.BRANCH,
    )  # fmt: skip


async def test_a_webhook_moved_takes_its_queue_along(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    """What was queued for the old webhook went nowhere after a delete and a new subscription
    ('no subscription with this webhook any more'); a change of URL takes it along, once."""
    made = await _create(client, keys["retail-a"])
    old, new = webhook_recipient("retail-a", HOOK), webhook_recipient("retail-a", OTHER_HOOK)
    now = datetime.now(UTC)
    # Two alerts queued for the old webhook, one sent already; the new webhook, another
    # subscription's, already has the first queued alert (moving it would send it twice).
    for dedup_key, recipient, url in (
        ("queued", old, HOOK),
        ("both", old, HOOK),
        ("sent", old, HOOK),
        ("both", new, OTHER_HOOK),
    ):
        assert await nflog.record(db, _queued(dedup_key, recipient, url), now)  # fmt: skip
    await db.execute("UPDATE delivery SET state = 'delivered' WHERE dedup_key = 'sent'")
    held = (await _create(client, keys["retail-a"], webhook_url=OTHER_HOOK))["webhook_secret"]

    changed = await client.patch(
        f"{PATH}/{made['subscription_id']}",
        json={"webhook_url": OTHER_HOOK},
        headers=keys["retail-a"],
    )
    assert changed.status_code == 200, changed.text
    # It joins the other subscription's webhook, whose secret it now shares.
    assert changed.json()["webhook_secret"] is None and await _verifies(db, OTHER_HOOK, held)
    rows = await db.fetch("SELECT dedup_key, recipient, webhook_url, state FROM delivery")
    assert {tuple(row) for row in rows} == {
        ("both", new, OTHER_HOOK, "pending"),
        ("both", old, HOOK, "pending"),  # given up when its turn comes: the new one has it
        ("queued", new, OTHER_HOOK, "pending"),
        ("sent", old, HOOK, "delivered"),  # the history stays where it happened
    }
    [*_, (_, _, details)] = await _audit(db)
    assert details["queued_moved"] == 1 and details["changed"] == {"webhook_url": OTHER_HOOK}


async def test_the_cli_changes_in_place_too(
    settings: Settings, client: httpx.AsyncClient, db: asyncpg.Connection,
    keys: dict[str, dict[str, str]],
) -> None:  # fmt: skip
    made = await _create(client, keys["retail-a"], radius_m=2000)
    env = {
        "HETERDAAD_DATABASE_URL": settings.database_url,
        "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
    }
    base = ["notify", "change", str(made["subscription_id"])]
    commands = [
        [*base, "--kind", "hold_up_in_progress", "--language", "en", "--rotate-secret"],
        # Beyond the retailer's radius and nothing to send: both named, nothing changed.
        [*base, "--radius-m", "30000", "--no-alerts"],
        ["notify", "change", "999999", "--language", "en"],
    ]
    get_settings.cache_clear()  # the CLI reads this test's environment, not an earlier one
    try:
        outcomes = [
            await asyncio.to_thread(CliRunner().invoke, cli, command, env=env)
            for command in commands
        ]
    finally:
        get_settings.cache_clear()
    assert [o.exit_code for o in outcomes] == [0, 1, 1], [(o.output, o.exception) for o in outcomes]
    secret = outcomes[0].output.split("(shown once): ")[1].strip()
    assert await _verifies(db, HOOK, secret)
    assert not await _verifies(db, HOOK, made["webhook_secret"])
    assert "radius_m may be at most" in outcomes[1].output
    assert "alerts, escalations or both" in outcomes[1].output
    assert "no subscription 999999" in outcomes[2].output
    read = await client.get(f"{PATH}/{made['subscription_id']}", headers=keys["retail-a"])
    spec = read.json()["spec"]
    assert spec["alert_kinds"] == ["hold_up_in_progress"] and spec["radius_m"] == 2000
    assert spec["language"] == "en"


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["notify", "subscribe", "retail-a", "--radius-m", "-5", "--webhook-url", "notaurl",
          "--language", "xx"], ["--radius-m", "--webhook-url", "--language"]),
        (["notify", "change", "1", "--radius-m", "-5", "--language", "xx"],
         ["--radius-m", "--language"]),
    ],
)  # fmt: skip
def test_an_option_out_of_range_is_named_not_a_traceback(
    command: list[str], named: list[str]
) -> None:
    # Refused before the database is asked: every option with its reason, a usage error.
    outcome = CliRunner().invoke(cli, command)
    assert outcome.exit_code == 2, (outcome.output, outcome.exception)
    for option in named:
        assert f"heterdaad: {option}: " in outcome.output
    assert "Traceback" not in outcome.output and "ValidationError" not in outcome.output
