"""The intake pipeline: validate, authorise, deduplicate, publish and audit reported events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from heterdaad.db import DatabaseBusy
from producers import ingest
from producers.api import permissions
from producers.api.answers import Answer, FieldProblem, Refused, field_problems
from producers.api.audit import (
    UNKNOWN_SUBJECT,
    RefusedRequestAudit,
    audit_entry,
    write_audit,
)
from producers.api.broker import BrokerUnavailable
from producers.api.limits import RateLimiter
from producers.api.receipts import (
    NewReceipt,
    Receipt,
    claim_receipts,
    find_receipts,
    lock_event_ids,
    release_receipts,
)
from producers.edge_policy import admit, with_refusals_of_parts
from schemas.events import AuditAction, AuditEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from heterdaad.auth import Caller
    from producers.api.broker import BrokerLink
    from producers.api.edge import PlateKey
    from producers.api.kinds import EventKind
    from producers.api.limits import ApiLimits
    from schemas.common import Contract

logger = logging.getLogger(__name__)

# How often a delivery of an event that another request is publishing looks for its answer.
IN_FLIGHT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class _Candidate:
    """A valid event of the request, pseudonymised; `judged` once judged (as it would be
    published, its JSON made once for the receipt's digest and the record)."""

    index: int
    event_id: str
    event: Contract
    judged: ingest.Judgement | None = None

    @property
    def digest(self) -> str:
        assert self.judged is not None, "judged first"
        return self.judged.digest

    @property
    def data(self) -> bytes:
        assert self.judged is not None, "judged first"
        return self.judged.data


@dataclass
class _Round:
    """What one request decided so far: answers by index, audit entries, receipts to keep."""

    answers: dict[int, Answer] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    # Claimed (pending) receipts, by event id, to confirm once published.
    receipts: dict[str, NewReceipt] = field(default_factory=dict)
    # Events another request is publishing just now, each with its first delivery in this one.
    in_flight: list[_Candidate] = field(default_factory=list)
    repeats: list[tuple[_Candidate, _Candidate]] = field(default_factory=list)


@dataclass
class Intake:
    """What the endpoints share: one pool, one broker link, the limiter and the plate key."""

    pool: asyncpg.Pool
    broker: BrokerLink
    limiter: RateLimiter
    limits: ApiLimits
    plate_key: PlateKey
    refused_audit: RefusedRequestAudit = field(init=False)

    def __post_init__(self) -> None:
        self.refused_audit = RefusedRequestAudit(
            RateLimiter(
                rate=self.limits.refused_audit_per_second, burst=self.limits.refused_audit_burst
            )
        )

    async def take_in(self, caller: Caller, kind: EventKind, items: Sequence[Any]) -> list[Answer]:
        """One answer per item (a JSON value: what a body parsed to), in order; raises Refused
        when the whole request is refused."""
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
            to_publish: list[_Candidate] = []
            if candidates:
                # Short: locks, receipts looked up, new ones claimed as pending; committed
                # before the publish, so no transaction or lock waits on Kafka's ack.
                async with connection.transaction():
                    to_publish = await self._judge(connection, caller, kind, candidates, round_)
            try:
                published = await self._publish(caller, kind, to_publish, round_)
                for candidate in round_.in_flight:
                    await self._await_first_delivery(connection, caller, kind, candidate, round_)
                for candidate, earlier in round_.repeats:
                    self._repeat_in_batch(round_, caller, kind, candidate, earlier)
                async with connection.transaction():
                    await ingest.settle(connection, round_.receipts, published)
                    await write_audit(connection, round_.audit)
            except BaseException:
                # As when one transaction held it all: no answer kept, a retry publishes again.
                with contextlib.suppress(Exception):
                    await release_receipts(connection, list(round_.receipts))
                raise
        finally:
            await self.pool.release(connection)
        return [round_.answers[index] for index in range(len(items))]

    async def _connection(self, caller: Caller, events: int) -> asyncpg.Connection:
        """A connection of the pool, or 503 when none is free in time (not a queue for ever):
        the pool waits at most database_wait_seconds (heterdaad.db.BoundedPool); answered
        here, not by the app's handler, so that the refusal counts each event's decision."""
        try:
            connection: asyncpg.Connection = await self.pool.acquire()
        except DatabaseBusy as busy:
            # Not audited: the audit log is in the database nobody can reach just now.
            logger.warning(
                "no database connection free, request refused",
                extra={"organisation_id": caller.organisation_id, "events": events,
                       "wait_s": busy.wait},
            )  # fmt: skip
            raise Refused(
                503, f"busy: {busy}, nothing was published",
                retry_after=self.limits.broker_retry_seconds,
            ) from None  # fmt: skip
        return connection

    def _validate(
        self, caller: Caller, kind: EventKind, index: int, item: Any, round_: _Round
    ) -> _Candidate | None:
        try:
            # As JSON and strict, as the published schema says: no number for a time, no true
            # or 2.0 for a count, no "yes" for a boolean. An item is what a JSON body parsed to.
            edge = kind.edge_model.model_validate_json(json.dumps(item), strict=True)
            event = admit(kind.to_contract(edge, self.plate_key))
        except ValidationError as error:
            # Every reason at once: a malformed count stops the model before admit, so the
            # intake policy judges the fields that are valid on their own (a time ahead too).
            problems = field_problems(with_refusals_of_parts(error, kind.edge_model, item))
            event_id = _event_id_of(item)
            self._decide(
                round_, caller, kind, index, Answer(422, event_id, problems), subject=event_id
            )
            return None
        event_id = str(getattr(event, "event_id"))  # noqa: B009 - every kind has event_id
        return _Candidate(index, event_id, event)

    async def _judge(
        self,
        connection: asyncpg.Connection,
        caller: Caller,
        kind: EventKind,
        candidates: list[_Candidate],
        round_: _Round,
    ) -> list[_Candidate]:
        """What to publish: new events, claimed as pending receipts before the locks go."""
        # The locks hold until commit, that is until the claims of what will be published exist.
        await lock_event_ids(connection, (c.event_id for c in candidates))
        receipts = await find_receipts(
            connection, [c.event_id for c in candidates], with_pending=True
        )
        taken = await ingest.held_by_others(
            connection, caller, kind.name,
            [c.event_id for c in candidates if c.event_id not in receipts],
        )  # fmt: skip
        judgements = await ingest.judge(connection, caller, [c.event for c in candidates])
        candidates = [
            replace(candidate, event=judgement.event, judged=judgement)
            for candidate, judgement in zip(candidates, judgements, strict=True)
        ]
        refusals = [judgement.refusal for judgement in judgements]
        to_publish: list[_Candidate] = []
        repeats: list[tuple[_Candidate, _Candidate]] = []
        first_by_id: dict[str, _Candidate] = {}
        for candidate, refusal in zip(candidates, refusals, strict=True):
            receipt = receipts.get(candidate.event_id)
            if receipt is not None and receipt.pending_for is not None:
                if ingest.is_stale(receipt, self.limits.publish_timeout_seconds):
                    receipt = None  # its process died before confirming: publish again
                else:
                    earlier = first_by_id.setdefault(candidate.event_id, candidate)
                    if earlier is candidate:
                        round_.in_flight.append(candidate)
                    else:
                        repeats.append((candidate, earlier))
                    continue
            if receipt is None and candidate.event_id in taken:
                self._decide_replay(round_, caller, kind, candidate, None)  # 409
                continue
            earlier = first_by_id.setdefault(candidate.event_id, candidate)
            if receipt is not None:
                self._replay(round_, caller, kind, candidate, receipt)
            elif earlier is not candidate:
                repeats.append((candidate, earlier))
            elif refusal is not None:
                status, detail = (
                    (403, refusal) if isinstance(refusal, str) else (422, [refusal])
                )
                self._decide(
                    round_,
                    caller,
                    kind,
                    candidate.index,
                    Answer(status, candidate.event_id, detail),
                    subject=candidate.event_id,
                )
            else:
                to_publish.append(candidate)
                round_.receipts[candidate.event_id] = NewReceipt(
                    event_id=candidate.event_id,
                    organisation_id=caller.organisation_id,
                    event_type=kind.name,
                    body_sha256=candidate.digest,
                    status_code=202,
                    body={"event_id": candidate.event_id},
                )
        round_.repeats = repeats
        await claim_receipts(connection, list(round_.receipts.values()))
        return to_publish

    async def _publish(
        self, caller: Caller, kind: EventKind, candidates: list[_Candidate], round_: _Round
    ) -> list[str]:
        """The ids the broker acknowledged; each candidate gets its answer."""
        source = f"/producers/api/{caller.organisation_id}"
        outcomes = await ingest.publish(
            self.broker, kind.spec, [c.event for c in candidates], source=source,
            data=[c.data for c in candidates],
        )  # fmt: skip
        published: list[str] = []
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
            published.append(candidate.event_id)
        return published

    async def _await_first_delivery(
        self,
        connection: asyncpg.Connection,
        caller: Caller,
        kind: EventKind,
        candidate: _Candidate,
        round_: _Round,
    ) -> None:
        """Another request is publishing this event: its answer, once it has one, is ours."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.publish_timeout_seconds + 1.0
        while True:
            found = await find_receipts(connection, [candidate.event_id], with_pending=True)
            receipt = found.get(candidate.event_id)
            if receipt is not None and receipt.pending_for is None:
                self._replay(round_, caller, kind, candidate, receipt)
                return
            if receipt is None or loop.time() > deadline:
                answer = Answer(
                    503,
                    candidate.event_id,
                    "another delivery of this event is being published or failed to; retry",
                    retry_after=self.limits.broker_retry_seconds,
                )
                self._decide(
                    round_, caller, kind, candidate.index, answer, subject=candidate.event_id
                )
                return
            await asyncio.sleep(IN_FLIGHT_POLL_SECONDS)

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
        """Audit the refused request as one row with its counts (rate-limited), then raise."""
        answer = Answer(refusal.status, None, refusal.reason, refusal.retry_after)
        # The first event ids say which request it was; all of them would be the flood again.
        event_ids = [event_id for item in items[:10] if (event_id := _event_id_of(item))]
        single = len(items) == 1 and len(event_ids) == 1
        entry = self.refused_audit.entry(
            caller.organisation_id,
            event_ids[0] if single else f"{kind.name} request",
            _details(caller, kind, answer) | {"event_ids": event_ids},
            len(items),
        )
        if entry is not None:
            await write_audit(self.pool, [entry])
        logger.info(
            "request refused",
            extra={
                "organisation_id": caller.organisation_id,
                "events": len(items),
                **_details(caller, kind, answer),
            },
        )
        raise refusal


def malformed(kind: EventKind, item: Any) -> list[FieldProblem]:
    """What the intake would name in an item its edge model refuses, every reason; else []."""
    try:
        kind.edge_model.model_validate_json(json.dumps(item), strict=True)
    except ValidationError as error:
        return field_problems(with_refusals_of_parts(error, kind.edge_model, item))
    return []


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
