"""Which alarm site a DC-09 account number belongs to, with its key: from the database, cached."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
from pydantic import ValidationError

from schemas.common import BranchType, Location
from schemas.events import AlarmSite

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

AES_KEY_LENGTHS = (16, 24, 32)
# What "the database cannot answer now" looks like; anything else is a bug and propagates.
_DATABASE_DOWN = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

# Only sites whose centre is active and that are tied to a branch: without a branch there is
# no location, and an alarm without a location cannot be acted on (nor be forwarded).
_SITE_COLUMNS = """
    s.site_id, s.alarm_centre, s.subscriber_account, s.sia_key, s.sia_supervision,
    s.sia_plain_frames, b.lat, b.lon, b.branch_type, b.chain
"""
_SITE_JOINS = """
    FROM alarm_site s
    JOIN branch b USING (branch_id)
    JOIN organisation o ON o.organisation_id = s.alarm_centre
    WHERE o.disabled_at IS NULL
"""
_BY_ACCOUNT = f"""
    SELECT {_SITE_COLUMNS} {_SITE_JOINS}
      AND upper(s.subscriber_account) = upper($1)
      AND (s.sia_line IS NULL OR upper(s.sia_line) = upper($2))
"""
_BY_SITE = f"SELECT {_SITE_COLUMNS} {_SITE_JOINS} AND s.site_id = ANY($1::text[])"


@dataclass(frozen=True)
class SiaAccount:
    """A subscriber account as the receiver needs it: where it is and how it talks."""

    site: AlarmSite
    alarm_centre: str
    subscriber_account: str
    key: bytes | None
    supervision: timedelta | None
    # Registered to send plain frames: they are taken, but anyone could have written them.
    plain_frames: bool = False


class AccountLookupError(Exception):
    """The database could not be asked and nothing usable was cached: refuse for now."""


def account_from_row(row: asyncpg.Record) -> SiaAccount | None:
    """The account of a site row, or None (logged) when the row cannot be used."""
    key = bytes(row["sia_key"]) if row["sia_key"] is not None else None
    if key is not None and len(key) not in AES_KEY_LENGTHS:
        logger.error(
            "sia key has a wrong length, site refused",
            extra={"site_id": row["site_id"], "key_length": len(key)},
        )
        return None
    try:
        site = AlarmSite(
            site_id=row["site_id"],
            location=Location(lat=row["lat"], lon=row["lon"]),
            branch_type=BranchType(row["branch_type"]),
            chain=row["chain"],
        )
    except (ValidationError, ValueError) as error:
        logger.error(
            "alarm site cannot be described, site refused",
            extra={"site_id": row["site_id"], "error": str(error)},
        )
        return None
    return SiaAccount(
        site=site,
        alarm_centre=row["alarm_centre"],
        subscriber_account=row["subscriber_account"],
        key=key,
        supervision=row["sia_supervision"],
        plain_frames=row["sia_plain_frames"],
    )


@dataclass
class _Cached:
    account: SiaAccount | None
    fetched_at: float


class AccountDirectory:
    """Looks accounts up by number and account prefix, caching answers for a while.

    Known accounts are kept `ttl` so a changed key or site takes effect within it; unknown ones
    only `negative_ttl`, so a newly registered site works at once while a misconfigured panel
    retrying every second still does not hit the database every second. When the database
    cannot be reached a stale entry is better than refusing a hold-up alarm.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ttl: timedelta = timedelta(minutes=1),
        negative_ttl: timedelta = timedelta(seconds=5),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._ttl = ttl.total_seconds()
        self._negative_ttl = negative_ttl.total_seconds()
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], _Cached] = {}

    async def lookup(self, account: str, line: str | None) -> SiaAccount | None:
        """The account, or None when it is unknown or ambiguous (both logged by the caller)."""
        cache_key = (account.upper(), (line or "").upper())
        cached = self._cache.get(cache_key)
        now = self._monotonic()
        if cached is not None:
            ttl = self._ttl if cached.account is not None else self._negative_ttl
            if now - cached.fetched_at < ttl:
                return cached.account
        try:
            rows = await self._pool.fetch(_BY_ACCOUNT, account, line or "")
        except _DATABASE_DOWN as error:
            if cached is not None and cached.account is not None:
                logger.warning(
                    "account lookup failed, using cached entry",
                    extra={"account": account, "error": str(error)},
                )
                return cached.account
            raise AccountLookupError(str(error)) from error
        found = self._one(rows, account, line)
        self._cache[cache_key] = _Cached(found, now)
        return found

    async def by_site(self, site_ids: list[str]) -> dict[str, SiaAccount]:
        """Accounts of the given sites, for the supervision check (not cached: rare)."""
        rows = await self._pool.fetch(_BY_SITE, site_ids)
        accounts = (account_from_row(row) for row in rows)
        return {account.site.site_id: account for account in accounts if account is not None}

    @staticmethod
    def _one(rows: list[asyncpg.Record], account: str, line: str | None) -> SiaAccount | None:
        if len(rows) > 1:
            # Two centres use the same number and neither set an account prefix to tell them
            # apart: forwarding to either could send the police to the wrong shop.
            logger.error(
                "sia account is ambiguous, set alarm_site.sia_line",
                extra={"account": account, "line": line, "sites": [r["site_id"] for r in rows]},
            )
            return None
        return account_from_row(rows[0]) if rows else None
