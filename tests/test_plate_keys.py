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
from pydantic import SecretStr

from assembly.api import create_app
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


async def test_the_api_checks_the_key_where_it_opens_its_database(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # `heterdaad api` checks first, but skips the check when the database does not answer yet;
    # the app itself checks where it opens its pool, so a wrong key never serves.
    await plate_keys.claim(db, secrets.token_bytes(32), settings.plate_key_id)
    app = create_app(settings)
    with pytest.raises(plate_keys.PlateKeyChanged):
        async with app.router.lifespan_context(app):
            pass


async def test_the_demo_stops_on_a_new_key_under_its_kept_id(settings: Settings) -> None:
    # The demo keeps its database between runs; a different HETERDAAD_PLATE_KEY (or a lost
    # secrets.json) stops it before its parts start, in the CLI's one line.
    from infra.demo import _claim_plate_key

    await _claim_plate_key(settings)
    other = settings.model_copy(update={"plate_key": SecretStr(secrets.token_urlsafe(32))})
    with pytest.raises(plate_keys.PlateKeyChanged):
        await _claim_plate_key(other)
