"""A failing command says what is wrong in one line, in English, and exits non-zero."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from assembly.cli import app
from tests.databases import migrated_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

CBL_EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "cbl-example.csv"
PLATE_KEY = "k" * 40


def _closed_port() -> int:
    # A port nobody listens on: bound, read, released.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _heterdaad(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", *arguments],
        env=keep | environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _the_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("heterdaad: ")]
    assert len(said) == 1, result.stderr
    return said[0]


@pytest.mark.parametrize(
    ("case", "arguments", "environment", "expected"),
    [
        # The database is down when an administrator sets up an organisation.
        ("org create, database down", ["org", "create", "cbl", "CBL", "--role",
         "trade_association"], {"HETERDAAD_DATABASE_URL": "postgresql://u:p@127.0.0.1:{port}/d"},
         "PostgreSQL at 127.0.0.1:{port} cannot be reached"),
        # A CBL import without the plate key (the README's first import).
        ("import cbl, no plate key", ["import", "cbl", str(CBL_EXAMPLE), "--org", "cbl"], {},
         "HETERDAAD_PLATE_KEY is not set"),
        ("simulate, no plate key", ["simulate", "--days", "1"], {},
         "HETERDAAD_PLATE_KEY is not set"),
        # The simulator with Kafka down.
        ("simulate, Kafka down", ["simulate", "--days", "1"],
         {"HETERDAAD_PLATE_KEY": PLATE_KEY, "HETERDAAD_KAFKA_BOOTSTRAP": "127.0.0.1:{port}"},
         "Kafka at 127.0.0.1:{port} cannot be reached"),
    ],
)  # fmt: skip
def test_each_error_is_one_line_with_what_to_do(
    case: str, arguments: list[str], environment: dict[str, str], expected: str
) -> None:
    port = str(_closed_port())
    filled = {name: value.format(port=port) for name, value in environment.items()}
    line = _the_error_line(_heterdaad(*arguments, **filled))
    assert expected.format(port=port) in line, case
    assert "export " in line or "Start " in line, case  # says what to do next


def test_debug_shows_what_lies_behind_the_line() -> None:
    # An explained error may still be a bug of ours (a table our SQL misnames reads as an
    # unmigrated database): HETERDAAD_LOG_LEVEL=DEBUG keeps the traceback beside the line.
    arguments = ["import", "cbl", str(CBL_EXAMPLE), "--org", "cbl"]
    result = _heterdaad(*arguments, HETERDAAD_LOG_LEVEL="DEBUG")
    assert result.returncode == 1
    assert "heterdaad: HETERDAAD_PLATE_KEY is not set" in result.stderr
    assert "Traceback" in result.stderr and "SettingMissing" in result.stderr


@pytest.mark.parametrize("language", ["nl", "en"])
def test_english_whatever_the_language_of_user_facing_text(language: str) -> None:
    # The CLI's own output is the operator's (README.md, "Languages").
    line = _the_error_line(
        _heterdaad("simulate", "--days", "1", HETERDAAD_LANGUAGE=language)
    )
    assert "HETERDAAD_PLATE_KEY is not set" in line
    assert "niet" not in line


def test_a_bad_argument_is_a_usage_error() -> None:
    result = _heterdaad("digest", "--month", "maart")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_pdf_without_weasyprint_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import consumers.digest.export

    monkeypatch.setattr(consumers.digest.export, "pdf_available", lambda: False)
    result = CliRunner().invoke(app, ["digest", "--month", "2025-03", "--pdf"])
    assert result.exit_code == 1
    assert "weasyprint" in result.output


def test_worker_ready_without_a_broker_says_not_ready_in_one_line() -> None:
    # A healthcheck: a broker it cannot ask means not ready, said as /readyz says it.
    port = _closed_port()
    result = _heterdaad("worker-ready", HETERDAAD_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stdout.splitlines()
    said = json.loads(line)
    assert said["ready"] is False
    assert f"127.0.0.1', {port}" in said["problems"][0]


@pytest.fixture
async def half_migrated_schema(database_url: str) -> AsyncIterator[str]:
    """A schema at migration 0019, as a database made before the camera registry (0020) is
    until `heterdaad db migrate` brings it up to date."""
    from infra.migrate import load_migrations

    name = f"cli_{uuid.uuid4().hex[:10]}"
    before_cameras = [m for m in load_migrations() if m.version <= 19]
    async with migrated_schema(database_url, name, before_cameras):
        yield name


@pytest.mark.integration
@pytest.mark.parametrize(
    ("case", "arguments", "schema"),
    [
        # A fresh install that skipped `db migrate`, or a mistyped HETERDAAD_DATABASE_SCHEMA.
        ("org create, nothing migrated", ["org", "create", "cbl", "CBL", "--role", "retailer"],
         "never_migrated"),
        ("desk user list, nothing migrated", ["desk", "user", "list"], "never_migrated"),
        # New code on a database of an older version (0019), before `db migrate`.
        ("camera list, migrated to 0019", ["camera", "list"], "half"),
        # A service refuses to start, rather than run and answer every request with an error.
        ("api, migrated to 0019", ["api"], "half"),
        ("sink, migrated to 0019", ["sink"], "half"),
        ("receiver sia, migrated to 0019", ["receiver", "sia"], "half"),
        ("notify run, nothing migrated", ["notify", "run"], "never_migrated"),
        ("desk serve, nothing migrated", ["desk", "serve"], "never_migrated"),
    ],
)  # fmt: skip
def test_a_database_not_migrated_says_db_migrate(
    case: str, arguments: list[str], schema: str, database_url: str, half_migrated_schema: str
) -> None:
    chosen = half_migrated_schema if schema == "half" else f"never_{uuid.uuid4().hex[:10]}"
    environment = {
        "HETERDAAD_DATABASE_URL": database_url, "HETERDAAD_DATABASE_SCHEMA": chosen,
        "HETERDAAD_PLATE_KEY": PLATE_KEY,
    }  # fmt: skip
    line = _the_error_line(_heterdaad(*arguments, **environment))
    assert f"schema {chosen}" in line, case
    assert "`heterdaad db migrate`" in line, case


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--days", "-1"], "--days"),
        (["--history-days", "0"], "--history-days"),
        (["--witness-noise", "2"], "--witness-noise"),
        (["--late-share", "3"], "--late-share"),
    ],
)
def test_a_simulation_option_out_of_range_is_a_usage_error_naming_it(
    arguments: list[str], named: str
) -> None:
    result = _heterdaad("simulate", *arguments, HETERDAAD_PLATE_KEY=PLATE_KEY)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"Invalid value for {named}" in result.stderr


def test_a_path_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    line = _the_error_line(_heterdaad("schemas", "export", str(not_a_directory / "contract")))
    assert f"{not_a_directory / 'contract'}" in line
    assert "Not a directory" in line
