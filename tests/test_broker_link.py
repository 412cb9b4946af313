"""The process's producer link (heterdaad/events/publisher.py) while the broker is away: one
send at a time tries it, the others are told at once; an acknowledgement ends it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from heterdaad.events import publisher
from heterdaad.events.publisher import BrokerLink, BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from heterdaad.settings import Settings

# Far longer than any test here waits: a send told at once is not one that timed out.
PUBLISH_TIMEOUT_S = 60.0
# No answer by then is a hang, not slowness.
HANG_S = 10.0


class Producer:
    """Stands in for aiokafka's producer: each send waits until the test answers it."""

    def __init__(self) -> None:
        self.sends: list[asyncio.Future[Any]] = []
        self.arrived = asyncio.Event()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send_and_wait(self, topic: str, **_: Any) -> Any:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sends.append(answer)
        self.arrived.set()
        return await answer

    async def sent(self, count: int) -> asyncio.Future[Any]:
        """The `count`th send, once it is under way."""
        async with asyncio.timeout(HANG_S):
            while len(self.sends) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.sends[count - 1]


@pytest.fixture
async def link(
    bare_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[BrokerLink, Producer]]:
    producer = Producer()
    monkeypatch.setattr(publisher, "make_producer", lambda _: producer)
    link = BrokerLink(bare_settings, publish_timeout=PUBLISH_TIMEOUT_S, retry_seconds=1)
    await link.start()
    yield link, producer
    await link.stop()


def send(link: BrokerLink) -> asyncio.Task[Any]:
    return asyncio.create_task(link.send("topic", key=None, value=b"{}", headers=[]))


async def test_while_the_broker_is_away_one_send_tries_it_and_the_others_are_told_at_once(
    link: tuple[BrokerLink, Producer],
) -> None:
    """During a long outage every request of the API waited the whole publish timeout holding
    a database connection, and the queue behind them outgrew the test client's 18 s."""
    broker, producer = link
    first = send(broker)
    (await producer.sent(1)).set_exception(KafkaConnectionError("broker away"))
    with pytest.raises(BrokerUnavailable, match="KafkaConnectionError"):
        await first

    trying = send(broker)
    await producer.sent(2)
    async with asyncio.timeout(HANG_S):
        with pytest.raises(BrokerUnavailable, match="another send is trying it"):
            await send(broker)
    assert len(producer.sends) == 2, "told without sending"

    # Acknowledged: the broker is back, and every send goes to it again.
    producer.sends[1].set_result("acknowledged")
    assert await trying == "acknowledged"
    both = [send(broker), send(broker)]
    (await producer.sent(3)).set_result("third")
    (await producer.sent(4)).set_result("fourth")
    assert await asyncio.gather(*both) == ["third", "fourth"]


async def test_a_record_the_broker_refuses_says_nothing_of_the_broker(
    link: tuple[BrokerLink, Producer],
) -> None:
    broker, producer = link
    refused = send(broker)
    (await producer.sent(1)).set_exception(MessageSizeTooLargeError("too large"))
    with pytest.raises(BrokerUnavailable, match="MessageSizeTooLargeError"):
        await refused
    # Not away: two sends go to the broker side by side.
    both = [send(broker), send(broker)]
    (await producer.sent(2)).set_result("second")
    (await producer.sent(3)).set_result("third")
    assert await asyncio.gather(*both) == ["second", "third"]
