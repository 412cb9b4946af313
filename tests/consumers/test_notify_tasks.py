"""Alarm tasks to the centre's webhook through notify: signed, retried, in the notification log,
never muted by a silence, only to the task's own centre, not after the deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.notify.silences import Matcher, create_silence
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.sink import store
from producers.api import admin
from tests import factories
from tests.consumers.test_notify_service import FAST, _running
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings
    from schemas.tasks import AlarmTask

pytestmark = pytest.mark.integration


async def _task(db: asyncpg.Connection, centre: str, **overrides: object) -> AlarmTask:
    press = factories.alarm_activation(alarm_centre=centre)
    task = factories.alarm_task(alarm_centre=centre, activation_ids=[press.event_id], **overrides)
    await store(db, press)
    await store(db, task)
    return task


async def test_a_centre_s_webhook_gets_its_tasks_signed_and_retried(
    settings: Settings, db: asyncpg.Connection
) -> None:
    for centre in ("pac-1", "pac-2"):
        await admin.create_organisation(db, centre, centre, "alarm_centre")
    async with WebhookReceiver() as receiver:
        spec = SubscriptionSpec.model_validate({
            "webhook_url": receiver.hook("pac1", answers=[503]), "webhook_secret": SECRET,
        })  # fmt: skip
        await create_subscription(db, "pac-1", spec, actor="test")
        # A silence of everything of pac-1's: tasks are the centre's work, never muted.
        now = datetime.now(UTC)
        everything = [Matcher(name="organisation_id", value="pac-1")]
        until = now + timedelta(hours=1)
        await create_silence(db, everything, author="test", reason="onderhoud", ends_at=until)
        task = await _task(db, "pac-1")
        others = await _task(db, "pac-2")
        overdue = await _task(db, "pac-1", created_at=now - timedelta(minutes=5),
                              respond_within_s=60)  # fmt: skip
        async with _running(settings, thresholds=FAST):

            async def delivered() -> asyncpg.Record | None:
                row: asyncpg.Record | None = await db.fetchrow(
                    "SELECT * FROM delivery WHERE notice = 'task' AND state = 'delivered'"
                )
                return row

            row = await eventually(delivered, timeout=30)
            dispatched = await db.fetchval(
                "SELECT count(*) FROM alarm_task WHERE dispatched_at IS NOT NULL"
            )
            assert dispatched == 3
    assert row["dedup_key"] == f"{task.dedup_key}#task" and row["attempts"] == 2
    first, second = receiver.requests
    assert (first.status, second.status) == (503, 200)
    assert first.key == second.key and first.body == second.body  # the same request again
    document = second.document
    assert document["notice"] == "task" and document["organisation_id"] == "pac-1"
    [sent] = document["alerts"]
    assert sent["task_id"] == str(task.task_id) and sent["site_id"] == task.site_id
    assert sent["verdict_path"] == f"/v1/alarm-tasks/{task.task_id}/verdict"
    assert sent["summary"].startswith("Verifieer alarm · site-1 · overvalknop · antwoord voor")
    # pac-2 has no webhook and the overdue task came too late: dispatched to nobody.
    for quiet in (others, overdue):
        assert not await db.fetchval(
            "SELECT count(*) FROM delivery WHERE alert_id = $1", quiet.task_id
        )
    attempts = await db.fetchval(
        "SELECT count(*) FROM delivery_attempt WHERE notification_key = $1",
        row["notification_key"],
    )
    assert attempts == 2
