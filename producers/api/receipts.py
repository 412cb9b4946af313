"""Idempotency by event id: a receipt claimed before the publish, confirmed after the ack."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
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
    # None once confirmed; else how long ago the publish was claimed (by the database's clock).
    pending_for: timedelta | None = None


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
    return digest_of(published_json(event))


def published_json(event: Contract) -> bytes:
    """The event's JSON as it is published (the CloudEvent's data, schemas.wire.encode)."""
    return event.model_dump_json().encode()


def digest_of(data: bytes) -> str:
    """Digest of an event's published JSON (`published_json`)."""
    return hashlib.sha256(data).hexdigest()


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
    connection: asyncpg.Connection, event_ids: Sequence[str], *, with_pending: bool = False
) -> dict[str, Receipt]:
    """The receipts of these ids; pending ones (a publish under way) only when asked for.

    A reader that would skip an event because it was posted must not count a pending one:
    that publish may still fail, and the event would be lost rather than sent twice.
    """
    rows = await connection.fetch(
        "SELECT event_id::text, organisation_id, body_sha256, status_code, body, "
        "CASE WHEN confirmed_at IS NULL THEN now() - created_at END AS pending_for "
        "FROM ingest_receipt WHERE event_id = ANY($1::uuid[]) "
        "AND (confirmed_at IS NOT NULL OR $2)",
        list(event_ids),
        with_pending,
    )
    return {
        row["event_id"]: Receipt(
            event_id=row["event_id"],
            organisation_id=row["organisation_id"],
            body_sha256=row["body_sha256"],
            status_code=row["status_code"],
            body=json.loads(row["body"]),
            pending_for=row["pending_for"],
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


async def claim_receipts(connection: asyncpg.Connection, receipts: Sequence[NewReceipt]) -> None:
    """Write the receipts as pending, before publishing; a stale pending one is taken over.

    The caller holds the ids' advisory locks, so a conflict here is only a stale claim it
    decided to take over (an API process that died between publishing and confirming).
    """
    if not receipts:
        return
    await connection.executemany(
        "INSERT INTO ingest_receipt "
        "(event_id, organisation_id, event_type, body_sha256, status_code, body, confirmed_at) "
        "VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb, NULL) "
        "ON CONFLICT (event_id) DO UPDATE SET organisation_id = excluded.organisation_id, "
        "event_type = excluded.event_type, body_sha256 = excluded.body_sha256, "
        "status_code = excluded.status_code, body = excluded.body, created_at = now(), "
        "confirmed_at = NULL WHERE ingest_receipt.confirmed_at IS NULL",
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


async def confirm_receipts(connection: asyncpg.Connection, event_ids: Sequence[str]) -> None:
    """The broker acknowledged these events: their receipts are the answer to every replay."""
    await connection.execute(
        "UPDATE ingest_receipt SET confirmed_at = now() "
        "WHERE event_id = ANY($1::uuid[]) AND confirmed_at IS NULL",
        list(event_ids),
    )


async def release_receipts(connection: asyncpg.Connection, event_ids: Sequence[str]) -> None:
    """Nothing was published for these: drop their claims, so that a retry publishes."""
    await connection.execute(
        "DELETE FROM ingest_receipt WHERE event_id = ANY($1::uuid[]) AND confirmed_at IS NULL",
        list(event_ids),
    )
