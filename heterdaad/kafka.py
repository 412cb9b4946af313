"""Kafka clients made one way for every part: producer settings, topic creation, publishing.

Consuming, dead letters and the checked producer are the event layer's (heterdaad/events/).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from heterdaad import metrics
from schemas.topics import all_topics
from schemas.wire import encode

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiokafka.structs import RecordMetadata

    from heterdaad.settings import Settings
    from schemas.common import Contract
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)


# (name, partitions, configs) of a topic to create, as schemas.topics.all_topics gives them.
TopicPlan = tuple[str, int, dict[str, str]]


class KafkaTopicError(Exception):
    pass


SCRAM_MECHANISM = "SCRAM-SHA-512"


def client_options(settings: Settings) -> dict[str, Any]:
    """The security options of every aiokafka client: none on PLAINTEXT, else TLS (the
    broker's certificate checked against the CA) and this service's SCRAM principal."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    assert settings.kafka_sasl_password is not None and settings.kafka_ssl_cafile is not None
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        "ssl_context": create_ssl_context(cafile=str(settings.kafka_ssl_cafile)),
    }


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings)
    )


def make_producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """A producer that only reports success once every in-sync replica has the record.

    The idempotent producer needs InitProducerId, which the embedded Tansu broker refuses;
    there the event ids keep consumers idempotent instead (see docs/embedded.md).
    """
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "max_batch_size": settings.kafka_max_batch_bytes,
        "linger_ms": settings.kafka_linger_ms,
        "request_timeout_ms": 15_000,
        "client_id": f"{settings.app_id}-producer",
        **client_options(settings),
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def publish(
    producer: AIOKafkaProducer,
    spec: TopicSpec,
    model: Contract,
    *,
    prefix: str,
    source: str,
    data: bytes | None = None,
) -> RecordMetadata:
    """Send one model as a CloudEvent and wait for the broker's acknowledgement (`data`: its
    JSON, if made already; schemas.wire.encode)."""
    record = encode(spec, model, source, data=data)
    metadata: RecordMetadata = await producer.send_and_wait(
        spec.name(prefix), value=record.value, key=record.key, headers=record.headers
    )
    metrics.EVENTS_PUBLISHED.labels(topic=spec.suffix).inc()
    return metadata


async def ensure_topics(
    settings: Settings, prefix: str | None = None, *, plans: Iterable[TopicPlan] | None = None
) -> list[str]:
    """Create every catalogue topic (or every one of `plans`) that does not exist yet; returns
    the names created."""
    prefix = settings.topic_prefix if prefix is None else prefix
    if plans is None:
        plans = all_topics(prefix, settings.personal_data_retention_days)
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=configs)
            for name, partitions, configs in plans
            if name not in existing
        ]
        if wanted:
            response = await admin.create_topics(wanted)
            for topic_error in response.topic_errors:
                name, code = topic_error[0], topic_error[1]
                # Another process may create a topic between list and create: that is the goal.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise KafkaTopicError(f"creating topic {name} failed: {topic_error[2:]}")
            logger.info("topics created", extra={"topics": [topic.name for topic in wanted]})
        return [topic.name for topic in wanted]
    finally:
        await admin.close()
