"""Faust's aiokafka transport with an idempotent producer, for brokers that grant InitProducerId."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver

IDEMPOTENT_SCHEME = "kafka-idempotent"


class IdempotentProducer(driver.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        # Faust asks for idempotence only inside transactions (exactly_once). With at_least_once
        # processing, an idempotent producer still keeps a retried send from being written twice.
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentTransport(driver.Transport):
    Producer = IdempotentProducer


def broker_scheme(idempotent: bool) -> str:
    """The URL scheme of Faust's broker setting: idempotent where the broker allows it."""
    if not idempotent:
        return "kafka"
    TRANSPORTS.aliases.setdefault(IDEMPOTENT_SCHEME, f"{__name__}:IdempotentTransport")
    return IDEMPOTENT_SCHEME
