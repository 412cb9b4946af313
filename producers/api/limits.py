"""Limits the intake puts on callers: body size, batch size and a per-organisation event rate."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heterdaad.settings import ApiLimits

logger = logging.getLogger(__name__)

__all__ = ["ApiLimits", "BodySizeLimit", "RateLimiter"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per organisation, in memory: each API process limits on its own."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, organisation_id: str, cost: int) -> int | None:
        """Take `cost` tokens; None when allowed, else whole seconds until they would be there."""
        now = self._clock()
        bucket = self._buckets.setdefault(organisation_id, _Bucket(float(self._burst), now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if cost <= bucket.tokens:
            bucket.tokens -= cost
            return None
        return max(1, math.ceil((cost - bucket.tokens) / self._rate))


class BodyTooLarge(HTTPException):
    """Raised while the body streams in, so chunked bodies are cut off as well as declared ones."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodySizeLimit:
    """ASGI middleware refusing bodies over the limit with 413 before they are buffered."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_batch_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_batch_bytes = max_batch_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.max_batch_bytes if path.endswith("/batch") else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            logger.info("body too large", extra={"path": path, "declared_bytes": int(declared)})
            await _answer_too_large(send, limit)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    logger.info("body too large", extra={"path": path, "received": received})
                    # An HTTPException, so FastAPI passes it on to its handler as a 413.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)


async def _answer_too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
