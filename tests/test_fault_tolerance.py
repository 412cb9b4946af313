"""Fault tolerance: killed and rebalancing workers, and a sink whose database connections drop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.sink import Sink
from heterdaad.kafka import make_producer, publish
from schemas.alerts import Alert, alert_id_for
from schemas.topics import ALERTS, INCIDENT_REPORTS
from schemas.wire import decode_as
from tests import factories
from tests.kafka_helpers import eventually, read_topic
from tests.processes import running

if TYPE_CHECKING:
    import subprocess
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings
    from schemas.events import IncidentReport

ROBBERY = b"robbery_reported:"


def reports(count: int) -> list[IncidentReport]:
    # Distinct branch ids spread the reports (keyed by branch) over every partition, so a
    # kill or a rebalance hits several partitions' offsets at once.
    return [
        factories.incident_report(branch=factories.branch(branch_id=f"b-{uuid.uuid4().hex[:8]}"))
        for _ in range(count)
    ]


async def send_reports(settings: Settings, events: list[IncidentReport]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in events:
            await publish(producer, INCIDENT_REPORTS, event, prefix=settings.topic_prefix,
                          source="urn:test:fault-tolerance")  # fmt: skip
    finally:
        await producer.stop()


def first_sighting() -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    """A `where` for read_topic that counts each robbery alert's key once: duplicates from an
    at-least-once replay must not make a count look complete."""
    seen: set[bytes] = set()

    def accept(record: ConsumerRecord[bytes, bytes]) -> bool:
        key = record.key or b""
        if not key.startswith(ROBBERY) or key in seen:
            return False
        seen.add(key)
        return True

    return accept


def robbery_record(record: ConsumerRecord[bytes, bytes]) -> bool:
    return (record.key or b"").startswith(ROBBERY)


async def await_alerts(
    settings: Settings, count: int, worker: subprocess.Popen[bytes], timeout: float = 90.0
) -> None:
    """Until `count` distinct robbery alerts are on the topic (fail early if the worker dies)."""
    await read_topic(settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), count=count,
                     timeout=timeout, while_alive=worker, where=first_sighting())  # fmt: skip


async def all_alerts(settings: Settings) -> list[Alert]:
    """Every robbery alert on the topic now, duplicates included (read up to the end offsets)."""
    topic = ALERTS.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        # The catalogue's partition count: the settings fixture created the topic with it.
        partitions = [TopicPartition(topic, p) for p in range(ALERTS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(*partitions, timeout_ms=1000)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return [decode_as(Alert, ALERTS, r.value, list(r.headers)) for r in records
            if robbery_record(r)]  # fmt: skip


def assert_one_alert_each(events: list[IncidentReport], alerts: list[Alert]) -> None:
    """Every report alerted, and all copies of its alert carry the one deterministic id."""
    ids: dict[str, set[uuid.UUID]] = defaultdict(set)
    for alert in alerts:
        ids[alert.dedup_key].add(alert.alert_id)
    expected = {f"robbery_reported:{e.event_id}" for e in events}
    assert set(ids) == expected, f"missing {sorted(expected - set(ids))[:5]}"
    different = {key: found for key, found in ids.items() if found != {alert_id_for(key)}}
    assert not different, f"reports with other or several alert ids: {different}"


async def count_rows(db: asyncpg.Connection, table: str, where: str = "true") -> int:
    count: int = await db.fetchval(f"SELECT count(*) FROM {table} WHERE {where}")
    return count


# Other stages (series, hotspots) alert on the same reports; only the robbery alerts count.
ROBBERY_ROWS = "dedup_key LIKE 'robbery_reported:%'"


def trials_param() -> list[object]:
    # Twenty-one starts, each waiting out the killed member's 10 s session and reading the
    # changelogs of one series of hundreds of robberies: about 290 s on a quiet machine.
    long = [pytest.mark.long, pytest.mark.timeout(900)]
    return [3, pytest.param(20, marks=long, id="20-long")]


@pytest.mark.integration
@pytest.mark.parametrize("trials", trials_param())
async def test_killed_worker_loses_and_splits_no_alert(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, trials: int
) -> None:
    # Seeded per trial count: a failure names a kill schedule that can be replayed.
    rng = random.Random(20261129 + trials)
    events = reports(20 * trials)
    await send_reports(settings, events)
    log = tmp_path / "worker.log"
    seen = 0
    for _ in range(trials):
        # Kill after a random number of further alerts: before, between or amid commits.
        target = min(len(events), seen + rng.randint(1, 2 * len(events) // trials))
        with running(settings, "worker", log=log) as worker:
            await await_alerts(settings, target, worker)
            worker.kill()
            worker.wait()
        seen = target
    with running(settings, "worker", log=log) as worker:
        await await_alerts(settings, len(events), worker)
    assert_one_alert_each(events, await all_alerts(settings))

    # Replayed copies share an id, so the sink keeps exactly one row per report.
    with running(settings, "sink", log=tmp_path / "sink.log") as sink:

        async def sunk() -> bool:
            assert sink.poll() is None, f"the sink exited with {sink.returncode}"
            return await count_rows(db, "alert", ROBBERY_ROWS) >= len(events)

        await eventually(sunk, timeout=60)
    assert await count_rows(db, "alert", ROBBERY_ROWS) == len(events)


def start_up_kills_param() -> list[object]:
    return [2, pytest.param(10, marks=pytest.mark.long, id="10-long")]


@pytest.mark.integration
@pytest.mark.parametrize("kills", start_up_kills_param())
async def test_workers_killed_during_start_up_lose_nothing(
    settings: Settings, tmp_path: Path, kills: int
) -> None:
    """The lead of finding 1 (docs/fault-tolerance.md): a worker SIGKILLed while it joins the
    group, restores its tables or takes its first records, right after another was killed."""
    rng = random.Random(20261130 + kills)
    events = reports(30)
    await send_reports(settings, events)
    log = tmp_path / "worker.log"
    with running(settings, "worker", log=log) as worker:
        await await_alerts(settings, len(events) // 3, worker)
        worker.kill()
        worker.wait()
    for _ in range(kills):
        with running(settings, "worker", log=log) as worker:
            # A random moment of the start-up: this is the fault injected, not a wait for it.
            await asyncio.sleep(rng.uniform(0.0, 6.0))
            worker.kill()
            worker.wait()
    with running(settings, "worker", log=log) as worker:
        await await_alerts(settings, len(events), worker)
    assert_one_alert_each(events, await all_alerts(settings))


@pytest.mark.integration
async def test_two_workers_rebalance_without_losing_or_splitting_alerts(
    settings: Settings, tmp_path: Path
) -> None:
    first, second, third = reports(15), reports(15), reports(15)
    with running(settings, "worker", log=tmp_path / "a.log") as worker_a:
        await send_reports(settings, first)
        await await_alerts(settings, 15, worker_a)
        # B joins A's consumer group (same app id): the partitions are shared out anew.
        with running(settings, "worker", log=tmp_path / "b.log") as worker_b:
            await send_reports(settings, second)
            await await_alerts(settings, 30, worker_a)
            assert worker_b.poll() is None, "worker B exited"
            # A leaves (SIGTERM, a clean stop): B takes over every partition.
            worker_a.terminate()
            worker_a.wait(timeout=60)
            await send_reports(settings, third)
            await await_alerts(settings, 45, worker_b)
    assert_one_alert_each([*first, *second, *third], await all_alerts(settings))


async def terminate_backends_of(db: asyncpg.Connection, pid: int) -> int:
    """Kill the PostgreSQL backends serving process `pid`, found by its client ports.

    Matching by application_name alone would also cut other tests' connections ('heterdaad'
    is every part's name); the process's own TCP ports single out its connections. `db` is
    spared when the process is the test's own (a part run in-process).
    """
    ports = [c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr]
    killed: int = await db.fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'heterdaad' AND client_port = ANY($1::int[]) "
        "AND pid <> pg_backend_pid()",
        ports,
    )
    return killed


@pytest.mark.integration
@pytest.mark.parametrize(
    "outage_s", [10.0, pytest.param(30.0, marks=pytest.mark.long, id="30-long")]
)
async def test_sink_keeps_every_event_once_across_dropped_connections(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, outage_s: float
) -> None:
    events: list[IncidentReport] = []
    with running(settings, "sink", log=tmp_path / "sink.log") as sink:
        # The sink is up once it has written something: the outage hits a working sink.
        warm_up = reports(1)
        await send_reports(settings, warm_up)
        events += warm_up

        async def row_for_warm_up() -> bool:
            return await count_rows(db, "event") == 1

        await eventually(row_for_warm_up, timeout=60)
        # The outage: every connection the sink holds is cut as fast as it opens them, while
        # events keep arriving. Each round publishes one event, which paces the loop.
        deadline = time.monotonic() + outage_s
        killed = 0
        producer = make_producer(settings)
        await producer.start()
        try:
            while time.monotonic() < deadline:
                [event] = reports(1)
                await publish(producer, INCIDENT_REPORTS, event, prefix=settings.topic_prefix,
                              source="urn:test:fault-tolerance")  # fmt: skip
                events.append(event)
                killed += await terminate_backends_of(db, sink.pid)
                assert sink.poll() is None, (
                    f"the sink exited ({sink.returncode}) after {killed} dropped connections; "
                    f"see {tmp_path / 'sink.log'}"
                )
        finally:
            await producer.stop()
        assert killed > 0, "the outage cut no connection: the test proved nothing"

        async def all_sunk() -> bool:
            assert sink.poll() is None, f"the sink exited with {sink.returncode}"
            return await count_rows(db, "event") >= len(events)

        await eventually(all_sunk, timeout=60)
    ids = [row["event_id"] for row in await db.fetch("SELECT event_id FROM event")]
    assert sorted(ids) == sorted(e.event_id for e in events)


@contextlib.asynccontextmanager
async def sink_running(
    settings: Settings, stop: asyncio.Event, **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """A Sink running in this process (polling at once, so it is never idle); `stop` ends it."""
    async with Sink(settings, **options) as sink:
        task = asyncio.create_task(sink.run(stop))
        try:
            yield task
        finally:
            stop.set()
            await task


@pytest.mark.integration
async def test_sink_outlives_a_database_outage_longer_than_max_poll_interval(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # The gap it covers: a sink retrying one batch without polling left its group after
    # max_poll_interval_ms (300 s in production, 3 s here); with another member in the group
    # (a second sink replica) its commit then raised CommitFailedError, which ended the sink.
    max_poll_s = 3.0
    events = reports(1)
    stop = asyncio.Event()
    async with (
        sink_running(settings, stop, max_poll_interval_ms=int(max_poll_s * 1000)) as sink,
        sink_running(settings, stop) as replica,
    ):

        def both_running() -> None:
            for name, task in (("sink", sink), ("replica", replica)):
                assert not task.done(), f"the {name} ended: {task}"

        await send_reports(settings, events)

        async def rows_for_all() -> bool:
            both_running()
            return await count_rows(db, "event") == len(events)

        await eventually(rows_for_all, timeout=60)
        # The outage, three times max_poll_interval: the event table is locked, so no write
        # can land, and the sinks' connections are cut over and over while events arrive.
        lock = await asyncpg.connect(
            settings.database_url, server_settings={"search_path": settings.database_schema}
        )
        try:
            async with lock.transaction():
                await lock.execute("LOCK TABLE event IN EXCLUSIVE MODE")
                deadline = time.monotonic() + 3 * max_poll_s
                killed = 0
                while time.monotonic() < deadline:
                    more = reports(1)
                    await send_reports(settings, more)
                    events += more
                    killed += await terminate_backends_of(lock, os.getpid())
                    both_running()
        finally:
            await lock.close()
        assert killed > 0, "the outage cut no connection: the test proved nothing"
        await eventually(rows_for_all, timeout=60)
    ids = [row["event_id"] for row in await db.fetch("SELECT event_id FROM event")]
    assert sorted(ids) == sorted(e.event_id for e in events)
