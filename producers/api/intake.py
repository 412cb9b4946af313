"""The intake pipeline: validate, authorise, deduplicate, publish and audit reported events."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from producers.api import permissions
from producers.api.answers import Answer, Refused, field_problems
from producers.api.audit import UNKNOWN_SUBJECT, audit_entry, write_audit
from producers.api.broker import BrokerUnavailable
from producers.api.receipts import (
    NewReceipt,
    Receipt,
    body_digest,
    find_receipts,
    lock_event_ids,
    store_receipts,
)
from producers.edge_policy import admit
from schemas.events import AuditAction, AuditEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from producers.api.auth import Caller
    from producers.api.broker import BrokerLink
    from producers.api.edge import PlateKey
    from producers.api.kinds import EventKind
    from producers.api.limits import ApiLimits, RateLimiter
    from schemas.common import Contract

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Candidate:
    """A valid event of the request, pseudonymised, not yet judged."""

    index: int
    event_id: str
    event: Contract
    digest: str


@dataclass
class _Round:
    """What one request decided so far: answers by index, audit entries, receipts to keep."""

    answers: dict[int, Answer] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    receipts: list[NewReceipt] = field(default_factory=list)


@dataclass
class Intake:
    """What the endpoints share: one pool, one broker link, the limiter and the plate key."""

    pool: asyncpg.Pool
    broker: BrokerLink
    limiter: RateLimiter
    limits: ApiLimits
    plate_key: PlateKey

    async def take_in(self, caller: Caller, kind: EventKind, items: Sequence[Any]) -> list[Answer]:
        """One answer per item, in order; raises Refused when the whole request is refused."""
        refusal = permissions.kind_refusal(caller, kind)
        if refusal is not None:
            await self._refuse_all(caller, kind, items, Refused(403, refusal))
        wait = self.limiter.take(caller.organisation_id, len(items))
        if wait is not None:
            reason = f"rate limit of {kind.title} exceeded for {caller.organisation_id}"
            await self._refuse_all(caller, kind, items, Refused(429, reason, retry_after=wait))

        round_ = _Round()
        candidates = []
        for index, item in enumerate(items):
            candidate = self._validate(caller, kind, index, item, round_)
            if candidate is not None:
                candidates.append(candidate)
        connection = await self._connection(caller, len(items))
        try:
            async with connection.transaction():
                if candidates:
                    await self._judge_and_publish(connection, caller, kind, candidates, round_)
                await store_receipts(connection, round_.receipts)
                await write_audit(connection, round_.audit)
        finally:
            await self.pool.release(connection)
        return [round_.answers[index] for index in range(len(items))]

    async def _connection(self, caller: Caller, events: int) -> asyncpg.Connection:
        """A connection of the pool, or 503 when none is free in time (not a queue for ever)."""
        wait = self.limits.database_wait_seconds
        try:
            connection: asyncpg.Connection = await self.pool.acquire(timeout=wait)
        except TimeoutError:
            # Not audited: the audit log is in the database nobody can reach just now.
            logger.warning(
                "no database connection free, request refused",
                extra={"organisation_id": caller.organisation_id, "events": events, "wait_s": wait},
            )
            raise Refused(
                503, f"busy: no database connection free within {wait:g} s, nothing was published",
                retry_after=self.limits.broker_retry_seconds,
            ) from None  # fmt: skip
        return connection

    def _validate(
        self, caller: Caller, kind: EventKind, index: int, item: Any, round_: _Round
    ) -> _Candidate | None:
        try:
            edge = kind.edge_model.model_validate(item)
            event = admit(kind.to_contract(edge, self.plate_key))
        except ValidationError as error:
            problems = field_problems(error.errors(include_url=False))
            event_id = _event_id_of(item)
            self._decide(
                round_, caller, kind, index, Answer(422, event_id, problems), subject=event_id
            )
            return None
        event_id = str(getattr(event, "event_id"))  # noqa: B009 - every kind has event_id
        return _Candidate(index, event_id, event, body_digest(event))

    async def _judge_and_publish(
        self,
        connection: asyncpg.Connection,
        caller: Caller,
        kind: EventKind,
        candidates: list[_Candidate],
        round_: _Round,
    ) -> None:
        # The locks hold until commit, that is until the receipts of what was published exist.
        await lock_event_ids(connection, (c.event_id for c in candidates))
        receipts = await find_receipts(connection, [c.event_id for c in candidates])
        refusals = await permissions.ownership_refusals(
            connection, caller, [c.event for c in candidates]
        )
        to_publish: list[_Candidate] = []
        repeats: list[tuple[_Candidate, _Candidate]] = []
        first_by_id: dict[str, _Candidate] = {}
        for candidate, refusal in zip(candidates, refusals, strict=True):
            receipt = receipts.get(candidate.event_id)
            earlier = first_by_id.setdefault(candidate.event_id, candidate)
            if receipt is not None:
                self._replay(round_, caller, kind, candidate, receipt)
            elif earlier is not candidate:
                repeats.append((candidate, earlier))
            elif refusal is not None:
                self._decide(
                    round_,
                    caller,
                    kind,
                    candidate.index,
                    Answer(403, candidate.event_id, refusal),
                    subject=candidate.event_id,
                )
            else:
                to_publish.append(candidate)
        await self._publish(caller, kind, to_publish, round_)
        for candidate, earlier in repeats:
            self._repeat_in_batch(round_, caller, kind, candidate, earlier)

    async def _publish(
        self, caller: Caller, kind: EventKind, candidates: list[_Candidate], round_: _Round
    ) -> None:
        source = f"/producers/api/{caller.organisation_id}"
        outcomes = await asyncio.gather(
            *(self.broker.publish(kind.spec, c.event, source=source) for c in candidates),
            return_exceptions=True,
        )
        for candidate, outcome in zip(candidates, outcomes, strict=True):
            if isinstance(outcome, BrokerUnavailable):
                answer = Answer(
                    503,
                    candidate.event_id,
                    f"broker unavailable, nothing was published: {outcome}",
                    retry_after=self.limits.broker_retry_seconds,
                )
                self._decide(
                    round_, caller, kind, candidate.index, answer, subject=candidate.event_id
                )
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            answer = Answer(202, candidate.event_id)
            self._decide(
                round_,
                caller,
                kind,
                candidate.index,
                answer,
                subject=candidate.event_id,
                extra={
                    "topic": outcome.topic,
                    "partition": outcome.partition,
                    "offset": outcome.offset,
                },
            )
            round_.receipts.append(
                NewReceipt(
                    event_id=candidate.event_id,
                    organisation_id=caller.organisation_id,
                    event_type=kind.name,
                    body_sha256=candidate.digest,
                    status_code=202,
                    body={"event_id": candidate.event_id},
                )
            )

    def _replay(
        self,
        round_: _Round,
        caller: Caller,
        kind: EventKind,
        candidate: _Candidate,
        receipt: Receipt,
    ) -> None:
        same = (
            receipt.organisation_id == caller.organisation_id
            and receipt.body_sha256 == candidate.digest
        )
        first = Answer(receipt.status_code, str(receipt.body["event_id"]))
        self._decide_replay(round_, caller, kind, candidate, first if same else None)

    def _repeat_in_batch(
        self,
        round_: _Round,
        caller: Caller,
        kind: EventKind,
        candidate: _Candidate,
        earlier: _Candidate,
    ) -> None:
        # The earlier answer is only looked up for a true repeat, as before.
        first = round_.answers[earlier.index] if candidate.digest == earlier.digest else None
        self._decide_replay(round_, caller, kind, candidate, first)

    def _decide_replay(
        self,
        round_: _Round,
        caller: Caller,
        kind: EventKind,
        candidate: _Candidate,
        first: Answer | None,
    ) -> None:
        """A replay gets the first answer again; another event under the same id gets 409."""
        answer = first or Answer(
            409,
            candidate.event_id,
            f"event id {candidate.event_id} was already used for another event",
        )
        self._decide(
            round_,
            caller,
            kind,
            candidate.index,
            answer,
            subject=candidate.event_id,
            extra={"replay": True},
        )

    def _decide(
        self,
        round_: _Round,
        caller: Caller,
        kind: EventKind,
        index: int,
        answer: Answer,
        *,
        subject: str | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        round_.answers[index] = answer
        details = _details(caller, kind, answer) | (extra or {})
        accepted = answer.status == 202
        round_.audit.append(
            audit_entry(
                caller.organisation_id,
                AuditAction.EVENT_ACCEPTED if accepted else AuditAction.EVENT_REJECTED,
                subject or UNKNOWN_SUBJECT,
                details,
            )
        )
        logger.log(
            logging.INFO if accepted or answer.status < 500 else logging.WARNING,
            "event accepted" if accepted else "event rejected",
            extra={"event_id": subject, "organisation_id": caller.organisation_id, **details},
        )

    async def _refuse_all(
        self, caller: Caller, kind: EventKind, items: Sequence[Any], refusal: Refused
    ) -> NoReturn:
        """Audit every event of a refused request, then raise the refusal."""
        answer = Answer(refusal.status, None, refusal.reason, refusal.retry_after)
        entries = [
            audit_entry(
                caller.organisation_id,
                AuditAction.EVENT_REJECTED,
                _event_id_of(item) or UNKNOWN_SUBJECT,
                _details(caller, kind, answer),
            )
            for item in items
        ]
        await write_audit(self.pool, entries)
        logger.info(
            "request refused",
            extra={
                "organisation_id": caller.organisation_id,
                "events": len(items),
                **_details(caller, kind, answer),
            },
        )
        raise refusal


def _details(caller: Caller, kind: EventKind, answer: Answer) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind.name, "status": answer.status, "key_id": caller.key_id}
    if isinstance(answer.detail, list):
        details["reason"] = [problem.model_dump() for problem in answer.detail]
    elif answer.detail is not None:
        details["reason"] = answer.detail
    return details


def _event_id_of(item: Any) -> str | None:
    """The item's event id if it is a valid UUID; anything else is not worth keeping."""
    raw = item.get("event_id") if isinstance(item, dict) else None
    try:
        return str(uuid.UUID(str(raw))) if raw is not None else None
    except ValueError:
        return None
