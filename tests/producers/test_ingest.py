"""The shared ingest steps without a broker or database: publish outcomes and stale claims."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from producers import ingest
from producers.api.broker import BrokerLink, BrokerUnavailable
from producers.api.receipts import Receipt
from schemas.topics import ALARM_ACTIVATIONS
from tests import factories

if TYPE_CHECKING:
    from schemas.common import Contract
    from schemas.topics import TopicSpec


class _Broker:
    """Stands in for BrokerLink: acknowledges, or fails the events it is told to."""

    def __init__(self, failures: dict[int, BaseException]) -> None:
        self.failures = failures
        self.sent: list[Contract] = []

    async def publish(
        self, spec: TopicSpec, model: Contract, *, source: str, data: bytes | None = None
    ) -> Any:
        index = len(self.sent)
        self.sent.append(model)
        if index in self.failures:
            raise self.failures[index]
        return ("acknowledged", index)


async def test_an_unavailable_broker_is_an_outcome_per_event() -> None:
    events = [factories.alarm_activation() for _ in range(3)]
    broker = _Broker({1: BrokerUnavailable("no acknowledgement")})
    outcomes = await ingest.publish(
        cast(BrokerLink, broker), ALARM_ACTIVATIONS, events, source="/test"
    )
    # Each event keeps its place: the caller answers or retries each on its own.
    assert isinstance(outcomes[1], BrokerUnavailable)
    assert outcomes[0] == ("acknowledged", 0)
    assert outcomes[2] == ("acknowledged", 2)


async def test_any_other_error_is_raised_not_answered() -> None:
    # A bug must not be told to the caller as "retry later" while its claims stay pending.
    broker = _Broker({0: ValueError("not a broker problem")})
    with pytest.raises(ValueError, match="not a broker problem"):
        await ingest.publish(
            cast(BrokerLink, broker), ALARM_ACTIVATIONS, [factories.alarm_activation()], source="/"
        )


@pytest.mark.parametrize(
    ("pending_for", "stale"),
    [
        (None, False),  # confirmed: never taken over
        (timedelta(seconds=5), False),  # a publish under way
        (timedelta(seconds=29), False),  # within 3 publish timeouts of 10 s
        (timedelta(seconds=31), True),  # its process died before confirming
    ],
)
def test_a_claim_is_stale_after_three_publish_timeouts(
    pending_for: timedelta | None, stale: bool
) -> None:
    receipt = Receipt("e", "org", "digest", 202, {}, pending_for=pending_for)
    assert ingest.is_stale(receipt, publish_timeout=10) is stale
