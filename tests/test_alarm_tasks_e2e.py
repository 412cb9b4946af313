"""The alarm centre's side of the verification loop, end to end: worker, sink and notify as
child processes, real Kafka and PostgreSQL, the API in process. A centre receives its verify
tasks by long-poll and at its signed webhook, answers some as real and some as false (through
the API and through today's activation with a verification), lets others run out, and the
verifier decides accordingly."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from schemas.alerts import Alert, AlertKind, Severity
from schemas.common import BranchType, Location
from schemas.events import AlarmActivation, AlarmSignal, AlarmSite, Verification
from schemas.events import VerificationMethod as Method
from schemas.topics import ALERTS
from schemas.wire import decode_as
from tests import factories
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually, publish_all, read_topic, records_up_to_now
from tests.processes import running
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator
    from pathlib import Path

    import asyncpg
    import httpx
    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

# Long enough for a busy CI machine to answer in time, short enough to let three run out.
TIMEOUT_S = 20.0

# What the centre does with each site's press, and what the verifier must make of it.
# site: (signal, how the centre answers, the alert wanted (kind, severity) or None)
PLAN: dict[str, tuple[AlarmSignal, str, tuple[AlertKind, Severity] | None]] = {
    "site-real": (AlarmSignal.HOLD_UP, "api real",
                  (AlertKind.VERIFIED_ALARM, Severity.CRITICAL)),
    "site-false": (AlarmSignal.HOLD_UP, "api false", None),
    "site-activation": (AlarmSignal.HOLD_UP, "activation real",
                        (AlertKind.VERIFIED_ALARM, Severity.CRITICAL)),
    "site-duress": (AlarmSignal.DURESS, "run out",
                    (AlertKind.HOLD_UP_IN_PROGRESS, Severity.HIGH)),
    "site-quiet": (AlarmSignal.HOLD_UP, "run out", None),
    "site-late": (AlarmSignal.HOLD_UP, "api real late",
                  (AlertKind.VERIFIED_ALARM, Severity.CRITICAL)),
}  # fmt: skip


def _press(centre: str, site_id: str, signal: AlarmSignal, index: int) -> AlarmActivation:
    # Sites ~300 m apart: separate places, so nothing but the centre's answer links them.
    site = AlarmSite(site_id=site_id, location=Location(lat=52.30 + index * 0.003, lon=4.89),
                     branch_type=BranchType.JEWELLER)  # fmt: skip
    now = datetime.now(UTC)
    return factories.alarm_activation(
        alarm_centre=centre, site=site, signal=signal, occurred_at=now - timedelta(seconds=3),
        received_at=now, user_id=f"staff-{index}",
    )  # fmt: skip


@contextlib.contextmanager
def _parts(settings: Settings, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    with (
        running(settings, "worker", log=tmp_path / "worker.log") as worker,
        running(settings, "sink", log=tmp_path / "sink.log") as sink,
        running(settings, "notify", "run", log=tmp_path / "notify.log") as notify,
    ):
        yield {"worker": worker, "sink": sink, "notify": notify}


def _webhook_tasks(receiver: WebhookReceiver) -> dict[str, str]:
    """Task id by site of every task the centre's webhook was handed (signatures checked)."""
    # Its subscription takes alerts too: the tasks are the items of notice "task".
    items = [item for request in receiver.delivered("pac1") for item in request.document["alerts"]
             if item["notice"] == "task"]  # fmt: skip
    by_site = {item["site_id"]: item["task_id"] for item in items}
    assert len(by_site) == len(items), "each task once"
    return by_site


def _alive(parts: dict[str, subprocess.Popen[bytes]]) -> None:
    for name, process in parts.items():
        assert process.poll() is None, f"the {name} exited with {process.returncode}"


async def _receive_tasks(
    client: httpx.AsyncClient, auth: dict[str, str], count: int,
    parts: dict[str, subprocess.Popen[bytes]],
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Long-poll as a centre without a webhook until `count` tasks came; by site."""
    tasks: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    cursor: int | None = None
    while len(tasks) < count:
        _alive(parts)
        assert time.monotonic() < deadline, f"only {sorted(tasks)} of {count} tasks came"
        params: dict[str, Any] = {"wait": 5} | ({} if cursor is None else {"after": cursor})
        answer = await client.get("/v1/alarm-tasks", params=params, headers=auth)
        assert answer.status_code == 200, answer.text
        new = {task["site_id"]: task for task in answer.json()["tasks"]}
        assert not set(new) & set(tasks), "a cursor gives each task once"
        tasks |= new
        cursor = answer.json()["cursor"]
    return tasks


def _hold_up(record: ConsumerRecord[bytes, bytes]) -> bool:
    return (record.key or b"").startswith(b"hold_up:")


async def _alerts_by_site(
    settings: Settings, count: int, worker: subprocess.Popen[bytes]
) -> dict[str, list[Alert]]:
    """Once `count` alarm alerts came, every one on the topic by then, by site."""
    topic = ALERTS.name(settings.topic_prefix)
    await read_topic(settings.kafka_bootstrap, topic, count=count, timeout=120,
                     while_alive=worker, where=_hold_up)  # fmt: skip
    records = await records_up_to_now(settings.kafka_bootstrap, topic, ALERTS.partitions)
    by_site: dict[str, list[Alert]] = {}
    for record in filter(_hold_up, records):
        alert = decode_as(Alert, ALERTS, record.value, list(record.headers))
        by_site.setdefault(alert.site_id or "", []).append(alert)
    return by_site


async def test_a_centre_answers_its_tasks_and_the_verifier_follows(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        await _play_the_centre(settings, db, tmp_path, stack)


async def _play_the_centre(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, stack: contextlib.AsyncExitStack
) -> None:
    settings = settings.model_copy(update={
        "alarms": settings.alarms.model_copy(update={
            "verify_timeout_seconds": TIMEOUT_S, "timer_seconds": 1,
        }),
        # The centre's webhook listens on 127.0.0.1.
        "notify": settings.notify.model_copy(update={"allow_private_webhooks": True}),
    })  # fmt: skip
    registry = await register(db)
    receiver = await stack.enter_async_context(WebhookReceiver())
    hook = SubscriptionSpec.model_validate({
        "webhook_url": receiver.hook("pac1"), "webhook_secret": SECRET,
    })  # fmt: skip
    await create_subscription(db, "pac-1", hook, actor="test")
    presses = {site: _press("pac-1", site, signal, index)
               for index, (site, (signal, _, _)) in enumerate(PLAN.items())}  # fmt: skip
    # Another centre's press: its task never reaches pac-1.
    foreign = _press("pac-2", "site-other", AlarmSignal.HOLD_UP, len(PLAN))
    await publish_all(settings, *presses.values(), foreign)

    with _parts(settings, tmp_path) as parts:
        async with running_api(settings) as (_, client):
            auth = registry.auth("pac-1")
            tasks = await _receive_tasks(client, auth, len(PLAN), parts)
            assert set(tasks) == set(PLAN), "pac-1 gets exactly its own tasks"
            for site, (_, how, _) in PLAN.items():
                task = tasks[site]
                assert task["kind"] == "verify" and task["activation_ids"] == [
                    str(presses[site].event_id)
                ]
                if how.startswith("api") and not how.endswith("late"):
                    given = await client.post(
                        f"/v1/alarm-tasks/{task['task_id']}/verdict", headers=auth,
                        json={"method": "camera" if how == "api real" else "callback",
                              "verified": how == "api real"},
                    )  # fmt: skip
                    assert given.status_code == 200, given.text
                    assert given.json()["verdict"]["late"] is False
                elif how == "activation real":
                    # Today's path: the centre forwards the press again with its verification.
                    verdict = presses[site].model_copy(update={
                        "event_id": uuid.uuid4(), "received_at": datetime.now(UTC),
                        "verification": Verification(method=Method.AUDIO, verified=True,
                                                     at=datetime.now(UTC)),
                    })  # fmt: skip
                    await publish_all(settings, verdict)

            # The late one is answered once its deadline has passed (the list says expired).
            async def expired() -> set[str] | None:
                _alive(parts)
                answer = await client.get(
                    "/v1/alarm-tasks", params={"status": "expired", "wait": 5}, headers=auth
                )
                found = {task["site_id"] for task in answer.json()["tasks"]}
                return found if {"site-late", "site-quiet", "site-duress"} <= found else None

            assert await eventually(expired, timeout=TIMEOUT_S + 60) == {
                "site-late", "site-quiet", "site-duress",
            }  # fmt: skip
            late = await client.post(
                f"/v1/alarm-tasks/{tasks['site-late']['task_id']}/verdict", headers=auth,
                json={"method": "second_button", "verified": True, "note": "tweede knop"},
            )  # fmt: skip
            assert late.status_code == 200 and late.json()["verdict"]["late"] is True

            wanted = {site: alert for site, (_, _, alert) in PLAN.items() if alert}
            alerts = await _alerts_by_site(settings, len(wanted), parts["worker"])

            # The activation path's verdict ended its task too (stored by the sink).
            async def ended_by_activation() -> bool:
                status = await db.fetchval(
                    "SELECT answered_via FROM alarm_task WHERE site_id = 'site-activation'"
                )
                return bool(status == "activation")

            await eventually(ended_by_activation, timeout=60)
            other = await client.get("/v1/alarm-tasks", params={"status": "all"},
                                     headers=registry.auth("pac-2"))  # fmt: skip
            assert [t["site_id"] for t in other.json()["tasks"]] == ["site-other"]

            # The webhook had the same six tasks, and not the other centre's.
            async def all_hooked() -> dict[str, str] | None:
                _alive(parts)
                hooked = _webhook_tasks(receiver)
                return hooked if len(hooked) >= len(PLAN) else None

            hooked = await eventually(all_hooked, timeout=60)
            assert hooked == {site: task["task_id"] for site, task in tasks.items()}

    # The false and the quiet hold-up never reached the police; the duress press did, on its
    # timeout, after the quiet one's deadline had passed as well (same timer).
    assert set(alerts) == set(wanted)
    # One alert each (a replay after a restart would repeat the same id, not add one).
    assert {site: {(a.alert_id, a.kind, a.severity) for a in found}
            for site, found in alerts.items()} == {
        site: {(found[0].alert_id, *want)} for site, want in wanted.items()
        for found in [alerts[site]]
    }  # fmt: skip
    rows = {row["site_id"]: row for row in await db.fetch("SELECT * FROM alarm_task")}
    states = {site: (r["status"], r["answered_via"], r["verified"], r["late"])
              for site, r in rows.items() if site != "site-other"}  # fmt: skip
    assert states == {
        "site-real": ("answered", "api", True, False),
        "site-false": ("answered", "api", False, False),
        "site-activation": ("answered", "activation", True, False),
        "site-duress": ("expired", None, None, None),
        "site-quiet": ("expired", None, None, None),
        "site-late": ("answered", "api", True, True),
    }
