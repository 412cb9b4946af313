"""A failing command says what is wrong in one line, in English, and exits non-zero."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assembly.cli import app

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
