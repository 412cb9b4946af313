"""What the intake answers: per-event results, field problems and their HTTP responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

# The error shapes are the core's, shared with the routers of consumers/; named here as before.
from heterdaad.problems import FieldProblem as FieldProblem
from heterdaad.problems import Problem as Problem
from heterdaad.problems import ValidationProblem as ValidationProblem
from producers.reasons import plain


class Accepted(BaseModel):
    """The broker acknowledged the event."""

    event_id: UUID


class ItemResult(BaseModel):
    """The answer to one event of a batch, with the status it would have had on its own."""

    index: int
    status: int
    event_id: UUID | None = None
    detail: str | list[FieldProblem] | None = None
    retry_after: int | None = Field(None, description="Seconds to wait before retrying (503).")


class BatchAnswer(BaseModel):
    results: list[ItemResult]


@dataclass(frozen=True)
class Answer:
    """The intake's answer to one event."""

    status: int
    event_id: str | None = None
    detail: str | list[FieldProblem] | None = None
    retry_after: int | None = None


class Refused(Exception):
    """A whole request refused before any event was looked at (role, scope, rate)."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


def field_problems(errors: Sequence[Mapping[str, Any]], *, skip: int = 0) -> list[FieldProblem]:
    """Each error's location and message; never its input, which may hold a raw plate."""
    problems = []
    for error in errors:
        location = ".".join(str(part) for part in tuple(error["loc"])[skip:]) or "(body)"
        if error.get("type") == "json_invalid":
            # FastAPI places a body that is not JSON at its character offset: no field of it.
            location = "(body)"
        problems.append(FieldProblem(field=location, reason=plain(str(error["msg"]))))
    return problems


def _retry_headers(retry_after: int | None) -> dict[str, str] | None:
    return None if retry_after is None else {"Retry-After": str(retry_after)}


def single_response(answer: Answer) -> JSONResponse:
    if answer.status == 202:
        body: dict[str, Any] = {"event_id": answer.event_id}
    elif isinstance(answer.detail, list):
        body = {"detail": [problem.model_dump() for problem in answer.detail]}
    else:
        body = {"detail": answer.detail}
    return JSONResponse(body, status_code=answer.status, headers=_retry_headers(answer.retry_after))


def batch_response(answers: Sequence[Answer]) -> JSONResponse:
    results = [
        ItemResult(
            index=index,
            status=answer.status,
            event_id=UUID(answer.event_id) if answer.event_id else None,
            detail=answer.detail,
            retry_after=answer.retry_after,
        )
        for index, answer in enumerate(answers)
    ]
    waits = [answer.retry_after for answer in answers if answer.retry_after is not None]
    # 207: every event has its own status in the body; Retry-After covers the longest wait.
    return JSONResponse(
        BatchAnswer(results=results).model_dump(mode="json", exclude_none=True),
        status_code=207,
        headers=_retry_headers(max(waits) if waits else None),
    )


def refused_response(refusal: Refused) -> JSONResponse:
    return JSONResponse(
        {"detail": refusal.reason},
        status_code=refusal.status,
        headers=_retry_headers(refusal.retry_after),
    )
