"""Fixtures: a real Kafka and PostgreSQL for the session, fresh topics and schema for each test.

Where they come from, in order: HETERDAAD_TEST_KAFKA_BOOTSTRAP / HETERDAAD_TEST_DATABASE_URL
(set by .ci/run after `heterdaad infra up`); testcontainers when a Docker engine answers;
otherwise the tests that need them fail with a message saying how to start them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import uuid
from typing import TYPE_CHECKING, Literal

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from heterdaad.settings import Settings
from heterdaad.thresholds.operations import MetricsSettings
from infra.migrate import migrate
from schemas.topics import all_topics
from streams.topology import ensure_worker_topics
from tests.databases import drop_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator, Iterator
    from pathlib import Path

logger = logging.getLogger(__name__)

KAFKA_ENV = "HETERDAAD_TEST_KAFKA_BOOTSTRAP"
DATABASE_ENV = "HETERDAAD_TEST_DATABASE_URL"
HOW_TO_START = (
    "no Kafka/PostgreSQL for the integration tests: run `heterdaad infra up` and export the "
    f"lines it prints ({KAFKA_ENV}, {DATABASE_ENV}), start a Docker engine for testcontainers, "
    "or simply run `bash .ci/run`, which does all of it"
)


LOG_LINES = 80
_CHATTER = ("Stopping...", "Starting...", "Creating topic", '"level": "DEBUG"')


def _telling_lines(log: Path) -> str:
    """The last LOG_LINES of a part's log without Faust's start and stop chatter: what it
    decided, how it joined its group and recovered its tables, and every warning."""
    lines = log.read_text("utf-8", "replace").splitlines()
    telling = [line for line in lines if not any(chatter in line for chatter in _CHATTER)]
    return "\n".join(telling[-LOG_LINES:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that ran parts as child processes shows what each part's log said.

    Those logs live in the test's tmp_path, gone with a CI machine; without them a failure
    that only happens under CI's load cannot be explained afterwards.
    """
    report: pytest.TestReport = yield
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and tmp is not None:
        for log in sorted(tmp.rglob("*.log")):
            report.sections.append((f"part log {log.relative_to(tmp)}", _telling_lines(log)))
    return report


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if bootstrap := os.environ.get(KAFKA_ENV):
        yield bootstrap
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    pytest.fail(HOW_TO_START, pytrace=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if url := os.environ.get(DATABASE_ENV):
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as container:
            yield container.get_connection_url()
        return
    pytest.fail(HOW_TO_START, pytrace=False)


@pytest.fixture(scope="session")
def kafka_flavour() -> Literal["apache", "tansu"]:
    # The tests run on Apache Kafka; HETERDAAD_TEST_KAFKA_FLAVOUR=tansu runs them on Tansu.
    return "tansu" if os.environ.get("HETERDAAD_TEST_KAFKA_FLAVOUR") == "tansu" else "apache"


@pytest.fixture
def bare_settings(
    kafka_bootstrap: str,
    database_url: str,
    kafka_flavour: Literal["apache", "tansu"],
    tmp_path: Path,
) -> Settings:
    """Settings naming fresh topics and a fresh schema, neither created yet."""
    run = uuid.uuid4().hex[:10]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        kafka_flavour=kafka_flavour,
        database_url=database_url,
        database_schema=f"t_{run}",
        topic_prefix=f"t{run}.",
        app_id=f"heterdaad-t{run}",
        plate_key=secrets.token_urlsafe(32),
        state_dir=tmp_path / "state",
        # No health and metrics servers on the fixed ports: tests run parts side by side, and a
        # test of those servers gives its parts free ports (tests/test_service_metrics.py).
        metrics=MetricsSettings(worker_port=0, sink_port=0, notify_port=0, sia_port=0),
        _env_file=None,
    )


@pytest.fixture
async def settings(bare_settings: Settings) -> AsyncIterator[Settings]:
    """Settings whose topics exist and whose schema is migrated; both are removed afterwards.

    The worker's internal topics are created too: the broker does not create topics on its
    own (auto.create.topics.enable=false), and the worker refuses to start without them.
    """
    await ensure_worker_topics(bare_settings)
    await migrate(bare_settings.database_url, bare_settings.database_schema)
    yield bare_settings
    await drop_schema(bare_settings.database_url, bare_settings.database_schema)
    await _delete_topics(bare_settings)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection that resolves table names in the test's schema."""
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    yield connection
    await connection.close()


async def _delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        names = [name for name, _, _ in all_topics(settings.topic_prefix, 1)]
        existing = set(await admin.list_topics())
        # Faust's internal topics (changelogs, repartitions) share the prefix of the app id.
        names += [t for t in existing if t.startswith(settings.app_id)]
        with contextlib.suppress(Exception):
            await admin.delete_topics([n for n in names if n in existing])
    finally:
        await admin.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
