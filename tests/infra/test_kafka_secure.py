"""The production profile of Kafka (`heterdaad infra up --secure`) on a broker of this module's
own: only SCRAM principals over TLS get in, each only where its ACLs say."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from assembly.cli import app as cli
from heterdaad.kafka import client_options, ensure_topics, make_admin, make_producer, publish
from heterdaad.settings import Settings
from infra import kafka_broker
from infra.kafka_secure import (
    ADMIN,
    PASSWORD_ENV,
    KafkaSecurityError,
    passwords_from,
    secure_profile,
    service_acls,
)
from infra.local import free_port
from schemas.topics import ALARM_ACTIVATIONS, ALARM_TASKS, ALERTS
from streams.topology import ensure_worker_topics
from tests import factories
from tests.conftest import DATABASE_ENV
from tests.databases import migrated_schema
from tests.kafka_helpers import publish_all
from tests.processes import running
from tests.streams.test_link_series import crew_report, east

if TYPE_CHECKING:
    from collections.abc import Iterator

    from infra.kafka_secure import SecureProfile

pytestmark = pytest.mark.integration


def _principals() -> list[str]:
    return [ADMIN, *service_acls(Settings(_env_file=None))]


def test_the_sink_may_read_every_topic_it_sinks() -> None:
    # The sink took alarm-tasks.v1 on (issue 12) before its ACL did: under the secure profile
    # it would have been refused that topic and stopped.
    from consumers.sink import SUNK

    settings = Settings(plate_key="x" * 32, _env_file=None)
    readable = {acl.name for acl in service_acls(settings)["sink"] if "read" in acl.operations}
    assert {spec.name(settings.topic_prefix) for spec in SUNK} <= readable


def test_every_unset_or_short_secret_is_named_and_none_has_a_default() -> None:
    env = {PASSWORD_ENV.format(p.upper()): secrets.token_urlsafe(24) for p in _principals()}
    env[PASSWORD_ENV.format("API")] = "heterdaad"  # a guessable default is refused too
    del env[PASSWORD_ENV.format("WORKER")]
    with pytest.raises(KafkaSecurityError) as refused:
        passwords_from(env, _principals())
    assert "HETERDAAD_KAFKA_PASSWORD_API" in str(refused.value)
    assert "HETERDAAD_KAFKA_PASSWORD_WORKER" in str(refused.value)
    with pytest.raises(KafkaSecurityError):
        passwords_from({}, _principals())


@pytest.fixture(scope="module")
def secure_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, SecureProfile]]:
    state: Path = tmp_path_factory.mktemp("secure-kafka")
    run = secrets.token_hex(5)
    settings = Settings(
        _env_file=None, plate_key=secrets.token_urlsafe(32), topic_prefix=f"s{run}.",
        app_id=f"heterdaad-s{run}", database_schema=f"s_{run}", state_dir=state / "state",
        database_url=os.environ.get(DATABASE_ENV, Settings(_env_file=None).database_url),
    )  # fmt: skip
    env = {PASSWORD_ENV.format(p.upper()): secrets.token_urlsafe(24) for p in _principals()}
    profile = secure_profile(settings, state / "tls", env)
    bootstrap = kafka_broker.up(
        state, settings.cache_dir, free_port(), free_port(), settings.kafka_version,
        timeout=180, secure=profile,
    )  # fmt: skip
    try:
        yield settings.model_copy(update={"kafka_bootstrap": bootstrap}), profile
    finally:
        kafka_broker.kill(state)


def _as(settings: Settings, profile: SecureProfile, principal: str) -> Settings:
    """The settings a service runs with: its own principal, the CA, SASL_SSL."""
    return settings.model_copy(update={
        "kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": principal,
        "kafka_sasl_password": SecretStr(profile.passwords[principal]),
        "kafka_ssl_cafile": profile.cafile,
    })  # fmt: skip


async def _admin_answers(bootstrap: str, **options: Any) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
    try:
        async with asyncio.timeout(15):
            await admin.start()
            await admin.list_topics()
    except (KafkaError, TimeoutError, OSError):
        return False
    finally:
        await admin.close()
    return True


async def test_unauthenticated_clients_are_refused(
    secure_broker: tuple[Settings, SecureProfile],
) -> None:
    settings, profile = secure_broker
    bootstrap = settings.kafka_bootstrap
    tls = create_ssl_context(cafile=str(profile.cafile))
    # No TLS, no SASL: the listener speaks neither.
    assert not await _admin_answers(bootstrap)
    # TLS without a principal.
    assert not await _admin_answers(bootstrap, security_protocol="SSL", ssl_context=tls)
    # A principal with a wrong password.
    wrong = {**profile.client_options("api"), "sasl_plain_password": secrets.token_urlsafe(24)}
    assert not await _admin_answers(bootstrap, **wrong)
    # The admin principal, as a control: the refusals above are not a dead broker.
    assert await _admin_answers(bootstrap, **profile.client_options(ADMIN))


async def test_a_service_principal_does_what_its_acls_allow_and_nothing_else(
    secure_broker: tuple[Settings, SecureProfile],
) -> None:
    settings, profile = secure_broker
    await ensure_topics(_as(settings, profile, ADMIN))
    api = _as(settings, profile, "api")
    producer = make_producer(api)
    await producer.start()
    try:
        sent = await publish(producer, ALARM_ACTIVATIONS, factories.alarm_activation(),
                             prefix=settings.topic_prefix, source="urn:test")  # fmt: skip
        assert sent.offset >= 0
        # Not its topic: the API never writes an alert.
        forged = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                  request_timeout_ms=5000, **client_options(api))  # fmt: skip
        await forged.start()
        try:
            with pytest.raises(KafkaError):
                await forged.send_and_wait(ALERTS.name(settings.topic_prefix), b"forged")
        finally:
            await forged.stop()
    finally:
        await producer.stop()
    # Nor does it see one: alerts are police information; the broker leaves the topic out of
    # the API's metadata, so no fetch can even name a partition of it.
    admin = make_admin(api)
    await admin.start()
    try:
        visible = set(await admin.list_topics())
    finally:
        await admin.close()
    assert ALARM_ACTIVATIONS.name(settings.topic_prefix) in visible
    assert ALERTS.name(settings.topic_prefix) not in visible


def test_infra_up_secure_refuses_without_its_secrets(tmp_path: Path) -> None:
    # Refused before anything starts: no broker, no database in the state dir.
    result = CliRunner().invoke(
        cli, ["infra", "up", "--secure"], env={"HETERDAAD_STATE_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "HETERDAAD_KAFKA_PASSWORD_ADMIN" in result.output
    assert "HETERDAAD_KAFKA_PASSWORD_WORKER" in result.output
    assert list(tmp_path.iterdir()) == []


async def test_the_worker_runs_as_its_own_principal(
    secure_broker: tuple[Settings, SecureProfile], tmp_path: Path
) -> None:
    settings, profile = secure_broker
    await ensure_worker_topics(_as(settings, profile, ADMIN))
    worker = _as(settings, profile, "worker")
    async with migrated_schema(settings.database_url, settings.database_schema):
        press = factories.alarm_activation()
        with running(worker, "worker", log=tmp_path / "worker.log") as process:
            await publish_all(_as(settings, profile, "api"), press)
            # A lone hold-up press gives a verify task: read, judged and written by "worker".
            tasks = ALARM_TASKS.name(settings.topic_prefix)
            found = await read_topic_as(_as(settings, profile, ADMIN), tasks, process)
    assert found, "no task from the worker"
    assert "not authorized" not in (tmp_path / "worker.log").read_text().lower()


async def test_the_patterns_worker_runs_as_the_worker_principal_in_its_own_group(
    secure_broker: tuple[Settings, SecureProfile], tmp_path: Path
) -> None:
    # The worker's ACLs are prefixed on the app id: <app id>-patterns, its group and its
    # internal topics (streams/roles.py) fall under them, with no principal or ACL of its own.
    settings, profile = secure_broker
    await ensure_worker_topics(_as(settings, profile, ADMIN))
    worker = _as(settings, profile, "worker")
    async with migrated_schema(settings.database_url, settings.database_schema):
        crew = [crew_report(east(km), days) for km, days in ((0, 3), (3, 2))]
        log = tmp_path / "patterns.log"
        with running(worker, "worker", "--role", "patterns", log=log) as process:
            await publish_all(_as(settings, profile, "api"), *crew)
            # Two robberies by one crew give a series alert: read, linked through the role's
            # own internal topics and changelogs, and written by "worker". (A robbery's own
            # alert is the live role's.)
            alerts = ALERTS.name(settings.topic_prefix)
            found = await read_topic_as(_as(settings, profile, ADMIN), alerts, process)
    assert found, "no alert from the patterns worker"
    assert "not authorized" not in log.read_text().lower()


async def read_topic_as(
    settings: Settings, topic: str, process: subprocess.Popen[bytes]
) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
        **client_options(settings),
    )  # fmt: skip
    await consumer.start()
    try:
        async with asyncio.timeout(90):
            while True:
                assert process.poll() is None, f"worker exited with {process.returncode}"
                batch = await consumer.getmany(timeout_ms=500)
                if values := [r.value for rs in batch.values() for r in rs if r.value]:
                    return values
    finally:
        await consumer.stop()


def test_a_sasl_ssl_service_without_its_principal_does_not_start() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, kafka_security_protocol="SASL_SSL", kafka_sasl_username="api")
    assert "HETERDAAD_KAFKA_SASL_PASSWORD" in str(refused.value)
    assert "HETERDAAD_KAFKA_SSL_CAFILE" in str(refused.value)
