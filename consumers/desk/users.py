"""Desk users and their sessions: created by `heterdaad desk user add`, scoped to one unit."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

import asyncpg

from consumers.desk.audit import DeskAction, write_audit
from consumers.desk.passwords import (
    dummy_hash,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from heterdaad.db import transaction
from heterdaad.language import Language
from heterdaad.thresholds.desk import DeskThresholds
from schemas.common import PoliceUnit

logger = logging.getLogger(__name__)

# A desk user works for its unit's police organisation: when the unit has police organisations
# and every one of them is disabled (`heterdaad org disable`, offboarding), its users are locked
# out as if disabled one by one; enabling the organisation lets them in again. A unit with no
# police organisation registered (a desk-only deployment) is not locked.
UNIT_OFFBOARDED = (
    "(EXISTS (SELECT 1 FROM organisation o WHERE o.role = 'police' "
    "AND o.police_unit = u.police_unit) "
    "AND NOT EXISTS (SELECT 1 FROM organisation o WHERE o.role = 'police' "
    "AND o.police_unit = u.police_unit AND o.disabled_at IS NULL))"
)

Database: TypeAlias = "asyncpg.Connection | asyncpg.Pool"

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
# What a login with a name USERNAME refuses is looked up and counted as: no user has it.
INVALID_NAME = "(invalid name)"


class DeskUserError(Exception):
    """A management action that cannot be done, with a message for the operator."""


@dataclass(frozen=True)
class DeskUser:
    username: str
    police_unit: PoliceUnit
    language: Language

    @property
    def actor(self) -> str:
        """The user as the audit log names it."""
        return f"desk:{self.username}"


@dataclass(frozen=True)
class DeskSession:
    user: DeskUser
    csrf_token: str
    expires_at: datetime


def _language(value: str) -> Language:
    return "en" if value == "en" else "nl"


async def add_user(
    db: Database,
    username: str,
    password: str,
    police_unit: PoliceUnit,
    *,
    language: Language = "nl",
    thresholds: DeskThresholds | None = None,
    actor: str = "cli",
) -> DeskUser:
    """Create a desk user of one police unit, audited as `desk_user_added` by `actor`; refuses a
    taken name or a short password."""
    thresholds = thresholds or DeskThresholds()
    if not USERNAME.fullmatch(username):
        raise DeskUserError(
            "a username is 2-40 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    _check_password(password, thresholds)
    hashed = await asyncio.to_thread(hash_password, password)
    try:
        async with transaction(db) as connection:
            await connection.execute(
                "INSERT INTO desk_user (username, password_hash, police_unit, language) "
                "VALUES ($1, $2, $3, $4)",
                username,
                hashed,
                police_unit.value,
                language,
            )
            await _audit(connection, actor, DeskAction.USER_ADDED, username,
                         police_unit=police_unit.value)  # fmt: skip
    except asyncpg.UniqueViolationError as error:
        raise DeskUserError(f"user {username} exists already") from error
    logger.info("desk user added", extra={"username": username, "police_unit": police_unit.value})
    return DeskUser(username, police_unit, language)


async def set_password(
    db: Database,
    username: str,
    password: str,
    *,
    thresholds: DeskThresholds | None = None,
    actor: str = "cli",
) -> None:
    """Give a user a new password and end its sessions (a reset after a leak must log out),
    audited as `desk_user_password_set`."""
    _check_password(password, thresholds or DeskThresholds())
    hashed = await asyncio.to_thread(hash_password, password)
    async with transaction(db) as connection:
        updated = await connection.fetchval(
            "WITH changed AS (UPDATE desk_user SET password_hash = $2 WHERE username = $1 "
            "RETURNING username), ended AS (DELETE FROM desk_session WHERE username IN "
            "(SELECT username FROM changed)) SELECT count(*) FROM changed",
            username,
            hashed,
        )
        if not updated:
            raise DeskUserError(f"no user {username}")
        await _audit(connection, actor, DeskAction.USER_PASSWORD_SET, username)
    logger.info("desk password set", extra={"username": username})


async def disable_user(db: Database, username: str, *, actor: str = "cli") -> None:
    """Stop a user from logging in and end its sessions; open live streams end within a minute.
    Audited as `desk_user_disabled`; a user disabled already is refused, so that the trail
    holds only changes (as `org disable` does)."""
    async with transaction(db) as connection:
        await _state_of(connection, username, disabled=False)
        await connection.execute(
            "WITH ended AS (DELETE FROM desk_session WHERE username = $1) "
            "UPDATE desk_user SET disabled_at = now() WHERE username = $1",
            username,
        )
        await _audit(connection, actor, DeskAction.USER_DISABLED, username)
    logger.info("desk user disabled", extra={"username": username})


async def enable_user(db: Database, username: str, *, actor: str = "cli") -> None:
    """Let a disabled user log in again (with its password as it was), audited as
    `desk_user_enabled`; a user not disabled is refused."""
    async with transaction(db) as connection:
        await _state_of(connection, username, disabled=True)
        await connection.execute(
            "UPDATE desk_user SET disabled_at = NULL WHERE username = $1", username
        )
        await _audit(connection, actor, DeskAction.USER_ENABLED, username)
    logger.info("desk user enabled", extra={"username": username})


async def _state_of(connection: asyncpg.Connection, username: str, *, disabled: bool) -> None:
    """Lock the user's row; refuse when there is none or it is not `disabled` as expected."""
    row = await connection.fetchrow(
        "SELECT disabled_at FROM desk_user WHERE username = $1 FOR UPDATE", username
    )
    if row is None:
        raise DeskUserError(f"no user {username}")
    if disabled and row["disabled_at"] is None:
        raise DeskUserError(f"user {username} is not disabled")
    if not disabled and row["disabled_at"] is not None:
        raise DeskUserError(f"user {username} is disabled already")


async def _audit(connection: asyncpg.Connection, actor: str, action: DeskAction, username: str,
                 **details: object) -> None:  # fmt: skip
    await write_audit(connection, at=datetime.now(UTC), actor=actor, action=action,
                      subject=f"desk_user:{username}", details=details)  # fmt: skip


async def list_users(db: Database) -> list[tuple[DeskUser, str | None]]:
    """Every user by unit and name, with why it cannot log in: None (it can), "disabled", or
    "unit offboarded" (UNIT_OFFBOARDED)."""
    rows = await db.fetch(
        "SELECT username, police_unit, language, disabled_at, "
        f"{UNIT_OFFBOARDED} AS offboarded FROM desk_user u ORDER BY police_unit, username"
    )
    return [
        (
            DeskUser(row["username"], PoliceUnit(row["police_unit"]), _language(row["language"])),
            "disabled" if row["disabled_at"] is not None
            else "unit offboarded" if row["offboarded"] else None,
        )
        for row in rows
    ]


def _check_password(password: str, thresholds: DeskThresholds) -> None:
    if len(password) < thresholds.min_password_length:
        raise DeskUserError(f"a password has at least {thresholds.min_password_length} characters")


async def authenticate(db: Database, username: str, password: str) -> DeskUser | None:
    """The enabled user with this name and password, else None (in the same time either way);
    a user of an offboarded unit (UNIT_OFFBOARDED) is not enabled."""
    row = await db.fetchrow(
        "SELECT username, password_hash, police_unit, language, disabled_at, "
        f"{UNIT_OFFBOARDED} AS offboarded FROM desk_user u WHERE username = $1",
        username,
    )
    stored = row["password_hash"] if row is not None else dummy_hash()
    # scrypt takes tens of milliseconds of CPU: off the event loop, so streams keep flowing.
    matches = await asyncio.to_thread(verify_password, password, stored)
    if row is None or not matches or row["disabled_at"] is not None or row["offboarded"]:
        return None
    return DeskUser(row["username"], PoliceUnit(row["police_unit"]), _language(row["language"]))


async def open_session(db: Database, user: DeskUser, *, hours: float) -> tuple[str, DeskSession]:
    """A new session: the token for the cookie, and the session it stands for."""
    token = new_token()
    csrf = new_token()
    # The database's clock decides expiry, on opening and on every check alike.
    expires_at = await db.fetchval(
        "INSERT INTO desk_session (token_hash, username, csrf_token, expires_at) "
        "VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at",
        token_hash(token),
        user.username,
        csrf,
        hours * 3600.0,
    )
    # Expired sessions are of no use to anyone; clearing them here needs no extra job.
    await db.execute("DELETE FROM desk_session WHERE expires_at < now()")
    return token, DeskSession(user, csrf, expires_at)


async def session_for(db: Database, token: str) -> DeskSession | None:
    """The current session of a cookie token, if it is known, unexpired and its user enabled."""
    row = await db.fetchrow(
        "SELECT u.username, u.police_unit, u.language, s.csrf_token, s.expires_at "
        "FROM desk_session s JOIN desk_user u USING (username) "
        "WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL "
        f"AND NOT {UNIT_OFFBOARDED}",
        token_hash(token),
    )
    if row is None:
        return None
    user = DeskUser(row["username"], PoliceUnit(row["police_unit"]), _language(row["language"]))
    return DeskSession(user, row["csrf_token"], row["expires_at"])


async def close_session(db: Database, token: str) -> None:
    await db.execute("DELETE FROM desk_session WHERE token_hash = $1", token_hash(token))
