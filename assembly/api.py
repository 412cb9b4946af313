"""The HTTP API: one FastAPI app mounting the intake's routers (producers/api) and the readers'
(consumers/: history, subscriptions); lifespan of pool and producer, handlers and OpenAPI."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema

from consumers.history import history_router
from consumers.notify.routes import subscription_router
from heterdaad import plate_keys
from heterdaad.db import DATABASE_GONE, DatabaseBusy, create_pool
from producers.api.alarm_tasks import StoredTasks, alarm_task_router
from producers.api.allowed_methods import AllowedMethods
from producers.api.answers import field_problems
from producers.api.broker import BrokerLink
from producers.api.cameras import camera_router
from producers.api.edge import PlateKey
from producers.api.form import form_router
from producers.api.intake import Intake
from producers.api.kinds import KINDS
from producers.api.limits import ApiLimits, BodySizeLimit, RateLimiter
from producers.api.maintenance import maintenance_router
from producers.api.routes import event_router, health_router
from producers.api.spec_answers import declare_real_answers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

DESCRIPTION = """Intake of alarm activations (private alarm centres), incident reports
(retailers, the CBL) and reconnaissance sightings (shop staff) for the public-private approach
to robberies. Events are accepted (202) only once Kafka acknowledged them; raw licence plates
are pseudonymised on arrival and never stored, logged or published."""


def create_app(settings: Settings, limits: ApiLimits | None = None) -> FastAPI:
    """The intake app; its lifespan opens one pool and one producer and closes them again."""
    limits = limits or settings.api_limits
    # Fails here, at start-up, when HETERDAAD_PLATE_KEY is missing: the API receives plates.
    plate_key = PlateKey(settings.require_plate_key(), settings.plate_key_id)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every query of a request waits at most database_wait_seconds for a connection, else
        # DatabaseBusy, answered 503 below: no route queues for the pool without a bound.
        pool = await create_pool(settings, wait=limits.database_wait_seconds)
        try:  # the key its id named before (`heterdaad api` says so in one line, first)
            await plate_keys.claim(pool, plate_key.key, plate_key.key_id)
        except BaseException:
            await pool.close()
            raise
        broker = BrokerLink(
            settings,
            publish_timeout=limits.publish_timeout_seconds,
            retry_seconds=limits.broker_retry_seconds,
        )
        try:
            await broker.start()
            app.state.intake = Intake(
                pool=pool,
                broker=broker,
                limiter=RateLimiter(rate=limits.events_per_second, burst=limits.event_burst),
                limits=limits,
                plate_key=plate_key,
            )
            # Long-polls of alarm tasks wake when the sink stores one (producers/api/alarm_tasks).
            app.state.stored_tasks = StoredTasks(settings.database_schema)
            await app.state.stored_tasks.start(pool)
            logger.info("intake api started", extra={"topic_prefix": settings.topic_prefix})
            yield
        finally:
            await broker.stop()
            if (stored_tasks := getattr(app.state, "stored_tasks", None)) is not None:
                await stored_tasks.stop(pool)
            await pool.close()
            logger.info("intake api stopped")

    app = FastAPI(
        title="Heterdaad intake",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=limits.max_body_bytes,
        max_batch_bytes=limits.max_batch_body_bytes,
    )
    app.add_middleware(AllowedMethods, router=app.router)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    # Not only a refused or cut connection: a server shutting down or starting up (57P0x),
    # a reset socket, a cut connection failing its reset in the pool. The client retries.
    for database_gone in DATABASE_GONE:
        app.add_exception_handler(database_gone, _database_unavailable)
    app.add_exception_handler(DatabaseBusy, _database_busy)
    app.include_router(event_router(limits.max_batch_items))
    app.include_router(
        form_router(timedelta(hours=settings.meld_session_hours), settings.language)
    )
    app.include_router(health_router(settings))
    app.include_router(history_router())
    notify = settings.notify
    app.include_router(
        subscription_router(
            notify.subscriptions_per_organisation, notify.watch_max_radius_m,
            notify.retail_max_radius_m,
        )
    )
    app.include_router(alarm_task_router(limits))
    app.include_router(camera_router())
    app.include_router(
        maintenance_router(
            limits,
            late_bound=timedelta(days=settings.time.late_bound_days),
            clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        )
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _validation_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # skip=1 drops the 'body'/'query' origin; the field path is what the caller can fix.
    problems = field_problems(error.errors(), skip=1)
    return JSONResponse({"detail": [problem.model_dump() for problem in problems]}, status_code=422)


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.error("database unavailable", extra={"error": str(error), "path": request.url.path})
    return JSONResponse(
        {"detail": "database unavailable, try again later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _database_busy(request: Request, error: Exception) -> JSONResponse:
    """No connection of the pool came free in time (the pool's wait, heterdaad.db): while the
    broker is away the intake's requests hold theirs, and a queue for one is no answer."""
    assert isinstance(error, DatabaseBusy)
    # Not audited: the audit log is in the database that has no connection free.
    logger.warning(
        "no database connection free, request refused",
        extra={"path": request.url.path, "wait_s": error.wait},
    )
    retry_after = request.app.state.intake.limits.broker_retry_seconds
    return JSONResponse(
        {"detail": f"busy: {error}; try again"},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's spec plus the edge models, which the endpoints validate per event themselves."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _, definitions = models_json_schema(
            [(kind.edge_model, "validation") for kind in KINDS],
            ref_template="#/components/schemas/{model}",
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in definitions.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        own_parsers = {f"/v1/{kind.path}{end}" for kind in KINDS for end in ("", "/batch")}
        declare_real_answers(spec, own_parsers)
        app.openapi_schema = spec
    return app.openapi_schema
