"""Idempotency by event id: the first answer is kept once the broker acknowledged the event."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import asyncpg

    from schemas.common import Contract

# Namespace of the two-key advisory locks; the one-key locks (migrations) are a separate space.
_LOCK_SPACE = 0x6864


@dataclass(frozen=True)
class Receipt:
    event_id: str
    organisation_id: str
    body_sha256: str
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class NewReceipt:
    event_id: str
    organisation_id: str
    event_type: str
    body_sha256: str
    status_code: int
    body: dict[str, Any]


def body_digest(event: Contract) -> str:
    """Digest of the event as published, so the raw plate never reaches the receipt."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


async def lock_event_ids(connection: asyncpg.Connection, event_ids: Iterable[str]) -> None:
    """Serialise concurrent requests for the same ids until the transaction ends.

    Without it two concurrent first deliveries could both publish. Ids are locked in sorted
    order so two batches sharing ids cannot deadlock; a crash releases the locks.
    """
    await connection.executemany(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        [(_LOCK_SPACE, event_id) for event_id in sorted(set(event_ids))],
    )


async def find_receipts(
    connection: asyncpg.Connection, event_ids: Sequence[str]
) -> dict[str, Receipt]:
    rows = await connection.fetch(
        "SELECT event_id::text, organisation_id, body_sha256, status_code, body "
        "FROM ingest_receipt WHERE event_id = ANY($1::uuid[])",
        list(event_ids),
    )
    return {
        row["event_id"]: Receipt(
            event_id=row["event_id"],
            organisation_id=row["organisation_id"],
            body_sha256=row["body_sha256"],
            status_code=row["status_code"],
            body=json.loads(row["body"]),
        )
        for row in rows
    }


async def store_receipts(connection: asyncpg.Connection, receipts: Sequence[NewReceipt]) -> None:
    if not receipts:
        return
    await connection.executemany(
        "INSERT INTO ingest_receipt "
        "(event_id, organisation_id, event_type, body_sha256, status_code, body) "
        "VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb)",
        [
            (
                receipt.event_id,
                receipt.organisation_id,
                receipt.event_type,
                receipt.body_sha256,
                receipt.status_code,
                json.dumps(receipt.body),
            )
            for receipt in receipts
        ],
    )
