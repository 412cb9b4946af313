"""The police desk's FastAPI app: one pool, one Kafka consumer, the change listener, the sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from consumers.desk.alerts import AlertStore
from consumers.desk.basemap import places
from consumers.desk.escalation import escalate_overdue
from consumers.desk.live import AlertFeed, ChangeListener, Fanout, change_channel
from consumers.desk.pages import STATIC
from consumers.desk.routes import desk_router
from consumers.desk.stream import stream_router
from consumers.desk.texts import Words
from consumers.desk.web import Desk, language_of
from heterdaad.db import DatabaseBusy, create_pool
from heterdaad.events import BrokerLink
from heterdaad.health import LIVE, metrics_response
from heterdaad.language import VARY
from heterdaad.thresholds.desk import DeskThresholds

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

# No inline script or style anywhere, so the policy can forbid both: injected markup stays inert.
# Images may come from the tile server too (and from nowhere else).
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# The desk's own files and the vendored map library (static/vendor, with their licences).
_STATIC_TYPES = {
    ".js": "text/javascript", ".css": "text/css", ".png": "image/png", "": "text/plain",
}  # fmt: skip


def _static_files() -> dict[str, tuple[bytes, str]]:
    files = {}
    for path in STATIC.rglob("*"):
        if path.is_file() and path.suffix in _STATIC_TYPES:
            name = path.relative_to(STATIC).as_posix()
            files[name] = (path.read_bytes(), _STATIC_TYPES[path.suffix])
    return files


def _tile_origin(url: str) -> str:
    """The scheme and host of the tile template, for the policy's img-src ('' without tiles)."""
    if not url:
        return ""
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    return f" {parts.scheme}://{parts.netloc}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_desk_app(
    settings: Settings,
    *,
    thresholds: DeskThresholds | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    """The desk app; its lifespan starts the pool, the live feed and the escalation sweep.

    `clock` is the time the desk writes and escalates by (tests move it instead of waiting).
    """
    thresholds = thresholds or DeskThresholds()
    static = _static_files()
    headers = _SECURITY_HEADERS | {
        "Content-Security-Policy": _POLICY.format(tiles=_tile_origin(thresholds.tile_url))
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The map's places are read once here, not on the first page (about half a second).
        await asyncio.to_thread(places)
        # Every query waits at most database_wait_seconds for a connection, else DatabaseBusy:
        # a page answers 503 (below), a sweep or the feed tries again on its next round.
        pool = await create_pool(settings, wait=thresholds.database_wait_seconds)
        fanout = Fanout()
        store = AlertStore(
            pool, channel=change_channel(settings), clock=clock,
            retention_days=settings.personal_data_retention_days,
        )  # fmt: skip
        listener = ChangeListener(pool, store.channel, store, fanout)
        feed = AlertFeed(settings, store, fanout)
        broker = BrokerLink.of(settings)
        tasks: list[asyncio.Task[None]] = []
        try:
            await listener.start()
            await feed.start()
            # A broker away at start-up is retried in the background: only bulletins need it.
            await broker.start()
            tasks = [
                asyncio.create_task(feed.run(), name="desk-feed"),
                asyncio.create_task(escalate_overdue(store, thresholds), name="desk-escalation"),
            ]
            for task in tasks:
                task.add_done_callback(_log_crash)
            app.state.desk = Desk(settings, thresholds, pool, store, fanout, listener, broker)
            app.state.desk_tasks = tasks
            logger.info(
                "desk started",
                extra={
                    "topic_prefix": settings.topic_prefix,
                    "escalate_after_s": thresholds.escalate_hold_up_after_seconds,
                },
            )
            yield
        finally:
            fanout.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await broker.stop()
            await feed.stop()
            await listener.stop()
            await pool.close()
            logger.info("desk stopped")

    app = FastAPI(title="Heterdaad desk", version="1.0.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(headers)
        return response

    @app.get("/static/{name:path}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        if name not in static:
            return Response(status_code=404)
        content, media_type = static[name]
        return Response(content, media_type=media_type)

    @app.get("/healthz", include_in_schema=False)
    async def live() -> JSONResponse:
        return JSONResponse(LIVE)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()

    @app.get("/readyz", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        desk: Desk = request.app.state.desk
        running = all(not task.done() for task in request.app.state.desk_tasks)
        try:
            await desk.pool.fetchval("SELECT 1")
            database = True
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, DatabaseBusy):
            database = False
        changes = desk.listener.alive
        parts = {"live_feed": running, "database": database, "changes": changes}
        problems = [f"{name} down" for name, works in parts.items() if not works]
        return JSONResponse(
            {"ready": not problems, "problems": problems, **parts},
            status_code=200 if not problems else 503,
        )

    app.add_exception_handler(asyncpg.PostgresConnectionError, _database_unavailable)
    app.add_exception_handler(asyncpg.InterfaceError, _database_unavailable)
    app.add_exception_handler(DatabaseBusy, _database_busy)
    app.include_router(desk_router())
    app.include_router(stream_router())
    return app


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "desk task stopped", extra={"task": task.get_name()}, exc_info=task.exception()
        )


async def _database_unavailable(request: Request, error: Exception) -> Response:
    logger.error("database unavailable", extra={"error": str(error), "path": request.url.path})
    return Response(
        "database unavailable, try again later", status_code=503, headers={"Retry-After": "5"}
    )


async def _database_busy(request: Request, error: Exception) -> Response:
    """No connection of the pool came free within database_wait_seconds: an answer that says
    so, in the page's language, rather than a page that hangs."""
    assert isinstance(error, DatabaseBusy)
    # Not audited: the audit log is in the database that has no connection free.
    logger.warning(
        "no database connection free, desk request refused",
        extra={"path": request.url.path, "wait_s": error.wait},
    )
    desk: Desk = request.app.state.desk
    retry = desk.thresholds.busy_retry_seconds
    words = Words(language_of(request, None))
    return Response(
        words("database_busy", seconds=f"{error.wait:g}", retry=retry),
        status_code=503,
        media_type="text/plain; charset=utf-8",
        headers={"Retry-After": str(retry), "Cache-Control": "no-store", "Vary": VARY},
    )
