"""Common ground of the management functions: their error, a connection, the audit trail."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from heterdaad.audit import AuditRow, write_audit_rows

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from datetime import datetime

Database: TypeAlias = asyncpg.Pool | asyncpg.Connection


class NotifyAdminError(ValueError):
    """A subscription or silence the store refuses, worded for the operator."""


@contextlib.asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction: from the pool, or the one given."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as connection, connection.transaction():
            yield connection
    else:
        async with db.transaction():
            yield db


async def audit(
    connection: asyncpg.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> None:
    """One audit_log row, written in the caller's transaction so change and trail go together."""
    await write_audit_rows(connection, [AuditRow(at, actor, action, subject, details)])


def require_text(name: str, value: str, *, max_length: int) -> str:
    stripped = value.strip()
    if not stripped:
        raise NotifyAdminError(f"{name} must not be empty")
    if len(stripped) > max_length:
        raise NotifyAdminError(f"{name} is longer than {max_length} characters")
    return stripped
