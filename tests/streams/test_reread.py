"""When a worker reads again from its committed offsets after a rebalance: once per rebalance,
after its recovery has completed and the worker has stayed settled for a while."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from aiokafka.errors import KafkaTimeoutError

from streams.app import create_app
from streams.reread import RereadAfterRebalance

if TYPE_CHECKING:
    import faust

    from heterdaad.settings import Settings


def reread(settle: float = 3.0) -> RereadAfterRebalance:
    # `due` never touches the app.
    return RereadAfterRebalance(cast("faust.App", None), settle)


def test_due_once_per_rebalance_after_settling() -> None:
    r = reread()
    assert not r.due(1, settled=True, now=100.0)
    assert not r.due(1, settled=True, now=102.9)
    assert r.due(1, settled=True, now=103.0)
    assert not r.due(1, settled=True, now=200.0)
    # The next rebalance: due again, once settled for as long.
    assert not r.due(2, settled=False, now=201.0)
    assert not r.due(2, settled=True, now=202.0)
    assert r.due(2, settled=True, now=205.0)


def test_a_rebalance_during_the_wait_starts_it_again() -> None:
    r = reread()
    assert not r.due(1, settled=True, now=100.0)
    assert not r.due(1, settled=False, now=101.0)
    assert not r.due(2, settled=True, now=102.0)
    assert not r.due(2, settled=True, now=104.0)
    assert r.due(2, settled=True, now=105.0)


def test_a_failed_reread_is_due_again_once_settled_anew() -> None:
    r = reread()
    assert not r.due(1, settled=True, now=100.0)
    assert r.due(1, settled=True, now=103.0)
    r.failed()
    assert not r.due(1, settled=True, now=104.0)
    assert r.due(1, settled=True, now=107.0)


class SeekingConsumer:
    """A consumer whose seeks fail `failures` times, as with the broker away."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seeks = 0

    async def commit(self) -> None:
        pass

    async def perform_seek(self) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaTimeoutError("Failed to get offsets by times in 90000 ms")
        self.seeks += 1


async def test_a_broker_away_during_the_reread_does_not_crash_the_worker() -> None:
    """A timer that raises crashes the Faust app: in the long broker test the worker exited
    when the log starts were asked for as the broker stopped and the request timed out."""
    consumer = SeekingConsumer(failures=1)
    completed = asyncio.Event()
    completed.set()
    app = SimpleNamespace(
        rebalancing=False,
        rebalancing_count=1,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=completed)),
        consumer=consumer,
    )
    r = RereadAfterRebalance(cast("faust.App", app), settle_seconds=0.0)
    await r.beat()  # fails, and says so
    assert consumer.seeks == 0
    await r.beat()  # the same rebalance's re-read, done now
    assert consumer.seeks == 1
    await r.beat()  # and only once
    assert consumer.seeks == 1


def test_the_worker_has_the_timer_unless_it_is_off(bare_settings: Settings) -> None:
    off = bare_settings.model_copy(update={"worker_reread_after_rebalance_seconds": 0})
    # Faust keeps its timers as wrapped tasks of the app.
    assert len(create_app(bare_settings)._app_tasks) == len(create_app(off)._app_tasks) + 1
