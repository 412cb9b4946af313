"""A Kafka broker of a test's own, on free ports, that the test may kill and start again.

The session's broker is shared by every test (and every test session on the machine), so a
test that stops its broker needs one nobody else uses. The jars come from the same cache as
`heterdaad infra up` (`Settings.cache_dir`), so only the first run on a machine downloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from infra import kafka_broker
from infra.local import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Outage:
    """One broker outage: how it stops (SIGKILL or a clean SIGTERM) and how long it stays down
    before it is started again (the restart itself adds the broker's start-up time)."""

    hard: bool
    down_s: float

    def __str__(self) -> str:
        return f"{'kill' if self.hard else 'stop'}+{self.down_s:g}s"


@dataclass
class OwnBroker:
    """A single-node Apache Kafka in `state_dir`; restarts keep its ports and its data."""

    state_dir: Path
    cache_dir: Path
    version: str
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    # (started stopping, serving again) per outage, in monotonic seconds.
    outages: list[tuple[float, float]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        kafka_broker.up(
            self.state_dir, self.cache_dir, self.port, self.controller_port, self.version,
            timeout=120,
        )  # fmt: skip

    def stop(self, *, hard: bool) -> None:
        if hard:
            kafka_broker.kill(self.state_dir)
        else:
            kafka_broker.down(self.state_dir)

    async def break_off(self, outage: Outage) -> float:
        """Stop, stay down, start again; returns how long the broker did not serve (s)."""
        began = time.monotonic()
        logger.info("broker outage begins", extra={"outage": str(outage)})
        # up/down block (subprocesses, probes): off the loop, so the parts' clients keep going.
        await asyncio.to_thread(self.stop, hard=outage.hard)
        await asyncio.sleep(outage.down_s)  # the outage itself, not a wait for an effect
        await asyncio.to_thread(self.start)
        ended = time.monotonic()
        self.outages.append((began, ended))
        logger.info("broker back", extra={"outage": str(outage), "seconds": ended - began})
        return ended - began


@contextlib.contextmanager
def own_broker(settings: Settings, state_dir: Path) -> Iterator[OwnBroker]:
    """A started broker of the caller's own, killed (its data with it) on exit."""
    broker = OwnBroker(state_dir, settings.cache_dir, settings.kafka_version)
    broker.start()
    try:
        yield broker
    finally:
        kafka_broker.kill(state_dir)
