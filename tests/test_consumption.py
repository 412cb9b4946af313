"""A consumer group's readiness, read from the broker: the same answer on Apache Kafka and Tansu."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from heterdaad.consumption import Readiness, group_readiness
from heterdaad.kafka import client_options, make_admin
from heterdaad.settings import Settings
from infra.embedded import EmbeddedBroker
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from pathlib import Path


async def _records(settings: Settings, topic: str, per_partition: dict[int, int]) -> None:
    # One record a batch: Tansu reports the end of a batch of several too low (docs/embedded.md).
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings)
    )
    await producer.start()
    try:
        for partition, count in per_partition.items():
            for _ in range(count):
                await producer.send_and_wait(topic, b"record", partition=partition)
    finally:
        await producer.stop()


async def _follows_members_and_lag(settings: Settings) -> None:
    group, topic = f"g-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    missing = f"{topic}-missing"
    admin = make_admin(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    await _records(settings, topic, {0: 3, 1: 2})

    async def ready(max_lag: int = 0) -> Readiness:
        return await group_readiness(settings, group, [topic, missing], max_lag)

    # A group that never committed: every record is behind, from the log start.
    never = await ready(max_lag=5)
    assert never.lag == {topic: 5}
    assert never.partition_lag == {(topic, 0): 3, (topic, 1): 2}
    assert never.problems == [f"consumer group {group} has no active member",
                              f"{missing} is missing"]  # fmt: skip

    member = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
        # Tansu holds a join back for half the session timeout.
        session_timeout_ms=6000, heartbeat_interval_ms=1000, **client_options(settings),
    )  # fmt: skip
    await member.start()
    try:
        # One partition committed in part, the other not at all.
        await eventually(lambda: _joined(member), timeout=60)
        await member.commit({TopicPartition(topic, 0): 2})
        joined = await eventually(lambda: _when_members(ready()), timeout=60)
        assert joined.members == 1
        assert joined.partition_lag == {(topic, 0): 1, (topic, 1): 2}
        assert joined.problems == [f"{topic} lags 3 records (bound 0)", f"{missing} is missing"]
    finally:
        await member.stop()


async def _joined(member: AIOKafkaConsumer) -> bool:
    await member.getmany(timeout_ms=200)
    return bool(member.assignment())


async def _when_members(probe: Awaitable[Readiness]) -> Readiness | None:
    readiness = await probe
    return readiness if readiness.members else None


@pytest.mark.integration
async def test_readiness_counts_members_and_lag(bare_settings: Settings) -> None:
    await _follows_members_and_lag(bare_settings)


@pytest.mark.embedded
async def test_readiness_on_tansu(tmp_path: Path) -> None:
    # Asked for all of a group's offsets, Tansu broke the connection: never ready, and
    # `heterdaad worker-ready` ended in a traceback.
    async with EmbeddedBroker(tmp_path, port=0) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_flavour="tansu",
                            _env_file=None)  # fmt: skip
        await _follows_members_and_lag(settings)

        keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assembly.cli", "worker-ready",
            env=keep | {"HETERDAAD_KAFKA_BOOTSTRAP": broker.bootstrap,
                        "HETERDAAD_KAFKA_FLAVOUR": "tansu"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(check.communicate(), 120)
    # No worker ran and no topic exists: not ready, and it says why.
    assert check.returncode == 1, err
    assert b"Traceback" not in err, err
    said = json.loads(out)
    assert said["ready"] is False
    assert "consumer group heterdaad has no active member" in said["problems"]
    assert not any("KafkaConnectionError" in problem for problem in said["problems"])
