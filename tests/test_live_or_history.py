"""Live or history (docs/time.md) through real Kafka and PostgreSQL: a robbery and presses of
March 2025 give no urgent or in-progress alert, no verify task and no desk escalation, and say
when they happened; fresh ones still raise the live alarm."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer

from consumers.desk.alerts import AlertStore
from consumers.desk.live import change_channel
from consumers.sink import store
from heterdaad.db import create_pool
from schemas.alerts import Alert, AlertKind, Severity
from schemas.common import BranchType, Location
from schemas.events import AlarmActivation, AlarmSite, IncidentReport
from schemas.tasks import AlarmTask
from schemas.topics import ALARM_TASKS, ALERTS
from schemas.wire import decode
from tests import factories
from tests.consumers.test_desk import FakeClock, logged_in, served_desk, users
from tests.kafka_helpers import publish_all, records_up_to_now
from tests.processes import running

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

# 14:05 in Amsterdam on 12 March 2025: the month of the CBL example, long past.
MARCH_2025 = datetime(2025, 3, 12, 13, 5, tzinfo=UTC)
METRES_PER_DEGREE_LAT = 111_320.0


def place(number: int) -> Location:
    # 1.5 km apart along a meridian through Amsterdam: each its own grid cell of the alarm
    # stage (about 1.1 km), all in the Amsterdam unit.
    return Location(lat=52.33 + number * 1500 / METRES_PER_DEGREE_LAT, lon=4.88)


def site(number: int) -> AlarmSite:
    return AlarmSite(site_id=f"site-{number}", location=place(number),
                     branch_type=BranchType.SUPERMARKET)  # fmt: skip


def press(where: AlarmSite, at: datetime, user: str) -> AlarmActivation:
    # Received now, whenever pressed: a centre forwarding its backlog.
    return factories.alarm_activation(site=where, occurred_at=at, received_at=datetime.now(UTC),
                                      user_id=user, button_id=user)  # fmt: skip


def robbery(number: int, at: datetime) -> IncidentReport:
    branch = factories.branch(branch_id=f"b-{number}", location=place(number))
    return factories.incident_report(branch=branch, occurred_at=at)


async def outputs(
    settings: Settings, wanted: set[str], worker: subprocess.Popen[bytes], timeout: float = 120
) -> dict[str, Alert | AlarmTask]:
    """Alerts and tasks by dedup key, read until every wanted key is there."""
    import asyncio

    consumer = AIOKafkaConsumer(
        ALARM_TASKS.name(settings.topic_prefix), ALERTS.name(settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap, group_id=f"t-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    found: dict[str, Alert | AlarmTask] = {}
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= set(found):
                assert worker.poll() is None, f"worker exited with {worker.returncode}"
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        spec = ALERTS if record.topic.endswith(ALERTS.suffix) else ALARM_TASKS
                        model = decode(spec, record.value, list(record.headers))
                        assert isinstance(model, Alert | AlarmTask)
                        found[model.dedup_key] = model
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {sorted(wanted - set(found))}") from None
    finally:
        await consumer.stop()
    return found


async def test_history_raises_no_live_alarm_and_the_present_still_does(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # History: a robbery of March 2025 on its own; two staff pressing at a site then; a press
    # then with a robbery reported at the same branch.
    old_robbery = robbery(0, MARCH_2025)
    old_first = press(site(1), MARCH_2025, "u1")
    old_second = press(site(1), MARCH_2025 + timedelta(seconds=30), "u2")
    old_press = press(site(2), MARCH_2025, "u1")
    old_report = robbery(2, MARCH_2025 - timedelta(minutes=1))
    # The present: the same stories a minute ago, and a lone press for its verify task.
    fresh_robbery = robbery(3, now - timedelta(minutes=1))
    fresh_press = press(site(4), now - timedelta(seconds=60), "u1")
    fresh_report = robbery(4, now - timedelta(seconds=90))
    lone = press(site(5), now - timedelta(seconds=20), "u1")
    await publish_all(settings, old_robbery, old_first, old_second, old_press, old_report,
                      fresh_robbery, fresh_press, fresh_report, lone)  # fmt: skip

    history_keys = {
        f"robbery_reported:{old_robbery.event_id}",
        f"robbery_reported:{old_report.event_id}",
        f"hold_up:site-1:{old_first.event_id}",
        f"hold_up:site-2:{old_press.event_id}",
    }
    live_keys = {
        f"robbery_reported:{fresh_robbery.event_id}",
        f"robbery_reported:{fresh_report.event_id}",
        f"hold_up:site-4:{fresh_press.event_id}",
        f"verify:site-5:{lone.event_id}",
    }
    with running(settings, "worker", log=tmp_path / "worker.log") as worker:
        found = await outputs(settings, history_keys | live_keys, worker)
    tasks = await records_up_to_now(
        settings.kafka_bootstrap, ALARM_TASKS.name(settings.topic_prefix), ALARM_TASKS.partitions
    )

    # No verify task for any press of history: nobody can still be helped.
    old_tasks = [r.key for r in tasks if (r.key or b"").startswith((b"verify:site-1:",
                                                                     b"verify:site-2:"))]
    assert old_tasks == []
    history = [alert for key in history_keys if isinstance(alert := found[key], Alert)]
    assert len(history) == len(history_keys)
    for alert in history:
        assert alert.historical, alert.dedup_key
        assert alert.severity is Severity.MEDIUM
        assert alert.kind is not AlertKind.HOLD_UP_IN_PROGRESS
        assert alert.occurred_at is not None and alert.occurred_at < MARCH_2025 + timedelta(1)
        assert all(link.occurred_at is not None for link in alert.evidence)
    live_alert = found[f"hold_up:site-4:{fresh_press.event_id}"]
    assert isinstance(live_alert, Alert)
    assert (live_alert.kind, live_alert.severity, live_alert.historical) == (
        AlertKind.HOLD_UP_IN_PROGRESS, Severity.CRITICAL, False)  # fmt: skip
    assert live_alert.occurred_at == fresh_press.occurred_at
    fresh = found[f"robbery_reported:{fresh_robbery.event_id}"]
    assert isinstance(fresh, Alert)
    assert (fresh.severity, fresh.historical, fresh.occurred_at) == (
        Severity.CRITICAL, False, fresh_robbery.occurred_at)  # fmt: skip

    # The desk: what the worker published, stored as the sink stores it.
    alerts = [model for model in found.values() if isinstance(model, Alert)]
    # Every alert of these stages (four robberies, three hold-ups), live or history, says when
    # its event happened. (Series, hotspot and reconnaissance alerts are the pattern stages'.)
    ours = [a for a in alerts if a.dedup_key.startswith(("robbery_reported:", "hold_up:"))]
    assert len(ours) == 7 and all(alert.occurred_at is not None for alert in ours)
    for alert in alerts:
        await store(db, alert)
    clock = FakeClock()
    pool = await create_pool(settings, max_size=2)
    try:
        desk = AlertStore(pool, channel=change_channel(settings), clock=clock)
        clock.offset = timedelta(seconds=121)  # two minutes without an acknowledgement
        escalated = await desk.escalate_due(after=timedelta(seconds=120),
                                            window=timedelta(hours=24))  # fmt: skip
    finally:
        await pool.close()
    # Only the hold-up in progress now; never an alert of history.
    assert escalated == [live_alert.alert_id]

    await users(db)
    old = found[f"robbery_reported:{old_robbery.event_id}"]
    assert isinstance(old, Alert)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = (await client.get("/")).text
        detail = (await client.get(f"/alerts/{old.alert_id}")).text
    live_part, history_part = page.split('id="history"', 1)
    assert str(live_alert.alert_id) in live_part
    for alert in history:
        assert str(alert.alert_id) not in live_part and str(alert.alert_id) in history_part
    # When it happened, in Dutch local time, with how long ago; no hours of 'time gap'.
    assert "Gebeurd 12-03-2025 14:05 (" in history_part
    assert "Gebeurd</dt><dd id=\"happened\">12-03-2025 14:05 (" in detail
    assert "maanden geleden)" in detail and "Tijdsverschil" not in detail
