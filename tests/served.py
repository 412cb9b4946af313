"""An ASGI app under uvicorn on a free loopback port, as its command serves it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import uvicorn

from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp

    from heterdaad.settings import Settings


@contextlib.asynccontextmanager
async def served(app: ASGIApp, settings: Settings, *, name: str) -> AsyncIterator[str]:
    """The app's base URL while it serves; stopped (gracefully, 2 s) afterwards."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="on",
        timeout_graceful_shutdown=2, **settings.uvicorn_options(),
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        if serving.done():
            raise AssertionError(f"the {name} did not start: {serving.exception()!r}")
        return server.started

    await eventually(started, timeout=60, interval=0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
