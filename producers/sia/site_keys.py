"""SIA keys of alarm sites: generated, set, rotated and the plain-frame mark, for the org CLI."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from producers.sia.accounts import AES_KEY_LENGTHS

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

# AES-128: the length every DC-09 panel supports; longer keys are taken when given.
GENERATED_KEY_BYTES = 16


class SiteKeyError(ValueError):
    """A key or site the registry refuses, worded for the operator."""


def generate_key() -> bytes:
    return secrets.token_bytes(GENERATED_KEY_BYTES)


def parse_key(text: str) -> bytes:
    """A key given as hex (as panels are configured), checked for an AES length."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SiteKeyError("the key must be hexadecimal, e.g. 32 hex digits for AES-128") from None
    if len(key) not in AES_KEY_LENGTHS:
        raise SiteKeyError(
            f"the key has {len(key)} bytes; AES keys have 16, 24 or 32 (32, 48 or 64 hex digits)"
        )
    return key


async def set_site_key(db: asyncpg.Pool | asyncpg.Connection, site_id: str, key: bytes) -> None:
    """Give a site a new key; from now on only frames encrypted with it are taken (the
    receiver's account cache picks it up within its lifetime, a minute)."""
    if len(key) not in AES_KEY_LENGTHS:
        raise SiteKeyError(f"the key has {len(key)} bytes; AES keys have 16, 24 or 32")
    status = await db.execute(
        "UPDATE alarm_site SET sia_key = $2, sia_plain_frames = false WHERE site_id = $1",
        site_id,
        key,
    )
    if status.endswith(" 0"):
        raise SiteKeyError(f"alarm site {site_id} does not exist")
    logger.info("sia key set", extra={"site_id": site_id, "key_bytes": len(key)})


async def set_plain_frames(
    db: asyncpg.Pool | asyncpg.Connection, site_id: str, *, allowed: bool
) -> None:
    """Mark a keyless site as sending plain frames, or take the mark away."""
    row = await db.fetchrow(
        "SELECT sia_key IS NOT NULL AS keyed FROM alarm_site WHERE site_id = $1", site_id
    )
    if row is None:
        raise SiteKeyError(f"alarm site {site_id} does not exist")
    if allowed and row["keyed"]:
        raise SiteKeyError(f"alarm site {site_id} has a key: it sends encrypted frames")
    await db.execute(
        "UPDATE alarm_site SET sia_plain_frames = $2 WHERE site_id = $1", site_id, allowed
    )
    logger.warning(
        "sia plain frames " + ("allowed" if allowed else "refused"), extra={"site_id": site_id}
    )
