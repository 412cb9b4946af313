"""One plate key per key id, across restarts and parts: a pseudonym names the id of the key
that made it, and the stages compare only pseudonyms of one id. A new key under an id already
used would make the same plate look like two, which the series and reconnaissance stages count
against a link; nothing in a pseudonym could tell. So the first part to use an id records a
fingerprint of its key (a keyed hash of a constant: it tells keys apart and reveals none), and
a part that starts with another key under that id is refused (README, "Rotating the plate
key")."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

_FINGERPRINTED = b"heterdaad plate key fingerprint v1"


class PlateKeyChanged(Exception):
    """HETERDAAD_PLATE_KEY is not the key its HETERDAAD_PLATE_KEY_ID named before."""

    def __init__(self, key_id: str, first_used_at: datetime) -> None:
        super().__init__(f"plate key id {key_id} names another key (first used {first_used_at})")
        self.key_id = key_id
        self.first_used_at = first_used_at


def fingerprint(key: bytes) -> str:
    return hmac.new(key, _FINGERPRINTED, hashlib.sha256).hexdigest()


async def claim(db: asyncpg.Connection | asyncpg.Pool, key: bytes, key_id: str) -> None:
    """Record `key` under `key_id` if the id is new; raise PlateKeyChanged if it names another."""
    await db.execute(
        "INSERT INTO plate_key (key_id, fingerprint) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        key_id, fingerprint(key),
    )  # fmt: skip
    row = await db.fetchrow(
        "SELECT fingerprint, first_used_at FROM plate_key WHERE key_id = $1", key_id
    )
    assert row is not None
    if not hmac.compare_digest(row["fingerprint"], fingerprint(key)):
        raise PlateKeyChanged(key_id, row["first_used_at"])
