"""End to end through Kafka: the bare relay baseline and the alarm path of the real worker."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import SENT_HEADER, Latency, wall_ns
from heterdaad.kafka import make_producer
from heterdaad.settings import Settings
from infra.parts import spawn_part, stop_part
from schemas.common import BranchType, Location
from schemas.events import (
    AlarmActivation,
    AlarmSignal,
    AlarmSite,
    Verification,
    VerificationMethod,
)
from schemas.topics import ALARM_ACTIVATIONS, ALERTS
from schemas.wire import WireRecord, encode

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

ID_HEADER = "x-bench-id"
# Ids of what the relay and the worker emit, from an output record.
IdOf = Callable[["ConsumerRecord[bytes, bytes]"], str | None]


def relay_id(record: ConsumerRecord[bytes, bytes]) -> str | None:
    return next((v.decode() for k, v in record.headers if k == ID_HEADER), None)


def alert_id(record: ConsumerRecord[bytes, bytes]) -> str | None:
    # The worker keys an alert by "hold_up:<site>:<activation id>" (the episode's first event).
    key = (record.key or b"").decode()
    return key.rsplit(":", 1)[-1] if key.startswith("hold_up:") else None


# Town centres well inside the country: a few km around them is still the Netherlands.
TOWNS = (
    (52.37, 4.90), (51.92, 4.48), (52.08, 4.30), (52.09, 5.12), (51.44, 5.48), (53.22, 6.57),
    (52.51, 6.09), (51.98, 5.91), (51.84, 5.85), (51.56, 5.09), (51.59, 4.78), (52.16, 5.39),
    (53.20, 5.80), (52.38, 4.64), (52.70, 5.75),
)  # fmt: skip


def verified_activation(rng: random.Random) -> AlarmActivation:
    """A verified hold-up at a new site somewhere in the Netherlands, happening now."""
    now = datetime.now(UTC)
    number = uuid.uuid4().hex[:12]
    lat, lon = rng.choice(TOWNS)
    site = AlarmSite(
        site_id=f"bench-{number}",
        location=Location(lat=lat + rng.uniform(-0.03, 0.03), lon=lon + rng.uniform(-0.03, 0.03)),
        branch_type=rng.choice([BranchType.SUPERMARKET, BranchType.JEWELLER]),
    )
    return AlarmActivation(
        event_id=uuid.uuid4(),
        alarm_centre="pac-bench",
        subscriber_account=f"acct-{number}",
        site=site,
        signal=AlarmSignal.HOLD_UP,
        button_id="zone-1",
        user_id="staff-1",
        occurred_at=now,
        received_at=now,
        verification=Verification(method=VerificationMethod.CAMERA, verified=True, at=now),
    )


def make_records(count: int, rng: random.Random) -> list[tuple[str, WireRecord]]:
    """Encoded before a step starts, so encoding never delays the schedule."""
    out = []
    for _ in range(count):
        activation = verified_activation(rng)
        out.append((str(activation.event_id), encode(ALARM_ACTIVATIONS, activation, "urn:bench")))
    return out


class Reader:
    """Notes when each output record is first seen, by id, for the whole run."""

    def __init__(self, settings: Settings, topic: str, id_of: IdOf) -> None:
        self.seen: dict[str, int] = {}
        self._id_of = id_of
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"{settings.app_id}-reader-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=50)
            now = wall_ns()
            for records in batches.values():
                for record in records:
                    key = self._id_of(record)
                    if key is not None:
                        self.seen.setdefault(key, now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def wait_for(self, ids: set[str], timeout_s: float) -> bool:
        deadline = wall_ns() + int(timeout_s * 1e9)
        while wall_ns() < deadline:
            if ids <= self.seen.keys():
                return True
            await asyncio.sleep(0.05)
        return ids <= self.seen.keys()


@dataclass(frozen=True)
class Step:
    """One measured load: offered and achieved rate, losses and latency (ms)."""

    offered: float  # events/s; inf for a flood
    sent: int
    delivered: int
    throughput: float
    latency: Latency
    first_third_p50: float
    last_third_p50: float
    span_s: float  # first intended send to last output seen

    @property
    def sustainable(self) -> bool:
        # Latency must not keep rising: the last third may not be much slower than the first
        # (a fixed 25 ms slack absorbs scheduling noise on a shared machine), nothing lost.
        return (
            self.delivered == self.sent
            and self.last_third_p50 <= 1.5 * self.first_third_p50 + 25
            and self.throughput >= 0.9 * self.offered
        )


async def offer(
    producer: AIOKafkaProducer,
    topic: str,
    records: list[tuple[str, WireRecord]],
    rate: float,
) -> dict[str, int]:
    """Open loop: send on a fixed schedule without waiting for acks; returns intended times."""
    intended: dict[str, int] = {}
    futures = []
    start = wall_ns() + 20_000_000
    for index, (ident, record) in enumerate(records):
        due = start if math.isinf(rate) else start + int(index * 1e9 / rate)
        ahead = due - wall_ns()
        if ahead > 0:
            await asyncio.sleep(ahead / 1e9)
        intended[ident] = due
        headers = [*record.headers, (SENT_HEADER, str(due).encode()), (ID_HEADER, ident.encode())]
        futures.append(
            await producer.send(topic, value=record.value, key=record.key, headers=headers)
        )
    await asyncio.gather(*futures)
    return intended


async def measure(
    producer: AIOKafkaProducer,
    reader: Reader,
    topic: str,
    records: list[tuple[str, WireRecord]],
    rate: float,
    drain_s: float,
) -> Step:
    intended = await offer(producer, topic, records, rate)
    await reader.wait_for(set(intended), drain_s)
    start = min(intended.values())
    latencies = {i: (reader.seen[i] - t) / 1e9 for i, t in intended.items() if i in reader.seen}
    seen_last = max((reader.seen[i] for i in latencies), default=start)
    ordered = sorted(intended, key=intended.__getitem__)
    third = max(1, len(ordered) // 3)
    first = Latency.of([latencies[i] for i in ordered[:third] if i in latencies])
    last = Latency.of([latencies[i] for i in ordered[-third:] if i in latencies])
    elapsed = max((seen_last - start) / 1e9, 1e-9)
    return Step(
        offered=rate,
        sent=len(intended),
        delivered=len(latencies),
        throughput=len(latencies) / elapsed,
        latency=Latency.of(list(latencies.values())),
        first_third_p50=first.p50,
        last_third_p50=last.p50,
        span_s=elapsed,
    )


@dataclass
class Running:
    """A running system under test (relay or worker) with its producer and reader."""

    name: str
    topic: str
    producer: AIOKafkaProducer
    reader: Reader
    process: subprocess.Popen[bytes]

    async def step(self, count: int, rate: float, drain_s: float, rng: random.Random) -> Step:
        return await measure(
            self.producer, self.reader, self.topic, make_records(count, rng), rate, drain_s
        )

    async def close(self) -> None:
        stop_part(self.process, timeout=20)
        await self.reader.stop()
        await self.producer.stop()


async def start_path(
    name: str, settings: Settings, log: Path, rng: random.Random, warmup_s: float
) -> Running:
    """Start the relay or the worker and wait until one event has gone all the way through."""
    source = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    target = ALERTS.name(settings.topic_prefix)
    with log.open("ab") as output:
        if name == "relay":
            payload = log.with_suffix(".payload")
            payload.write_bytes(sample_alert_value())
            process = _spawn_relay(settings, source, target, payload, output)
        else:
            process = spawn_part(settings, "worker", output=output)
    reader = Reader(settings, target, relay_id if name == "relay" else alert_id)
    await reader.start()
    producer = make_producer(settings)
    await producer.start()
    path = Running(name, source, producer, reader, process)
    warm = make_records(1, rng)
    await offer(producer, source, warm, math.inf)
    waited = 0.0
    # Polled a second at a time so a part that died is reported at once, not after the wait.
    while not await reader.wait_for({warm[0][0]}, 1.0):
        waited += 1.0
        if waited < warmup_s and process.poll() is None:
            continue
        await path.close()
        raise RuntimeError(f"{name}: no output within {warmup_s:.0f} s; see {log}")
    return path


def _spawn_relay(
    settings: Settings, source: str, target: str, payload: Path, output: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.relay", source, target, str(payload)],
        env=os.environ | settings.to_env(),
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def sample_alert_value() -> bytes:
    """The value of a real verified-alarm alert, so the relay writes what the worker writes."""
    from streams.alarm_state import CellState, route
    from streams.verify_alarms import AlarmVerifier

    settings = Settings(_env_file=None)
    activation = verified_activation(random.Random(0))
    [(_, item)] = route(activation, settings.alarms.report_match_radius_m)
    decision = AlarmVerifier(settings).handle(CellState(partition=0), item, datetime.now(UTC))
    alert = decision.outputs[0]
    return encode(ALERTS, alert, "urn:bench").value
