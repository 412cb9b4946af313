"""Running parts of the system as real child processes, the way they run in production."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from infra.parts import spawn_part, stop_part

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from heterdaad.settings import Settings


@contextlib.contextmanager
def running(settings: Settings, *command: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`heterdaad <command>` with the test's settings; stopped (then killed) on exit."""
    with log.open("ab") as output:
        process = spawn_part(settings, *command, output=output)
        try:
            yield process
        finally:
            stop_part(process)


def model_command(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`heterdaad model <arguments>` against the test's database and state directory."""
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "model", *arguments],
        env=os.environ | settings.to_env(), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
