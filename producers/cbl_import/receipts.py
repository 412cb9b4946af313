"""Receipts of imported rows: the event each melding became, kept so it is never sent twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import asyncpg

SOURCE = "cbl"


@dataclass(frozen=True)
class ImportReceipt:
    event_id: str
    body_sha256: str
    file_sha256: str
    file_row: int
    imported_at: datetime


@dataclass(frozen=True)
class NewImportReceipt:
    event_id: str
    organisation_id: str
    source_ref: str
    body_sha256: str
    file_sha256: str
    file_row: int


async def find_import_receipts(
    connection: asyncpg.Connection, event_ids: Sequence[str]
) -> dict[str, ImportReceipt]:
    rows = await connection.fetch(
        "SELECT event_id::text, body_sha256, file_sha256, file_row, imported_at "
        "FROM import_receipt WHERE event_id = ANY($1::uuid[])",
        list(event_ids),
    )
    return {
        row["event_id"]: ImportReceipt(
            event_id=row["event_id"],
            body_sha256=row["body_sha256"],
            file_sha256=row["file_sha256"],
            file_row=row["file_row"],
            imported_at=row["imported_at"],
        )
        for row in rows
    }


async def store_import_receipts(
    connection: asyncpg.Connection, receipts: Sequence[NewImportReceipt]
) -> None:
    if not receipts:
        return
    await connection.executemany(
        "INSERT INTO import_receipt "
        "(event_id, organisation_id, source, source_ref, body_sha256, file_sha256, file_row) "
        "VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)",
        [
            (
                receipt.event_id,
                receipt.organisation_id,
                SOURCE,
                receipt.source_ref,
                receipt.body_sha256,
                receipt.file_sha256,
                receipt.file_row,
            )
            for receipt in receipts
        ],
    )


async def find_imported_meldings(
    connection: asyncpg.Connection, organisation_id: str, meldings: Sequence[str]
) -> dict[str, str]:
    """The event id each melding of this organisation was imported under (melding -> id).

    A melding keeps the id it was first imported under, whatever the derivation says today
    (an id from before keyed ids, or under an earlier key).
    """
    rows = await connection.fetch(
        "SELECT source_ref, event_id::text FROM import_receipt "
        "WHERE organisation_id = $1 AND source = $2 AND source_ref = ANY($3::text[])",
        organisation_id,
        SOURCE,
        list(meldings),
    )
    return {row["source_ref"]: row["event_id"] for row in rows}
