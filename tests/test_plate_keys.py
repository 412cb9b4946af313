"""One plate key per key id: a new key under an id already used is refused where plates are
pseudonymised (the API, with /meld, and the CBL import), before anything is published."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from heterdaad import plate_keys

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

CBL_EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "cbl-example.csv"


async def test_an_id_keeps_the_key_it_was_first_used_with(db: asyncpg.Connection) -> None:
    first, second = secrets.token_bytes(32), secrets.token_bytes(32)
    await plate_keys.claim(db, first, "k1")
    await plate_keys.claim(db, first, "k1")  # a restart with the same key
    with pytest.raises(plate_keys.PlateKeyChanged) as changed:
        await plate_keys.claim(db, second, "k1")
    assert changed.value.key_id == "k1"
    await plate_keys.claim(db, second, "k2")  # a rotation: a new key under a new id
    stored = await db.fetch("SELECT key_id, fingerprint FROM plate_key ORDER BY key_id")
    assert [row["key_id"] for row in stored] == ["k1", "k2"]
    # The fingerprint tells keys apart without being the key or a plain hash of it.
    assert all(first.hex() not in row["fingerprint"] for row in stored)


def _heterdaad(settings: Settings, key: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", *arguments],
        env=keep | {
            "HETERDAAD_DATABASE_URL": settings.database_url,
            "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
            "HETERDAAD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "HETERDAAD_TOPIC_PREFIX": settings.topic_prefix,
            "HETERDAAD_PLATE_KEY": key,
        },
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_the_api_and_the_import_refuse_a_new_key_under_an_old_id(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await plate_keys.claim(db, settings.require_plate_key(), "k1")
    other = secrets.token_urlsafe(32)
    for arguments in (["api"], ["import", "cbl", str(CBL_EXAMPLE), "--org", "cbl"]):
        result = _heterdaad(settings, other, *arguments)
        assert result.returncode == 1, result.stderr
        said = [line for line in result.stderr.splitlines() if line.startswith("heterdaad: ")]
        assert len(said) == 1 and "HETERDAAD_PLATE_KEY_ID=k1" in said[0], result.stderr
        assert "Traceback" not in result.stderr
    # Nothing was published or stored by the refused import.
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == 0
