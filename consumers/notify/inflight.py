"""Webhook requests in flight: bounded per receiver and in all, and never awaited by a pass.

A delivery pass hands each request over and goes on, so a receiver that answers slowly holds
up only its own notifications, never another receiver's or the desk's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine

logger = logging.getLogger(__name__)


class InFlight:
    """`reserve` a place for a receiver, then `start` its request there (or `release` it)."""

    def __init__(self, total: int, per_receiver: int) -> None:
        self.total = total
        self.per_receiver = per_receiver
        self._reserved: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def reserve(self, recipient: str) -> bool:
        """Whether there is room for one more request to `recipient`; if so it is taken."""
        if self._reserved.total() >= self.total or self._reserved[recipient] >= self.per_receiver:
            return False
        self._reserved[recipient] += 1
        return True

    def release(self, recipient: str) -> None:
        self._reserved[recipient] -= 1
        if self._reserved[recipient] <= 0:
            del self._reserved[recipient]

    def start(self, recipient: str, request: Coroutine[Any, Any, None]) -> None:
        """Run `request` in the place reserved for `recipient`; freed when it ends."""
        task = asyncio.create_task(self._run(recipient, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __len__(self) -> int:
        return self._reserved.total()

    async def settled(self) -> None:
        """Wait for every request in flight to end (each has its deadline)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, recipient: str, request: Coroutine[Any, Any, None]) -> None:
        try:
            await request
        except Exception:
            # Its rows stay leased and come due again when the lease ends.
            logger.exception("webhook request failed", extra={"recipient": recipient})
        finally:
            self.release(recipient)
