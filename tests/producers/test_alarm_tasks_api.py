"""`/v1/alarm-tasks`: a centre sees only its tasks, long-polls for new ones, and its verdict
reaches the verifier as an activation with a verification, recorded, audited, late or not."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.sink import settle_tasks, store, store_many
from heterdaad.settings import ApiLimits, Settings
from producers.api.broker import BrokerUnavailable
from schemas.common import BranchType
from schemas.events import AlarmActivation, AlarmSite, VerificationMethod
from schemas.tasks import AlarmTask, AlarmTaskKind
from schemas.topics import ALARM_ACTIVATIONS
from schemas.wire import decode_as
from tests import factories
from tests.kafka_helpers import eventually, read_topic
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    import asyncpg
    import httpx
    from fastapi import FastAPI


pytestmark = pytest.mark.integration


async def _stored_task(
    db: asyncpg.Connection, centre: str = "pac-1", site_id: str = "site-1", **task: object
) -> tuple[AlarmActivation, AlarmTask]:
    """A press of the centre's site and its verify task, as the sink stores them."""
    account = {"pac-1": "acct-1", "pac-2": "acct-9"}[centre]
    site = AlarmSite(site_id=site_id, location=factories.DAM_SQUARE,
                     branch_type=BranchType.SUPERMARKET)  # fmt: skip
    press = factories.alarm_activation(alarm_centre=centre, subscriber_account=account, site=site)
    alarm_task = factories.alarm_task(
        alarm_centre=centre, site_id=site_id, activation_ids=[press.event_id], **task
    )
    await store(db, press)
    await store(db, alarm_task)
    return press, alarm_task


async def _answer(
    client: httpx.AsyncClient, task_id: uuid.UUID, auth: dict[str, str], **verdict: object
) -> httpx.Response:
    return await client.post(f"/v1/alarm-tasks/{task_id}/verdict", json=verdict, headers=auth)


async def test_a_centre_sees_only_its_own_tasks_and_others_are_refused(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    _, own = await _stored_task(db, "pac-1")
    _, other = await _stored_task(db, "pac-2", "site-2")
    async with running_api(settings) as (_, client):
        listed = await client.get("/v1/alarm-tasks", headers=registry.auth("pac-1"))
        assert listed.status_code == 200
        assert [t["task_id"] for t in listed.json()["tasks"]] == [str(own.task_id)]
        assert listed.json()["tasks"][0]["status"] == "open"
        # Another centre's task is unknown to this one, to read and to answer.
        answer = await client.post(
            f"/v1/alarm-tasks/{other.task_id}/verdict",
            json={"method": "camera", "verified": True}, headers=registry.auth("pac-1"),
        )  # fmt: skip
        assert answer.status_code == 404
        for organisation in ("retail-a", "cbl", "politie-ams"):
            refused = await client.get("/v1/alarm-tasks", headers=registry.auth(organisation))
            assert refused.status_code == 403, organisation
    assert await db.fetchval("SELECT status FROM alarm_task WHERE task_id = $1",
                             other.task_id) == "open"  # fmt: skip


async def test_a_long_poll_answers_when_a_task_comes_and_is_bounded(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    auth = registry.auth("pac-1")
    async with running_api(settings) as (_, client):
        started = time.monotonic()
        empty = await client.get("/v1/alarm-tasks", params={"wait": 0.5}, headers=auth)
        assert empty.json() == {"tasks": [], "cursor": None}
        assert time.monotonic() - started >= 0.5
        polling = asyncio.create_task(
            client.get("/v1/alarm-tasks", params={"wait": 20}, headers=auth)
        )
        await asyncio.sleep(0)  # the poll is under way before the task comes
        _, task = await _stored_task(db)
        answered = await asyncio.wait_for(polling, timeout=10)
        assert [t["task_id"] for t in answered.json()["tasks"]] == [str(task.task_id)]
        # With the cursor a poller waits for new tasks, not the open ones it has.
        cursor = answered.json()["cursor"]
        started = time.monotonic()
        nothing_new = await client.get(
            "/v1/alarm-tasks", params={"wait": 0.5, "after": cursor}, headers=auth
        )
        assert nothing_new.json() == {"tasks": [], "cursor": cursor}
        assert time.monotonic() - started >= 0.5
        _, newer = await _stored_task(db)
        fresh = await client.get("/v1/alarm-tasks", params={"after": cursor}, headers=auth)
        assert [t["task_id"] for t in fresh.json()["tasks"]] == [str(newer.task_id)]
        assert fresh.json()["cursor"] > cursor
        too_long = settings.api_limits.task_wait_max_seconds + 1
        refused = await client.get("/v1/alarm-tasks", params={"wait": too_long}, headers=auth)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["field"] == "wait"


async def test_a_verdict_reaches_the_verifier_is_recorded_audited_and_ends_the_task(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    auth = registry.auth("pac-1")
    press, task = await _stored_task(db)
    async with running_api(settings) as (_, client):
        bad = await _answer(client, task.task_id, auth, method="guess", verified=True)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "method"
        # A verdict decides the police's priority: "yes" or 1 is no boolean (lax, "yes" raised
        # a critical verified_alarm).
        for loose in ("yes", 1, "true"):
            bad = await _answer(client, task.task_id, auth, method="camera", verified=loose)
            assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "verified"
        # PostgreSQL text cannot hold U+0000: a field refused, not a server error (the fuzz's).
        bad = await _answer(client, task.task_id, auth, method="camera", verified=True,
                            note="kassa\u00002")  # fmt: skip
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "note"
        given = await client.post(
            f"/v1/alarm-tasks/{task.task_id}/verdict",
            json={"method": "second_button", "verified": True,
                  "note": "tweede knop, kassa 2, weg in auto XX-999-Z"},
            headers=auth,
        )
        assert given.status_code == 200, given.text
        verdict = given.json()["verdict"]
        assert given.json()["status"] == "answered"
        assert (verdict["via"], verdict["verified"], verdict["late"]) == ("api", True, False)
        # The plate in the note is pseudonymised at the edge, as in every free text.
        assert verdict["note"].startswith("tweede knop, kassa 2, weg in auto ")
        assert "XX-999-Z" not in given.text
        again = await _answer(client, task.task_id, auth, method="camera", verified=False)
        assert again.status_code == 409
        # The same verdict again (a retry after a lost answer) is the same, accepted.
        retried = await _answer(client, task.task_id, auth, method="second_button", verified=True,
                                note="tweede knop, kassa 2, weg in auto XX-999-Z")  # fmt: skip
        assert retried.status_code == 200
        assert retried.json()["verdict"] == verdict
        still_open = await client.get("/v1/alarm-tasks", headers=auth)
        assert still_open.json()["tasks"] == []
    records = await read_topic(
        settings.kafka_bootstrap, ALARM_ACTIVATIONS.name(settings.topic_prefix), count=2
    )
    # The retry is the same event to the verifier, which keeps an event id once.
    first, retry = (decode_as(AlarmActivation, ALARM_ACTIVATIONS, r.value, list(r.headers))
                    for r in records)  # fmt: skip
    assert first.event_id == retry.event_id
    published = first
    # The press's own fields, as today's activation-with-verification carries them.
    assert (published.site, published.occurred_at, published.signal) == (
        press.site, press.occurred_at, press.signal,
    )  # fmt: skip
    assert published.verification is not None
    assert published.verification.method is VerificationMethod.SEQUENTIAL_BUTTONS
    assert published.verification.verified is True
    audit = await db.fetchrow(
        "SELECT actor, subject FROM audit_log "
        "WHERE details->>'kind' = 'alarm_task_verdict' ORDER BY at LIMIT 1"
    )
    assert audit is not None and audit["subject"] == str(published.event_id)
    assert audit["actor"].startswith("api:pac-1:")


async def test_another_organisation_cannot_take_the_verdict_s_event_id_first(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A branch warned of a hold-up reads `hold_up:<site>:<press>` in its dedup key, and the
    task id is alert_id_for(`verify:<site>:<press>`). The verdict's id was uuid5 of the task
    id: a retailer posting a report under it first made the sink keep the report and drop the
    verdict without a word. Keyed now, it is no id anyone outside can compute."""
    registry = await register(db)
    _, task = await _stored_task(db)
    guessed = uuid.uuid5(uuid.UUID("6f0f5c3e-4d0b-5b7e-9a51-0c3f2d7a9e11"), str(task.task_id))
    report = factories.incident_report(
        event_id=guessed, reporting_org="retail-b", branch=factories.branch(branch_id="b-001"),
        getaway=None,
    )  # fmt: skip
    async with running_api(settings) as (_, client):
        taken = await client.post(
            "/v1/incident-reports", content=report.model_dump_json(),
            headers={**registry.auth("retail-b"), "Content-Type": "application/json"},
        )  # fmt: skip
        assert taken.status_code == 202, taken.text
        given = await _answer(client, task.task_id, registry.auth("pac-1"), method="camera",
                              verified=True)  # fmt: skip
        assert given.status_code == 200, given.text
    [record] = await read_topic(
        settings.kafka_bootstrap, ALARM_ACTIVATIONS.name(settings.topic_prefix), count=1
    )
    verdict = decode_as(AlarmActivation, ALARM_ACTIVATIONS, record.value, list(record.headers))
    assert verdict.verification is not None and verdict.event_id != guessed
    # Stored as the sink stores them: both are kept, each under its own id.
    await store_many(db, [report, verdict])
    kinds = dict(await db.fetch("SELECT event_id, event_type FROM event WHERE event_id = ANY($1)",
                                [guessed, verdict.event_id]))  # fmt: skip
    assert kinds == {guessed: "incident_report", verdict.event_id: "alarm_activation"}


async def test_a_verdict_after_the_deadline_is_recorded_late(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    auth = registry.auth("pac-1")
    raised = datetime.now(UTC) - timedelta(minutes=20)
    _, task = await _stored_task(db, created_at=raised, respond_within_s=600)
    _, silent = await _stored_task(db, kind=AlarmTaskKind.SITE_SILENT)
    async with running_api(settings) as (_, client):
        expired = await client.get("/v1/alarm-tasks", params={"status": "expired"}, headers=auth)
        assert [t["task_id"] for t in expired.json()["tasks"]] == [str(task.task_id)]
        late = await _answer(client, task.task_id, auth, method="callback", verified=False)
        assert late.status_code == 200
        assert (late.json()["status"], late.json()["verdict"]["late"]) == ("answered", True)
        # A silent site is checked, not verified.
        refused = await _answer(client, silent.task_id, auth, method="camera", verified=True)
        assert refused.status_code == 409


async def test_a_verdict_the_broker_did_not_take_is_not_recorded(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    auth = registry.auth("pac-1")
    _, task = await _stored_task(db)
    async with running_api(settings) as (app, client):

        async def refuse(*args: object, **kwargs: object) -> None:
            raise BrokerUnavailable("test: broker away")

        published = app.state.intake.broker.publish
        app.state.intake.broker.publish = refuse
        refused = await _answer(client, task.task_id, auth, method="camera", verified=True)
        assert refused.status_code == 503 and "Retry-After" in refused.headers
        listed = await client.get("/v1/alarm-tasks", headers=auth)
        assert listed.json()["tasks"][0]["verdict"] is None
        app.state.intake.broker.publish = published
        taken = await _answer(client, task.task_id, auth, method="camera", verified=True)
        assert taken.status_code == 200 and taken.json()["status"] == "answered"


async def test_a_long_poll_wakes_when_the_sink_stores_a_task(
    settings: Settings, db: asyncpg.Connection
) -> None:
    registry = await register(db)
    # Polls far apart: only the sink's notification can answer the long-poll sooner.
    limits = ApiLimits(task_poll_seconds=5)
    async with running_api(settings, limits) as (app, client):
        polling = asyncio.create_task(
            client.get("/v1/alarm-tasks", params={"wait": 20}, headers=registry.auth("pac-1"))
        )
        press = factories.alarm_activation(alarm_centre="pac-1", subscriber_account="acct-1")
        task = factories.alarm_task(alarm_centre="pac-1", activation_ids=[press.event_id])
        # While the poll waits after its first look, as the sink writes a batch.
        await eventually(lambda: _waiting(app))
        async with db.transaction():
            await store_many(db, [press, task])
            await settle_tasks(db, [press, task], settings)
        answered = await asyncio.wait_for(polling, timeout=4)
    assert [t["task_id"] for t in answered.json()["tasks"]] == [str(task.task_id)]


async def _waiting(app: FastAPI) -> bool:
    waiting: int = app.state.stored_tasks.waiting
    return waiting > 0
