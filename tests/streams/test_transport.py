"""The worker's producer: checked everywhere, idempotent where the broker grants it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from streams.app import create_app
from streams.transport import CheckedProducer, IdempotentProducer

if TYPE_CHECKING:
    from heterdaad.settings import Settings


@pytest.mark.parametrize(("idempotent", "kind"), [(True, IdempotentProducer),
                                                  (False, CheckedProducer)])  # fmt: skip
def test_the_app_sends_through_our_producer(
    bare_settings: Settings, idempotent: bool, kind: type[CheckedProducer]
) -> None:
    # Faust builds app.producer from the consumer's transport: all three must name ours.
    flavour = "apache" if idempotent else "tansu"
    settings = bare_settings.model_copy(update={"kafka_flavour": flavour})
    producer = create_app(settings).producer
    assert type(producer) is kind
    assert producer._settings_extra().get("enable_idempotence", False) is idempotent
