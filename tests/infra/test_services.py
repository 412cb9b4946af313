"""The local Kafka broker and PostgreSQL that infra/ starts really serve, and `up` is idempotent."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra import kafka_broker, postgres_server
from infra.local import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path (mode 700): PostgreSQL, run as its own user when the tests run
    # as root, must be able to enter every parent directory.
    path = Path(tempfile.mkdtemp(prefix="heterdaad-services-"))
    path.chmod(0o755)
    yield path
    kafka_broker.down(path)
    postgres_server.down(path)
    shutil.rmtree(path, ignore_errors=True)


async def test_kafka_round_trip_with_idempotent_producer_and_group(kafka_bootstrap: str) -> None:
    # The broker does not create topics on first use (issue 16): the test makes its own.
    topic = f"infra-smoke-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"ping", key=b"infra")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 60)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, sent.partition))
    finally:
        await consumer.stop()

    assert (record.key, record.value, record.offset) == (b"infra", b"ping", sent.offset)
    assert committed == sent.offset + 1


async def test_postgres_answers_a_query(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        version = await connection.fetchval("select version()")
    finally:
        await connection.close()
    assert str(version).startswith("PostgreSQL")


def test_kafka_up_twice_is_harmless(state_dir: Path) -> None:
    port, controller = free_port(), free_port()
    cache = Path.home() / ".cache" / "heterdaad"
    first = kafka_broker.up(state_dir, cache, port, controller, "4.1.1", timeout=120)
    pid = (state_dir / "kafka" / "kafka.pid").read_text()
    second = kafka_broker.up(state_dir, cache, port, controller, "4.1.1", timeout=120)
    assert first == second == f"127.0.0.1:{port}"
    assert (state_dir / "kafka" / "kafka.pid").read_text() == pid
    kafka_broker.down(state_dir)
    assert not kafka_broker.is_ready(first, timeout=2)


def test_postgres_up_twice_is_harmless(state_dir: Path) -> None:
    port = free_port()
    first = postgres_server.up(state_dir, port, timeout=60)
    pid_file = state_dir / "postgres" / "data" / "postmaster.pid"
    pid = pid_file.read_text().splitlines()[0]
    second = postgres_server.up(state_dir, port, timeout=60)
    assert first == second
    assert pid_file.read_text().splitlines()[0] == pid
    postgres_server.down(state_dir)
    assert not postgres_server.is_ready(first, timeout=2)
