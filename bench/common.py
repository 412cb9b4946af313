"""Shared pieces of the benchmark: fresh settings, topics, percentiles and the clock."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from heterdaad.settings import Settings
from infra.migrate import migrate
from schemas.topics import all_topics
from streams.topology import ensure_worker_topics

# The send time travels in this header so latency needs no payload change.
SENT_HEADER = "x-bench-sent-ns"


def wall_ns() -> int:
    """Wall-clock nanoseconds: producer and reader are different processes' clocks otherwise."""
    return time.time_ns()


def fresh_settings(state_dir: Path) -> Settings:
    """Settings naming a unique topic prefix, app id and schema, from the test variables."""
    run = uuid.uuid4().hex[:10]
    return Settings(
        kafka_bootstrap=os.environ["HETERDAAD_TEST_KAFKA_BOOTSTRAP"],
        database_url=os.environ["HETERDAAD_TEST_DATABASE_URL"],
        database_schema=f"b_{run}",
        topic_prefix=f"b{run}.",
        app_id=f"heterdaad-b{run}",
        plate_key=secrets.token_urlsafe(32),
        state_dir=state_dir / run,
        _env_file=None,
    )


async def prepare(settings: Settings) -> None:
    await ensure_worker_topics(settings)
    await migrate(settings.database_url, settings.database_schema)


async def cleanup(settings: Settings) -> None:
    """Delete the run's topics (Faust's internal ones share the app id) and its schema."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = {name for name, _, _ in all_topics(settings.topic_prefix, 1)}
        names |= {t for t in existing if t.startswith((settings.app_id, settings.topic_prefix))}
        # Best effort: a failed delete must not hide the figures already measured.
        with contextlib.suppress(Exception):
            await admin.delete_topics(sorted(names & existing))
    finally:
        await admin.close()
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {settings.database_schema} CASCADE")
    finally:
        await connection.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when there are none)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = sorted(s * 1000 for s in seconds)
        return cls(
            len(ms), percentile(ms, 50), percentile(ms, 95), percentile(ms, 99),
            ms[-1] if ms else float("nan"),
        )  # fmt: skip

    def row(self) -> str:
        return f"{self.p50:.1f} / {self.p95:.1f} / {self.p99:.1f} / {self.max:.1f}"
