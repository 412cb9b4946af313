"""Schemathesis as a third party runs it: every check against the intake API under uvicorn.

The API runs as `heterdaad api` runs it (uvicorn on a free loopback port, real Kafka and a
fresh PostgreSQL schema); the schemathesis command line reads its spec over HTTP and runs all
its checks and phases with the project's configuration (tests/producers/schemathesis.toml),
which holds the keys of the test registry and what each check may expect (docs/security-tests.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from assembly.api import create_app
from producers.api import ApiLimits, admin
from producers.api.kinds import allowed_scopes
from schemas.common import PoliceUnit
from tests.producers.intake_support import register
from tests.served import served

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Out of the way as in test_api_fuzz: a 429 or a slow broker's 503 is not what is tested here.
LIMITS = ApiLimits(
    events_per_second=1_000_000, event_burst=1_000_000, publish_timeout_seconds=300,
    task_wait_max_seconds=1,
)  # fmt: skip
# The keys the configuration names, by the organisation that holds them.
KEY_VARIABLES = {
    "HETERDAAD_ST_ALARM_CENTRE_KEY": "pac-1",
    "HETERDAAD_ST_RETAILER_KEY": "retail-a",
    "HETERDAAD_ST_POLICE_KEY": "politie-eenheid-ams",
}


@contextlib.asynccontextmanager
async def served_api(settings: Settings) -> AsyncIterator[str]:
    """The intake app under uvicorn on a free loopback port."""
    async with served(create_app(settings, LIMITS), settings, name="API") as url:
        yield url


async def _key_with_every_scope(db: asyncpg.Connection, organisation_id: str) -> str:
    # Every scope the role may hold (subscriptions:write is opt-in), so no operation stops at 403.
    role = await db.fetchval(
        "SELECT role FROM organisation WHERE organisation_id = $1", organisation_id
    )
    scopes = sorted(allowed_scopes(role))
    return (await admin.issue_key(db, organisation_id, scopes=scopes)).key


async def _schemathesis(
    url: str, keys: dict[str, str], workdir: Path, *options: str
) -> tuple[int, str]:
    command = Path(sys.executable).with_name("schemathesis")
    process = await asyncio.create_subprocess_exec(
        str(command), "--config-file", str(CONFIG), "run", f"{url}/openapi.json", *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **keys, "NO_COLOR": "1"}, cwd=workdir,  # its cache stays out of the tree
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


@pytest.mark.timeout(900)
async def test_every_check_of_schemathesis_passes(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register(db)
    # A police organisation with its unit, so the histories answer 200 and not only 403.
    await admin.create_organisation(
        db, "politie-eenheid-ams", "Politie Eenheid Amsterdam", "police",
        police_unit=PoliceUnit.AMSTERDAM,
    )  # fmt: skip
    keys = {name: await _key_with_every_scope(db, org) for name, org in KEY_VARIABLES.items()}
    async with served_api(settings) as url:
        code, report = await _schemathesis(url, keys, tmp_path, "--checks", "all")
    assert code == 0, report
    # Every operation of the spec was reached, none filtered out or skipped as a whole.
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", report)
    assert selected is not None, report
    assert selected[1] == selected[2] == selected[3], report
