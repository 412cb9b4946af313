"""The store of alarm tasks: once per task id, ended by an activation's verification in either
order, a late verdict still recorded; and the sink takes the topic into it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.sink import Sink, settle_tasks, store_many
from heterdaad import alarm_tasks
from schemas.events import AlarmActivation, Verification, VerificationMethod
from schemas.tasks import AlarmTask
from tests import factories
from tests.kafka_helpers import eventually, publish_all

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings
    from schemas.common import Contract

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _press_and_task(
    site_id: str = "site-1", *, raised: datetime = NOW
) -> tuple[AlarmActivation, AlarmTask]:
    press = factories.alarm_activation(site=factories.alarm_activation().site.model_copy(
        update={"site_id": site_id}), occurred_at=raised - timedelta(seconds=30),
        received_at=raised - timedelta(seconds=29))  # fmt: skip
    task = factories.alarm_task(
        site_id=site_id, alarm_centre=press.alarm_centre, activation_ids=[press.event_id],
        created_at=raised, respond_within_s=600,
    )  # fmt: skip
    return press, task


def _verdict(
    press: AlarmActivation, *, verified: bool, at: datetime, seconds_after: float = 0
) -> AlarmActivation:
    """The centre's activation-with-verification for a press, as today's path sends it."""
    return press.model_copy(update={
        "event_id": uuid.uuid4(),
        "occurred_at": press.occurred_at + timedelta(seconds=seconds_after),
        "received_at": at,
        "verification": Verification(method=VerificationMethod.CAMERA, verified=verified, at=at),
    })  # fmt: skip


async def _task(db: asyncpg.Connection, task_id: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM alarm_task WHERE task_id = $1", task_id)
    assert row is not None
    return row


async def _write(db: asyncpg.Connection, settings: Settings, *models: Contract) -> None:
    async with db.transaction():
        await store_many(db, models)
        await settle_tasks(db, models, settings)


async def test_a_task_is_stored_once_and_a_replay_keeps_its_verdict(
    settings: Settings, db: asyncpg.Connection
) -> None:
    press, task = _press_and_task()
    await _write(db, settings, press, task)
    row = await _task(db, task.task_id)
    assert (row["status"], row["deadline"]) == ("open", task.created_at + timedelta(seconds=600))
    verdict = alarm_tasks.Verdict("camera", True, "dader zichtbaar", NOW, "pac-noord")
    assert await alarm_tasks.record_verdict(db, task.task_id, verdict) is False
    # A second verdict does not overwrite the first; a replayed task changes nothing.
    assert await alarm_tasks.record_verdict(db, task.task_id, verdict) is None
    await _write(db, settings, task)
    row = await _task(db, task.task_id)
    assert (row["status"], row["verified"], row["answered_via"]) == ("answered", True, "api")
    assert await db.fetchval("SELECT count(*) FROM alarm_task") == 1


@pytest.mark.parametrize("verification_first", [False, True])
async def test_an_activation_s_verification_ends_the_task_in_either_order(
    settings: Settings, db: asyncpg.Connection, verification_first: bool
) -> None:
    press, task = _press_and_task()
    verdict = _verdict(press, verified=False, at=NOW + timedelta(seconds=40))
    if verification_first:  # the tasks topic lags behind the activations
        await _write(db, settings, press, verdict)
        await _write(db, settings, task)
    else:
        await _write(db, settings, press, task)
        await _write(db, settings, verdict)
    row = await _task(db, task.task_id)
    assert (row["status"], row["answered_via"], row["verified"], row["late"]) == (
        "answered", "activation", False, False,
    )  # fmt: skip
    assert row["verdict_method"] == "camera"


async def test_a_verification_of_another_press_leaves_the_task_open(
    settings: Settings, db: asyncpg.Connection
) -> None:
    press, task = _press_and_task()
    other_site, _ = _press_and_task("site-2")
    window = settings.alarms.sequential_window_seconds
    await _write(
        db, settings, press, task, other_site,
        # Beyond the episode's window: a later press's verdict, not this one's.
        _verdict(press, verified=True, at=NOW, seconds_after=window + 1),
        # Another site of the same centre.
        _verdict(other_site, verified=True, at=NOW),
    )  # fmt: skip
    assert (await _task(db, task.task_id))["status"] == "open"


async def test_past_its_deadline_a_task_expires_and_a_verdict_is_still_recorded_late(
    settings: Settings, db: asyncpg.Connection
) -> None:
    press, task = _press_and_task(raised=NOW - timedelta(minutes=15))
    await _write(db, settings, press, task)
    await alarm_tasks.expire(db, NOW)
    assert (await _task(db, task.task_id))["status"] == "expired"
    await _write(db, settings, _verdict(press, verified=True, at=NOW))
    row = await _task(db, task.task_id)
    assert (row["status"], row["late"], row["verified"]) == ("answered", True, True)


async def test_the_sink_takes_alarm_tasks_into_the_store(
    settings: Settings, db: asyncpg.Connection
) -> None:
    press, task = _press_and_task()
    verdict = _verdict(press, verified=True, at=NOW + timedelta(seconds=20))
    silent = factories.alarm_task(kind="site_silent")
    await publish_all(settings, task, task, silent)
    await publish_all(settings, press, verdict)
    stop = asyncio.Event()
    async with Sink(settings) as sink:
        running = asyncio.create_task(sink.run(stop))

        async def answered() -> bool:
            status = await db.fetchval(
                "SELECT status FROM alarm_task WHERE task_id = $1", task.task_id
            )
            return bool(status == "answered")

        await eventually(answered, timeout=60)
        stop.set()
        await running
    assert await db.fetchval("SELECT count(*) FROM alarm_task") == 2
