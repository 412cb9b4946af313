"""From a press to the alarm centre holding its verify task: by webhook and by long-poll.

The worker, the sink and notify run as child processes (`spawn_part`), the API in this
process. Each press is sent at a new site at its intended time; the centre's time is when its
webhook receiver is handed the task, or its long-poll answer names it. The baseline of the
same run is a bare Kafka reader of `alarm-tasks.v1`: what the worker's task costs by itself,
so that the ratio is what storing and delivering it to the centre adds.

With `backlog`, that many months-old robbery reports at supermarkets spread over the same area
(a monthly CBL import) are produced to incident-reports.v1 just before the measured presses:
a live press must not wait for the verification of history (docs/alarm-verification.md).
With `roles` ("live", "patterns"), the worker runs split as docker-compose.yml runs it, and the
same backlog shows what the split leaves of that wait (docs/operations.md, "Worker roles").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from assembly.api import create_app
from bench.common import Latency, wall_ns
from consumers.notify import webhook
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from heterdaad.kafka import make_producer, publish
from infra.parts import spawn_part, stop_part
from producers.api import admin
from schemas.common import Branch, BranchType, Location
from schemas.events import AlarmActivation, AlarmSignal, AlarmSite, IncidentReport, IncidentType
from schemas.tasks import AlarmTask
from schemas.topics import ALARM_ACTIVATIONS, ALARM_TASKS, INCIDENT_REPORTS
from schemas.wire import decode_as, encode

if TYPE_CHECKING:
    from pathlib import Path

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

CENTRE = "pac-bench"
SECRET = "bench-secret-" + "x" * 32
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class TaskLatencies:
    presses: int
    topic: Latency  # baseline: the task on alarm-tasks.v1
    webhook: Latency
    long_poll: Latency


class _Seen:
    """First time each press's task was seen on one path, by activation id."""

    def __init__(self) -> None:
        self.at_ns: dict[str, int] = {}
        self.changed = asyncio.Event()

    def saw(self, activation_id: str) -> None:
        self.at_ns.setdefault(activation_id, wall_ns())
        self.changed.set()

    async def until(self, ids: set[str], within_s: float) -> None:
        async with asyncio.timeout(within_s):
            while not ids <= set(self.at_ns):
                self.changed.clear()
                await self.changed.wait()


def _press(rng: random.Random) -> AlarmActivation:
    site_id = f"bench-{uuid.uuid4().hex[:10]}"
    location = Location(lat=52.0 + rng.uniform(0, 0.5), lon=4.6 + rng.uniform(0, 0.6))
    now = datetime.now(UTC)
    return AlarmActivation(
        event_id=uuid.uuid4(), alarm_centre=CENTRE, subscriber_account="bench",
        site=AlarmSite(site_id=site_id, location=location, branch_type=BranchType.SUPERMARKET),
        signal=AlarmSignal.HOLD_UP, user_id="staff-1", occurred_at=now, received_at=now,
    )  # fmt: skip


def _history(rng: random.Random, count: int) -> list[IncidentReport]:
    """Robbery reports of two to four months ago at supermarkets over the presses' area."""
    now = datetime.now(UTC)
    reports = []
    for index in range(count):
        location = Location(lat=52.0 + rng.uniform(0, 0.5), lon=4.6 + rng.uniform(0, 0.6))
        branch = Branch(branch_id=f"bench-history-{index:05d}", branch_type=BranchType.SUPERMARKET,
                        location=location)  # fmt: skip
        occurred_at = now - timedelta(days=rng.uniform(60, 120))
        reports.append(IncidentReport(
            event_id=uuid.uuid4(), reporting_org="cbl", branch=branch,
            incident_type=IncidentType.OVERVAL, occurred_at=occurred_at,
        ))  # fmt: skip
    return reports


async def _send_history(settings: Settings, reports: list[IncidentReport]) -> None:
    """All at once, as a file's import does: queued, then one wait for the acknowledgements."""
    producer = make_producer(settings)
    await producer.start()
    try:
        name = INCIDENT_REPORTS.name(settings.topic_prefix)
        pending = []
        for report in reports:
            record = encode(INCIDENT_REPORTS, report, "urn:bench:tasks")
            pending.append(await producer.send(name, value=record.value, key=record.key,
                                               headers=record.headers))  # fmt: skip
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _receiver(seen: _Seen) -> tuple[web.AppRunner, str]:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = request.headers
        if not webhook.verify(SECRET, headers.get(webhook.TIMESTAMP_HEADER, ""), body,
                              headers.get(webhook.SIGNATURE_HEADER, "")):  # fmt: skip
            return web.Response(status=401)
        for item in (await request.json())["alerts"]:
            seen.saw(item["activation_ids"][0])
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/tasks", receive)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/tasks"


async def _read_tasks(settings: Settings, seen: _Seen, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        ALARM_TASKS.name(settings.topic_prefix), bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"bench-tasks-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    task = decode_as(AlarmTask, ALARM_TASKS, record.value, list(record.headers))
                    seen.saw(str(task.activation_ids[0]))
    finally:
        await consumer.stop()


async def _long_poll(client: httpx.AsyncClient, key: str, seen: _Seen, stop: asyncio.Event) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    cursor: int | None = None
    while not stop.is_set():
        params: dict[str, int] = {"wait": 2} | ({} if cursor is None else {"after": cursor})
        answer = (await client.get("/v1/alarm-tasks", params=params, headers=auth)).json()
        for task in answer["tasks"]:
            seen.saw(task["activation_ids"][0])
        cursor = answer["cursor"]


async def _register(settings: Settings, hook: str) -> str:
    db = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        await admin.create_organisation(db, CENTRE, "Alarmcentrale Bench", "alarm_centre")
        spec = SubscriptionSpec.model_validate({"webhook_url": hook, "webhook_secret": SECRET})
        await create_subscription(db, CENTRE, spec, actor="bench")
        return (await admin.issue_key(db, CENTRE)).key
    finally:
        await db.close()


async def _send(settings: Settings, presses: list[AlarmActivation], spacing_s: float,
                sent: dict[str, int]) -> None:  # fmt: skip
    """Open loop: each press at its intended time, latency counted from that time."""
    producer = make_producer(settings)
    await producer.start()
    start_ns = wall_ns()
    try:
        for index, press in enumerate(presses):
            intended_ns = start_ns + round(index * spacing_s * 1e9)
            if (ahead_ns := intended_ns - wall_ns()) > 0:
                await asyncio.sleep(ahead_ns / 1e9)
            sent[str(press.event_id)] = intended_ns
            await publish(producer, ALARM_ACTIVATIONS, press, prefix=settings.topic_prefix,
                          source="urn:bench:tasks")  # fmt: skip
    finally:
        await producer.stop()


async def run(
    settings: Settings,
    log_dir: Path,
    presses: int,
    spacing_s: float,
    backlog: int = 0,
    roles: tuple[str, ...] = (),
) -> TaskLatencies:
    """Measure `presses` presses after one warm-up press has come through every path, right
    after `backlog` historical robbery reports; with `roles`, one worker process per role
    (`heterdaad worker --role`, streams/roles.py) instead of the one worker of every stage."""
    settings = settings.model_copy(update={
        "notify": settings.notify.model_copy(update={"allow_private_webhooks": True}),
    })  # fmt: skip
    paths = {"topic": _Seen(), "webhook": _Seen(), "long_poll": _Seen()}
    runner, hook = await _receiver(paths["webhook"])
    key = await _register(settings, hook)
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    app = create_app(settings)
    without_metrics = settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"worker_port": 0})}
    )
    with contextlib.ExitStack() as parts:
        workers: list[tuple[str, ...]] = [("worker", "--role", role) for role in roles]
        for part in (*(workers or [("worker",)]), ("sink",), ("notify", "run")):
            name = "-".join(word for word in part if not word.startswith("--"))
            output = parts.enter_context((log_dir / f"{name}.log").open("ab"))
            # One metrics server for the workers: two on one host would want the same port.
            quiet = part in workers[1:]
            process = spawn_part(without_metrics if quiet else settings, *part, output=output)
            parts.callback(stop_part, process)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url="http://bench.test", timeout=30) as client,
            asyncio.TaskGroup() as background,
        ):  # fmt: skip
            background.create_task(_read_tasks(settings, paths["topic"], stop))
            background.create_task(_long_poll(client, key, paths["long_poll"], stop))
            sent: dict[str, int] = {}
            try:
                rng = random.Random(12)
                warm_up = _press(rng)
                await _send(settings, [warm_up], 0, {})
                for seen in paths.values():
                    await seen.until({str(warm_up.event_id)}, READY_TIMEOUT_S)
                measured = [_press(rng) for _ in range(presses)]
                if backlog:
                    await _send_history(settings, _history(rng, backlog))
                await _send(settings, measured, spacing_s, sent)
                for seen in paths.values():
                    await seen.until(set(sent), 60 + presses * spacing_s + backlog * 0.2)
            finally:
                stop.set()
    await runner.cleanup()
    return TaskLatencies(
        presses, *(Latency.of(_delays(sent, paths[name].at_ns)) for name in paths)
    )


def _delays(sent: dict[str, int], seen_at: dict[str, int]) -> list[float]:
    return [(seen_at[activation] - at) / 1e9 for activation, at in sent.items()]
