"""API keys and scopes: who calls, and what the key allows, for every router of the HTTP API.

Keys are random, shown once, stored only as a hash and found again by their key id. This sits in
the core because routers on both sides check it: the intake (producers/api) and the readers of
history and subscriptions (consumers/).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Coroutine

    import asyncpg

logger = logging.getLogger(__name__)

# hd_<key id: 12 hex>_<secret>; the key id is not secret, it only finds the row to compare with.
KEY_PREFIX = "hd"
_KEY_ID_HEX = 12

# Reading history: an organisation's own events (every role), and alerts (police information).
EVENTS_READ = "events:read"
ALERTS_READ = "alerts:read"
# Where an organisation's alerts go is a bigger power than posting events (a leaked key could
# send alerts to a stranger's webhook), so no key gets it unless issued with it explicitly.
SUBSCRIPTIONS_WRITE = "subscriptions:write"
# Organisations that may receive alerts, and so may manage their subscriptions.
SUBSCRIBER_ROLES = frozenset(
    {"alarm_centre", "retailer", "trade_association", "police", "neighbourhood_watch"}
)
# Neighbourhood watch groups (buurtpreventie) only receive coarse warnings for their area:
# they post nothing and read no history, not even of their own (they have none).
RECEIVE_ONLY_ROLES = frozenset({"neighbourhood_watch"})
# The Camera in Beeld registry holds owners' contacts: police and admins keep it (docs/cameras.md).
CAMERAS_WRITE = "cameras:write"
CAMERA_ROLES = frozenset({"police", "admin"})
# An alarm centre puts its own sites in maintenance (docs/alarm-verification.md): presses made
# in a window are ignored, so a leaked key could silence a site's hold-up button for days.
# Opt-in, as subscriptions:write: only a key issued with it, never a default key.
MAINTENANCE_WRITE = "maintenance:write"
MAINTENANCE_ROLES = frozenset({"alarm_centre"})

bearer = HTTPBearer(
    auto_error=False,
    description="An API key issued by `heterdaad org issue-key`: 'Authorization: Bearer hd_...'",
)


@dataclass(frozen=True)
class Caller:
    """The organisation behind a valid key, with what the key allows."""

    organisation_id: str
    role: str
    scopes: frozenset[str]
    key_id: str


@dataclass(frozen=True)
class NewKey:
    key_id: str
    plain: str
    key_hash: str


def new_key() -> NewKey:
    """A fresh key: the plain text is for the organisation, only the hash is for the database."""
    key_id = secrets.token_hex(_KEY_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    return NewKey(
        key_id=key_id, plain=f"{KEY_PREFIX}_{key_id}_{secret}", key_hash=hash_secret(secret)
    )


def hash_secret(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash cannot be brute-forced; a slow one
    # (scrypt) would only cost every request time.
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key_id, secret = parts[1], parts[2]
    if len(key_id) != _KEY_ID_HEX or not secret:
        return None
    return key_id, secret


async def find_caller(pool: asyncpg.Pool, presented: str) -> Caller | None:
    """The caller a key belongs to, if the key is known, current and its organisation enabled."""
    split = split_key(presented)
    if split is None:
        return None
    key_id, secret = split
    row = await pool.fetchrow(
        """SELECT k.organisation_id, k.key_hash, k.scopes, k.expires_at, k.revoked_at,
                  o.role, o.disabled_at
             FROM api_key k JOIN organisation o USING (organisation_id)
            WHERE k.key_id = $1""",
        key_id,
    )
    if row is None or not hmac.compare_digest(row["key_hash"], hash_secret(secret)):
        logger.info("unknown api key", extra={"key_id": key_id})
        return None
    now = datetime.now(UTC)
    expired = row["expires_at"] is not None and row["expires_at"] <= now
    if row["revoked_at"] is not None or expired or row["disabled_at"] is not None:
        logger.info(
            "api key no longer valid",
            extra={"key_id": key_id, "organisation_id": row["organisation_id"]},
        )
        return None
    return Caller(
        organisation_id=row["organisation_id"],
        role=row["role"],
        scopes=frozenset(row["scopes"]),
        key_id=key_id,
    )


async def require_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """FastAPI dependency: the caller of a request with a valid bearer key, else 401.

    The API's pool waits for a connection at most `database_wait_seconds` (heterdaad.db's
    BoundedPool), so a lookup that finds none free is answered 503 with Retry-After by the
    app's handler of DatabaseBusy (assembly/api.py), as every other query of a request is.
    """
    caller = None
    if credentials is not None:
        caller = await find_caller(request.app.state.intake.pool, credentials.credentials)
    if caller is None:
        raise HTTPException(
            401,
            "a valid API key is required: 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


def require_scope(
    scope: str, roles: Collection[str] | None = None, not_for_role: str = ""
) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """FastAPI dependency: a caller whose key holds `scope`, else 403 (401 without a key);
    with `roles`, of one of them first, else 403 saying `not_for_role` (formatted with the
    caller's `role`)."""

    async def caller_with_scope(caller: Annotated[Caller, Depends(require_caller)]) -> Caller:
        if roles is not None and caller.role not in roles:
            raise HTTPException(403, not_for_role.format(role=caller.role))
        if scope not in caller.scopes:
            raise HTTPException(403, f"this key lacks the scope {scope}")
        return caller

    return caller_with_scope
