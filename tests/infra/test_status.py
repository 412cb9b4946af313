"""`heterdaad infra status` checks what `infra up` exported, not only the port settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from infra.exports import record, recorded

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    # Port settings where nothing listens: only the recorded exports lead to the services.
    env |= {
        "HETERDAAD_STATE_DIR": str(state_dir),
        "HETERDAAD_KAFKA_PORT": str(_closed_port()),
        "HETERDAAD_POSTGRES_PORT": str(_closed_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "infra", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_checks_the_recorded_exports(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
) -> None:
    state = tmp_path / "state"
    record(state, [("HETERDAAD_KAFKA_BOOTSTRAP", kafka_bootstrap),
                   ("HETERDAAD_DATABASE_URL", database_url)])  # fmt: skip
    result = _status(state)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"kafka {kafka_bootstrap}: ready" in result.stdout


def test_without_a_recorded_up_status_checks_the_port_settings(tmp_path: Path) -> None:
    result = _status(tmp_path / "state")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.count("not answering") == 2


def test_recorded_values_survive_quoting(tmp_path: Path) -> None:
    dsn = "postgresql://heterdaad:p%40ss 'x'@127.0.0.1:1/heterdaad"
    record(tmp_path, [("HETERDAAD_DATABASE_URL", dsn)])
    assert recorded(tmp_path) == {"HETERDAAD_DATABASE_URL": dsn}
    assert (tmp_path / "infra.env").stat().st_mode & 0o077 == 0
