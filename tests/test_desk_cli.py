"""`heterdaad desk user add`: English as all the CLI, no GetPassWarning, --password-stdin."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import asyncpg
import pytest

from tests.databases import migrated_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[str]:
    async with migrated_schema(database_url, f"t_{uuid.uuid4().hex[:10]}") as name:
        yield name


def _desk(
    database_url: str, schema: str, language: str, *arguments: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    env |= {"HETERDAAD_DATABASE_URL": database_url, "HETERDAAD_DATABASE_SCHEMA": schema,
            "HETERDAAD_LANGUAGE": language}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "desk", "user", *arguments],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_script_adds_a_user_with_the_password_on_stdin(
    database_url: str, schema: str, language: str
) -> None:
    added = _desk(database_url, schema, language, "add", "jansen", "--unit", "amsterdam",
                  "--password-stdin", stdin="een lang genoeg wachtwoord\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    # the operator is told in English; the user's pages are in the setting's language
    assert added.stdout.strip() == "desk user jansen (amsterdam) created"
    assert "Warning" not in added.stderr, "no GetPassWarning"
    assert "Wachtwoord" not in added.stderr and "Password" not in added.stderr, "no prompt"
    listed = _desk(database_url, schema, language, "list")
    assert listed.stdout.split() == ["jansen", "amsterdam", language]


@pytest.mark.parametrize("language", ["nl", "en"])
def test_without_a_terminal_it_says_to_use_password_stdin(
    database_url: str, schema: str, language: str
) -> None:
    line = "heterdaad: no terminal to ask for the password; give it on stdin with --password-stdin"
    added = _desk(database_url, schema, language, "add", "jansen", "--unit", "amsterdam",
                  stdin="een lang genoeg wachtwoord\n")  # fmt: skip
    assert added.returncode == 2
    assert "Warning" not in added.stderr
    assert len(added.stderr.splitlines()) == 1
    assert added.stderr.startswith(line), added.stderr
    assert _desk(database_url, schema, language, "list").stdout == ""


async def test_who_gave_or_took_desk_access_is_audited_and_a_disabled_user_can_return(
    database_url: str, schema: str
) -> None:
    from consumers.desk.users import authenticate

    password = "een lang genoeg wachtwoord"
    steps = [
        ("add", "jansen", "--unit", "amsterdam", "--password-stdin", "--actor", "beheer.an"),
        ("passwd", "jansen", "--password-stdin", "--actor", "beheer.bo"),
        ("disable", "jansen", "--actor", "beheer.cor"),
        ("enable", "jansen"),
    ]
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        for step in steps:
            done = _desk(database_url, schema, "en", *step, stdin=f"{password}\n")
            assert done.returncode == 0, done.stderr
            if step[0] == "disable":
                assert await authenticate(connection, "jansen", password) is None
        assert await authenticate(connection, "jansen", password) is not None
        # Enabling an enabled user changes nothing, and is refused, not audited as a change.
        again = _desk(database_url, schema, "en", "enable", "jansen")
        assert again.returncode == 1 and "jansen is not disabled" in again.stderr, again.stderr
        rows = await connection.fetch(
            "SELECT actor, action, subject FROM audit_log WHERE subject = 'desk_user:jansen' "
            "ORDER BY at"
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [
        ("beheer.an", "desk_user_added", "desk_user:jansen"),
        ("beheer.bo", "desk_user_password_set", "desk_user:jansen"),
        ("beheer.cor", "desk_user_disabled", "desk_user:jansen"),
        ("cli", "desk_user_enabled", "desk_user:jansen"),
    ]
