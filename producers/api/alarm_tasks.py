"""`/v1/alarm-tasks`: an alarm centre reads the tasks raised for it and answers them.

Decisions (docs/alarm-tasks.md):
- only organisations with role `alarm_centre`, and only their own tasks; another centre's task
  answers 404, like one that does not exist. The key needs the scope of posting alarm
  activations: the software that forwards presses is the one that verifies them, and a verdict
  is an activation with a verification;
- `wait` makes the list a long-poll: without a task to show, the request waits up to `wait`
  seconds (at most `api_limits.task_wait_max_seconds`) for one, for centres without a webhook.
  Each answer carries a `cursor`; `after=<cursor>` asks only for tasks stored since, so that a
  poller with open tasks waits for new ones instead of getting the same list at once;
- a verdict is recorded, then published as the activation-with-verification the verifier
  takes (the press's own fields and `occurred_at`, an event id derived from the task id, so a
  retried POST is the same event to the verifier). Recorded first so that the sink, storing
  that activation, finds the task answered and keeps this record with its note; taken back
  when the broker does not acknowledge it (503), so nothing stays recorded that the verifier
  did not get. The same verdict POSTed again (a retry after a 503 or a lost answer) is
  published again and answered 200; another verdict is 409;
- a verdict after the deadline is taken and recorded as `late`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from heterdaad import alarm_tasks
from heterdaad.auth import Caller, require_scope
from producers.api.answers import Problem
from producers.api.audit import audit_entry, write_audit
from producers.api.broker import BrokerUnavailable
from producers.api.kinds import ALARM_ACTIVATION
from schemas.common import refuse_control_characters
from schemas.events import AlarmActivation, AuditAction, Verification, VerificationMethod
from schemas.topics import ALARM_ACTIVATIONS

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import ApiLimits
    from producers.api.intake import Intake

logger = logging.getLogger(__name__)

SCOPE = ALARM_ACTIVATION.scope


def verdict_event_id(task_id: uuid.UUID, id_key: bytes) -> uuid.UUID:
    """The event id of a task's verdict: the same on every retry, and keyed.

    Keyed as CBL event ids are (producers/cbl_import/rows.py): a task id is computable from
    the press's id (alert_id_for of `verify:<site>:<press>`), which a hold-up alert's dedup key
    shows every branch it warns. A plain uuid5 of the task id let another organisation post a
    report under the verdict's id first; the sink kept that report and dropped the verdict
    without a word. The key is the server's plate key, under a label of its own.
    """
    label = f"alarm-verdict-event-id\x00{task_id}".encode()
    digest = hmac.new(id_key, label, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


_MOST_TASKS = 500


class VerdictMethod(StrEnum):
    """How the centre verified: the procedure's methods, in the centre's words."""

    CAMERA = "camera"
    AUDIO = "audio"
    CALLBACK = "callback"
    SECOND_BUTTON = "second_button"
    PERSON_ON_SITE = "person_on_site"

    def contract(self) -> VerificationMethod:
        if self is VerdictMethod.SECOND_BUTTON:
            return VerificationMethod.SEQUENTIAL_BUTTONS
        return VerificationMethod(self.value)


Note = Annotated[str, Field(max_length=500), AfterValidator(refuse_control_characters)]


class VerdictIn(BaseModel):
    """What the centre found."""

    model_config = ConfigDict(extra="forbid")

    method: VerdictMethod
    # Strict: a "yes" or 1 is no verdict; lax, "yes" raised a critical verified_alarm.
    verified: StrictBool = Field(description="True: a real hold-up; false: the centre found none.")
    note: Note | None = None


class TaskVerdict(BaseModel):
    method: str
    verified: bool
    note: str | None
    at: datetime
    via: Literal["api", "activation"]
    late: bool = Field(description="Given after the task's deadline.")


class AlarmTaskOut(BaseModel):
    task_id: uuid.UUID
    kind: str
    site_id: str
    signal: str
    activation_ids: list[uuid.UUID]
    created_at: datetime
    deadline: datetime
    status: Literal["open", "answered", "expired"]
    verdict: TaskVerdict | None


class AlarmTaskList(BaseModel):
    tasks: list[AlarmTaskOut]
    cursor: int | None = Field(
        description="Pass as `after` to get only tasks stored since this answer."
    )


WAIT = "Seconds to wait for a task when there is none (long-poll)."
AFTER = "The cursor of an earlier answer: only tasks stored after it."
TaskStatus = Literal["open", "answered", "expired", "all"]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No key, or a key that is unknown, revoked or expired."},
    403: {"model": Problem, "description": f"Not an alarm centre, or the key lacks {SCOPE}."},
}  # fmt: skip


class StoredTasks:
    """Wakes waiting long-polls when the sink stores tasks (its pg_notify), so that they look at
    once rather than at their next poll; the poll stays, should the notification be lost."""

    def __init__(self, schema: str) -> None:
        self._channel = alarm_tasks.stored_channel(schema)
        self._told = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self.waiting = 0  # long-polls waiting now

    async def start(self, pool: asyncpg.Pool) -> None:
        self._connection = await pool.acquire()
        await self._connection.add_listener(self._channel, self._tell)

    async def stop(self, pool: asyncpg.Pool) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # a connection lost with the database
                await self._connection.remove_listener(self._channel, self._tell)
                await pool.release(self._connection)

    def _tell(self, *_: object) -> None:
        # Set the event of everyone who looked before now; later lookers get a new one.
        told, self._told = self._told, asyncio.Event()
        told.set()

    def before_looking(self) -> asyncio.Event:
        """Taken before a look at the table: set by any task stored after it, so a task
        stored during the look is not missed by the wait that follows."""
        return self._told

    async def wait(self, told: asyncio.Event, seconds: float) -> None:
        """Until `told` is set (tasks were stored) or `seconds` have passed."""
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(told.wait(), seconds)
        finally:
            self.waiting -= 1


# An alarm centre's caller with a key that may answer its tasks.
Centre = Annotated[Caller, Depends(require_scope(
    SCOPE, {"alarm_centre"}, "alarm tasks are for alarm centres, not role {role}"
))]  # fmt: skip


def _task_of(row: asyncpg.Record) -> AlarmTaskOut:
    verdict = None
    if row["answered_at"] is not None:
        verdict = TaskVerdict(
            method=row["verdict_method"], verified=row["verified"], note=row["verdict_note"],
            at=row["answered_at"], via=row["answered_via"], late=bool(row["late"]),
        )  # fmt: skip
    return AlarmTaskOut(
        task_id=row["task_id"], kind=row["kind"], site_id=row["site_id"], signal=row["signal"],
        activation_ids=list(row["activation_ids"]), created_at=row["created_at"],
        deadline=row["deadline"], status=row["status"], verdict=verdict,
    )  # fmt: skip


async def _tasks(
    pool: asyncpg.Pool, centre: str, status: TaskStatus, after: int | None
) -> list[asyncpg.Record]:
    await alarm_tasks.expire(pool, datetime.now(UTC), centre)
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT * FROM alarm_task WHERE alarm_centre = $1 AND ($2 = 'all' OR status = $2) "
        "AND ($3::bigint IS NULL OR seq > $3) ORDER BY seq LIMIT $4",
        centre, status, after, _MOST_TASKS,
    )  # fmt: skip
    return rows


def alarm_task_router(limits: ApiLimits) -> APIRouter:
    router = APIRouter(prefix="/v1/alarm-tasks", tags=["alarm tasks"], responses=_REFUSALS)

    @router.get("", response_model=AlarmTaskList)
    async def list_alarm_tasks(
        request: Request,
        caller: Centre,
        status: TaskStatus = "open",
        # A default, not Annotated: the bound is the settings', which a string annotation
        # (from __future__) could not reach.
        wait: float = Query(0, ge=0, le=limits.task_wait_max_seconds, description=WAIT),
        after: int | None = Query(None, ge=0, le=2**63 - 1, description=AFTER),
    ) -> AlarmTaskList:
        """The caller's tasks in the order they were stored; with `wait`, the answer comes when
        there is one (or the wait is over)."""
        pool = _intake(request).pool
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        stored: StoredTasks | None = getattr(request.app.state, "stored_tasks", None)
        while True:
            told = stored.before_looking() if stored is not None else None
            rows = await _tasks(pool, caller.organisation_id, status, after)
            if rows or loop.time() >= until:
                break
            pause = min(limits.task_poll_seconds, until - loop.time())
            if stored is None or told is None:
                await asyncio.sleep(pause)
            else:
                await stored.wait(told, pause)
        cursor = rows[-1]["seq"] if rows else after
        return AlarmTaskList(tasks=[_task_of(row) for row in rows], cursor=cursor)

    @router.post(
        "/{task_id}/verdict",
        response_model=AlarmTaskOut,
        responses={
            404: {"model": Problem, "description": "No task of the caller's with this id."},
            409: {"model": Problem, "description": "Answered already, or not a verify task."},
            503: {"model": Problem, "description": "Broker or the task's press not there yet, "
                  "or no database connection free in time; see Retry-After."},
        },
    )
    async def give_verdict(
        request: Request, caller: Centre, task_id: uuid.UUID, verdict: VerdictIn
    ) -> AlarmTaskOut:
        """Record what the centre found and pass it to the verifier; it ends the task."""
        intake = _intake(request)
        # A plate typed into the note is pseudonymised, as in every free text at the edge.
        verdict = intake.plate_key.free_text(verdict)
        row = await _own_task(intake.pool, task_id, caller)
        method = verdict.method.contract()
        now = datetime.now(UTC)
        answer = alarm_tasks.Verdict(
            method=method.value, verified=verdict.verified, note=verdict.note, at=now,
            by=f"api:{caller.organisation_id}:{caller.key_id}",
        )  # fmt: skip
        retry = _same_verdict(row, answer)
        if row["answered_at"] is not None and not retry:
            raise HTTPException(409, f"task {task_id} was answered at {row['answered_at']}")
        press = await _press(intake.pool, row["activation_ids"][0])
        # Recorded before it is published, so that the sink, finding the published
        # activation, sees the task answered and keeps this record (with its note).
        if not retry and await alarm_tasks.record_verdict(intake.pool, task_id, answer) is None:
            raise HTTPException(409, f"task {task_id} was answered meanwhile")
        activation = press.model_copy(update={
            "event_id": verdict_event_id(task_id, intake.plate_key.key),
            "received_at": max(now, press.occurred_at),
            "verification": Verification(method=method, verified=verdict.verified, at=now),
            "free_text": None,
            "unauthenticated": False,
        })  # fmt: skip
        try:
            await intake.broker.publish(
                ALARM_ACTIVATIONS, activation, source=f"/producers/api/{caller.organisation_id}"
            )
        except BrokerUnavailable as error:
            if not retry:
                await alarm_tasks.withdraw_verdict(intake.pool, task_id, now)
            logger.warning("verdict not published", extra={"task_id": str(task_id),
                                                            "error": str(error)})  # fmt: skip
            raise HTTPException(
                503, "broker unavailable, try again",
                headers={"Retry-After": str(intake.limits.broker_retry_seconds)},
            ) from error  # fmt: skip
        stored = await _own_task(intake.pool, task_id, caller)
        await write_audit(intake.pool, [audit_entry(
            answer.by, AuditAction.EVENT_ACCEPTED, str(activation.event_id),
            {"kind": "alarm_task_verdict", "task_id": str(task_id), "method": answer.method,
             "verified": answer.verified, "late": bool(stored["late"]), "retry": retry,
             "key_id": caller.key_id},
        )])  # fmt: skip
        logger.info(
            "alarm task verdict",
            extra={"task_id": str(task_id), "alarm_centre": caller.organisation_id,
                   "verified": answer.verified, "method": answer.method,
                   "late": bool(stored["late"]), "retry": retry},
        )  # fmt: skip
        return _task_of(stored)

    return router


async def _own_task(pool: asyncpg.Pool, task_id: uuid.UUID, caller: Caller) -> asyncpg.Record:
    """The caller's verify task, else 404 (not theirs, or none) or 409 (another kind)."""
    row = await pool.fetchrow(
        "SELECT * FROM alarm_task WHERE task_id = $1 AND alarm_centre = $2",
        task_id, caller.organisation_id,
    )  # fmt: skip
    if row is None:
        raise HTTPException(404, f"no alarm task {task_id} of your alarm centre")
    if row["kind"] != "verify":
        raise HTTPException(409, f"a {row['kind']} task takes no verdict")
    return row


def _same_verdict(row: asyncpg.Record, answer: alarm_tasks.Verdict) -> bool:
    """A retried POST (after a 503, a lost answer): the same verdict, given through the API."""
    return (
        row["answered_via"] == "api"
        and (row["verdict_method"], row["verified"]) == (answer.method, answer.verified)
    )


async def _press(pool: asyncpg.Pool, activation_id: uuid.UUID) -> AlarmActivation:
    """The task's press as the sink stored it, whose fields the verdict repeats."""
    payload = await pool.fetchval(
        "SELECT payload FROM event WHERE event_id = $1 AND event_type = 'alarm_activation'",
        activation_id,
    )
    if payload is None:
        # The task reached the store before its press (two topics): a moment later it is there.
        raise HTTPException(503, "the task's press is not stored yet, try again",
                            headers={"Retry-After": "1"})  # fmt: skip
    return AlarmActivation.model_validate_json(payload)


def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake
