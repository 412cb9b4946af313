"""The one way in for every edge (the API, /meld, the CBL import, the SIA receiver).

An event that passed the edge policy (producers/edge_policy.py `admit`) is judged against the
database (is it the caller's to report; its branch or site as the registry has it), its receipt is
claimed as pending, it is published through the one checked producer (BrokerLink), and the
receipt is confirmed once the broker acknowledged, or released so that a retry publishes again.
No transaction waits on the broker: the claim is committed before the publish, the
confirmation is a transaction of its own (docs/fault-tolerance.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from heterdaad.problems import FieldProblem
from producers.api import permissions, registry
from producers.api.broker import BrokerUnavailable
from producers.api.receipts import (
    Receipt,
    confirm_receipts,
    digest_of,
    published_json,
    release_receipts,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import asyncpg
    from aiokafka.structs import RecordMetadata

    from heterdaad.auth import Caller
    from producers.api.broker import BrokerLink
    from schemas.common import Contract
    from schemas.topics import TopicSpec

# A pending receipt older than this many publish timeouts lost its process (no publish takes
# longer): another delivery takes it over and publishes again.
STALE_CLAIM_TIMEOUTS = 3


@dataclass(frozen=True)
class Judgement:
    """An event as it would be published, and why it may not be, if it may not."""

    event: Contract
    # Its JSON as published, made once: the receipt's digest and the record's data.
    data: bytes
    # A reason (403: not the caller's to report) or the field at fault (422: not registered).
    refusal: str | FieldProblem | None

    @property
    def digest(self) -> str:
        return digest_of(self.data)


async def judge(
    connection: asyncpg.Connection, caller: Caller, events: Sequence[Contract]
) -> list[Judgement]:
    """Each event with its branch or site as registered (registry.py), and the caller's right."""
    owners = await permissions.ownership_refusals(connection, caller, events)
    registered = await registry.as_registered(connection, events)
    judgements = []
    for event, as_registered, refusal in zip(events, registered, owners, strict=True):
        if isinstance(as_registered, registry.Unregistered):
            problem = FieldProblem(field=as_registered.field, reason=as_registered.reason)
            judgements.append(Judgement(event, published_json(event), refusal or problem))
        else:
            judgements.append(Judgement(as_registered, published_json(as_registered), refusal))
    return judgements


async def held_by_others(
    connection: asyncpg.Connection, caller: Caller, event_type: str, event_ids: Sequence[str]
) -> set[str]:
    """The ids stored (by the sink) as an event of another type or organisation: a SIA press
    has no receipt, so a report under its id (read off an alert's dedup key) is told here,
    not dead-lettered by the sink after a 202."""
    if not event_ids:
        return set()
    rows = await connection.fetch(
        "SELECT event_id::text FROM event WHERE event_id = ANY($1::uuid[]) "
        "AND (event_type <> $2 OR organisation_id <> $3)",
        list(event_ids), event_type, caller.organisation_id,
    )  # fmt: skip
    return {row["event_id"] for row in rows}


def is_stale(receipt: Receipt, publish_timeout: float) -> bool:
    """A pending claim whose process died before confirming: the event is published again."""
    stale_after = timedelta(seconds=STALE_CLAIM_TIMEOUTS * publish_timeout)
    return receipt.pending_for is not None and receipt.pending_for > stale_after


async def publish(
    broker: BrokerLink,
    spec: TopicSpec,
    events: Sequence[Contract],
    *,
    source: str,
    data: Sequence[bytes] | None = None,
) -> list[RecordMetadata | BrokerUnavailable]:
    """Each event's acknowledgement, or why the broker did not give one; other errors raise.

    `data`: each event's JSON as judged (`Judgement.data`), so it is not serialised again."""
    datas: Sequence[bytes | None] = [None] * len(events) if data is None else data
    outcomes = await asyncio.gather(
        *(
            broker.publish(spec, event, source=source, data=json)
            for event, json in zip(events, datas, strict=True)
        ),
        return_exceptions=True,
    )
    results: list[RecordMetadata | BrokerUnavailable] = []
    for outcome in outcomes:
        if isinstance(outcome, BrokerUnavailable) or not isinstance(outcome, BaseException):
            results.append(outcome)
        else:
            raise outcome
    return results


async def settle(
    connection: asyncpg.Connection, claimed: Iterable[str], published: Sequence[str]
) -> None:
    """Confirm the receipts of what the broker acknowledged; release the other claims."""
    await confirm_receipts(connection, published)
    await release_receipts(connection, sorted(set(claimed) - set(published)))
