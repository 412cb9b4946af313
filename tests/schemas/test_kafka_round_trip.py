"""Every model through a real broker and back: equal, with its CloudEvents headers intact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from heterdaad.kafka import make_producer, publish
from schemas.topics import CATALOGUE
from schemas.wire import decode
from tests import factories
from tests.kafka_helpers import read_topic

if TYPE_CHECKING:
    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration


async def test_every_model_round_trips_through_kafka(settings: Settings) -> None:
    models = [
        factories.alarm_activation(),
        factories.incident_report(),
        factories.recon_sighting(),
        factories.alert(),
        factories.alarm_task(),
    ]
    producer = make_producer(settings)
    await producer.start()
    try:
        for model in models:
            spec = next(spec for spec in CATALOGUE if isinstance(model, spec.value_model))
            await publish(producer, spec, model, prefix=settings.topic_prefix, source="urn:test")
    finally:
        await producer.stop()

    for model in models:
        spec = next(spec for spec in CATALOGUE if isinstance(model, spec.value_model))
        [record] = await read_topic(
            settings.kafka_bootstrap, spec.name(settings.topic_prefix), count=1
        )
        assert record.key == spec.key_of(model).encode()
        assert decode(spec, record.value, list(record.headers)) == model
