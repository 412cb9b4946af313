"""Staff sessions of the /meld form: one-time login codes an admin issues per branch, exchanged
for a short-lived, revocable session. Never the organisation's API key.

Codes and session tokens are kept only as hashes. A code is spent by its first use, so a code
seen on a shoulder or in a link preview is no lasting way in; logging out revokes the session
in the database, so a copied cookie dies with it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from heterdaad.auth import Caller
from producers.api.kinds import RECON_SIGHTING

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

# Easy to read aloud and type on a phone: no 0/O, 1/I/L. 12 of 31 characters are 59 bits,
# beyond guessing online; each code works once and expires.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_LENGTH = 12


class StaffSessionError(ValueError):
    """A code request the registry refuses, worded for the operator."""


@dataclass(frozen=True)
class StaffSession:
    """A member of staff logged in at a branch: reports sightings there, nothing else."""

    session_id: str  # a prefix of the token's hash: names the session in logs and the audit
    organisation_id: str
    role: str
    branch_id: str

    def caller(self) -> Caller:
        """The caller the intake sees: the organisation, with the one scope of the form."""
        return Caller(
            organisation_id=self.organisation_id,
            role=self.role,
            scopes=frozenset({RECON_SIGHTING.scope}),
            key_id=f"meld-{self.session_id}",
        )


def _hash(secret: str) -> str:
    # Codes and tokens are random (59 and 256 bits): a fast hash is enough.
    return hashlib.sha256(secret.encode()).hexdigest()


def normalised_code(typed: str) -> str:
    """A code as typed (any case, spaces or dashes) in its stored form."""
    return "".join(c for c in typed.upper() if c.isalnum())


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


def readable(code: str) -> str:
    """XXXX-XXXX-XXXX: how a code is printed."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


async def issue_codes(
    db: asyncpg.Pool | asyncpg.Connection,
    organisation_id: str,
    branch_id: str,
    *,
    count: int = 1,
    valid_for: timedelta,
) -> list[str]:
    """`count` one-time codes for staff of the branch; printed once, kept as hashes."""
    row = await db.fetchrow(
        """SELECT o.role FROM organisation o
            WHERE o.organisation_id = $1 AND o.disabled_at IS NULL
              AND EXISTS (SELECT 1 FROM branch b WHERE b.branch_id = $2
                            AND (b.organisation_id = $1 OR b.organisation_id IN
                                 (SELECT member_id FROM association_member
                                   WHERE association_id = $1)))""",
        organisation_id,
        branch_id,
    )
    if row is None:
        raise StaffSessionError(f"{branch_id} is not a branch of an active {organisation_id}")
    if row["role"] not in RECON_SIGHTING.roles:
        raise StaffSessionError(f"an organisation with role {row['role']} reports no sightings")
    codes = [_new_code() for _ in range(count)]
    expires_at = datetime.now(UTC) + valid_for
    await db.executemany(
        "INSERT INTO meld_code (code_hash, organisation_id, branch_id, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        [(_hash(code), organisation_id, branch_id, expires_at) for code in codes],
    )
    logger.info(
        "meld codes issued",
        extra={"organisation_id": organisation_id, "branch_id": branch_id, "count": count},
    )
    return codes


async def open_session(
    pool: asyncpg.Pool, typed_code: str, *, lasts: timedelta
) -> tuple[str, StaffSession] | None:
    """Spend a code for a new session: (token for the cookie, session), or None when the code
    is unknown, spent or expired, or its organisation was disabled."""
    code = normalised_code(typed_code)
    if len(code) != _CODE_LENGTH:
        return None
    now = datetime.now(UTC)
    async with pool.acquire() as connection, connection.transaction():
        spent = await connection.fetchrow(
            """UPDATE meld_code c SET used_at = $2
                 FROM organisation o
                WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2
                  AND o.organisation_id = c.organisation_id AND o.disabled_at IS NULL
            RETURNING c.organisation_id, c.branch_id, o.role""",
            _hash(code),
            now,
        )
        if spent is None:
            return None
        token = secrets.token_urlsafe(32)
        await connection.execute(
            "INSERT INTO meld_session (session_hash, organisation_id, branch_id, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            _hash(token),
            spent["organisation_id"],
            spent["branch_id"],
            now + lasts,
        )
    session = StaffSession(
        _hash(token)[:12], spent["organisation_id"], spent["role"], spent["branch_id"]
    )
    return token, session


async def find_session(pool: asyncpg.Pool, token: str) -> StaffSession | None:
    """The live session of a cookie: not revoked, not expired, its organisation enabled."""
    row = await pool.fetchrow(
        """SELECT s.organisation_id, s.branch_id, o.role FROM meld_session s
             JOIN organisation o USING (organisation_id)
            WHERE s.session_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
              AND o.disabled_at IS NULL""",
        _hash(token),
    )
    if row is None:
        return None
    return StaffSession(_hash(token)[:12], row["organisation_id"], row["role"], row["branch_id"])


async def revoke_session(pool: asyncpg.Pool, token: str) -> bool:
    status = await pool.execute(
        "UPDATE meld_session SET revoked_at = now() WHERE session_hash = $1 AND revoked_at IS NULL",
        _hash(token),
    )
    return not status.endswith(" 0")
