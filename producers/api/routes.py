"""The JSON endpoints: one single and one batch endpoint per kind of event, and a health check."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import Field, TypeAdapter, ValidationError

from heterdaad import metrics
from heterdaad.auth import Caller, require_caller
from heterdaad.consumption import group_readiness
from heterdaad.health import metrics_response
from producers.api.answers import (
    Accepted,
    BatchAnswer,
    Problem,
    Refused,
    ValidationProblem,
    batch_response,
    refused_response,
    single_response,
)
from producers.api.kinds import KINDS, EventKind
from producers.api.spec_answers import RETRY_AFTER
from schemas.topics import ALARM_ACTIVATIONS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from heterdaad.settings import Settings
    from producers.api.intake import Intake

logger = logging.getLogger(__name__)

_ONE_EVENT = TypeAdapter(dict[str, Any])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No key, or a key that is unknown, revoked or expired."},
    403: {"model": Problem, "description": "The key's organisation may not post this (reason)."},
    413: {"model": Problem, "description": "The request body is too large."},
    422: {"model": ValidationProblem, "description": "Each offending field and why."},
    429: {"model": Problem, "description": "Rate limit of the organisation; see Retry-After."},
}


def intake_of(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def _json_body(request: Request, adapter: TypeAdapter[Any]) -> Any:
    """The body parsed by the adapter, or the validation handler's 422 naming what is wrong."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        # A client that compresses its body was answered that its JSON was not UTF-8.
        reason = f"Content-Encoding {encoding} is not taken: send the JSON uncompressed"
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": reason}])
    body = await request.body()
    try:
        parsed = json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"Invalid JSON: {reason}"}]
        ) from None
    try:
        return adapter.validate_python(parsed)
    except ValidationError as error:
        # Prefixed with 'body' like FastAPI's own errors, so one handler words every 422.
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)]
        ) from None


# I-JSON (RFC 7493): an object names each member once, and a number is a number. A repeated
# key has no meaning every reader agrees on (most keep the last, some the first), so a check
# in front of this API could read another event than the one published: refused, not guessed.
def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} appears more than once in one object")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _request_body(schema_name: str, *, batch: bool, max_items: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": f"#/components/schemas/{schema_name}"}
    if batch:
        schema = {"type": "array", "items": schema, "minItems": 1, "maxItems": max_items}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _single_endpoint(kind: EventKind) -> Callable[..., Awaitable[JSONResponse]]:
    async def post_one(
        request: Request, caller: Annotated[Caller, Depends(require_caller)]
    ) -> JSONResponse:
        item = await _json_body(request, _ONE_EVENT)
        try:
            [answer] = await intake_of(request).take_in(caller, kind, [item])
        except Refused as refusal:
            _count_answers(refusal.status)
            return refused_response(refusal)
        _count_answers(answer.status)
        return single_response(answer)

    return post_one


def _count_answers(*statuses: int) -> None:
    # One decision per event, by the status it got (on its own, or as its batch's refusal).
    for status in statuses:
        metrics.DECISIONS.labels(stage="api_intake", outcome=str(status)).inc()


def _batch_endpoint(kind: EventKind, max_items: int) -> Callable[..., Awaitable[JSONResponse]]:
    many_events: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(
        Annotated[list[dict[str, Any]], Field(min_length=1, max_length=max_items)]
    )

    async def post_batch(
        request: Request, caller: Annotated[Caller, Depends(require_caller)]
    ) -> JSONResponse:
        items = await _json_body(request, many_events)
        try:
            answers = await intake_of(request).take_in(caller, kind, items)
        except Refused as refusal:
            _count_answers(*[refusal.status] * len(items))
            return refused_response(refusal)
        _count_answers(*(answer.status for answer in answers))
        return batch_response(answers)

    return post_batch


def event_router(max_batch_items: int) -> APIRouter:
    """Routes for every kind; bodies are validated per event so a batch is answered per event."""
    router = APIRouter(prefix="/v1", tags=["events"])
    for kind in KINDS:
        schema_name = kind.edge_model.__name__
        router.add_api_route(
            f"/{kind.path}",
            _single_endpoint(kind),
            methods=["POST"],
            status_code=202,
            response_model=None,
            operation_id=f"post_{kind.name}",
            summary=f"Report one of the {kind.title}",
            description=f"Published to {kind.spec.suffix} once the broker acknowledged it. "
            "Idempotent by event_id: a replay gets the first answer, another body under "
            "the same id gets 409. 503 with Retry-After when the broker did not acknowledge.",
            responses={
                202: {"model": Accepted, "description": "Acknowledged by the broker."},
                **_REFUSALS,
                409: {"model": Problem, "description": "The event id was used for another event."},
                503: {"model": Problem, "description": "Broker unavailable, or no database "
                      "connection free in time; see Retry-After."},
            },
            openapi_extra=_request_body(schema_name, batch=False, max_items=max_batch_items),
        )
        router.add_api_route(
            f"/{kind.path}/batch",
            _batch_endpoint(kind, max_batch_items),
            methods=["POST"],
            status_code=207,
            response_model=None,
            operation_id=f"post_{kind.name}_batch",
            summary=f"Report up to {max_batch_items} {kind.title} at once",
            description="Each event is judged on its own; the answer lists a status per event "
            "(202, 403, 409, 422 or 503 with retry_after), in the order sent.",
            responses={
                207: {"model": BatchAnswer, "description": "One result per event."},
                **_REFUSALS,
            },
            openapi_extra=_request_body(schema_name, batch=True, max_items=max_batch_items),
        )
    return router


def health_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/health",
        summary="Whether the database answers and the broker is connected",
        responses={503: {
            "description": "The database or the broker is away, or no database connection came "
            "free in time (the body says which).",
            "headers": {"Retry-After": RETRY_AFTER},
        }},
    )
    async def health(request: Request) -> JSONResponse:
        intake = intake_of(request)
        database = True
        try:
            # Waits for a connection at most database_wait_seconds, as every route (BoundedPool).
            await intake.pool.fetchval("SELECT 1")
        except Exception:  # any failure means: not healthy, say so rather than raise
            logger.warning("database check failed", exc_info=True)
            database = False
        if database and intake.broker.connected:
            return JSONResponse({"database": True, "broker": True})
        return JSONResponse(
            {"database": database, "broker": intake.broker.connected},
            status_code=503,
            headers={"Retry-After": str(intake.limits.broker_retry_seconds)},
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # Counters with bounded labels, no ids or names (heterdaad/metrics.py): for the scraper.
        return metrics_response()

    @router.get("/healthz", summary="Whether the API process answers (liveness)")
    async def healthz() -> JSONResponse:
        return JSONResponse({"live": True})

    @router.get(
        "/readyz",
        summary="Whether alarms would be judged: the worker's group consumes",
        responses={503: {"description": "Not ready: no worker in the group, or a backlog."}},
    )
    async def readyz() -> JSONResponse:
        # Asked of the broker: the worker's consumer group has a member and no backlog on the
        # alarm activations. A dead or stuck worker says nothing itself; its group shows it.
        try:
            readiness = await group_readiness(
                settings, settings.app_id, [ALARM_ACTIVATIONS.name(settings.topic_prefix)],
                settings.worker_ready_max_lag,
            )  # fmt: skip
        except Exception as error:  # an unreachable broker means: not ready, say so
            logger.warning("readiness check failed", exc_info=True)
            return JSONResponse({"ready": False, "problems": [repr(error)]}, status_code=503)
        return JSONResponse(readiness.as_json(), status_code=200 if readiness.ready else 503)

    return router
