"""Running parts of the system as real child processes, the way they run in production."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from heterdaad.settings import Settings


@contextlib.contextmanager
def running(
    settings: Settings, *command: str, log: Path, stop_signal: int = signal.SIGTERM
) -> Iterator[subprocess.Popen[bytes]]:
    """`heterdaad <command>` with the test's settings; stopped (then killed) on exit."""
    env = os.environ | settings.to_env()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "heterdaad.cli", *command],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(stop_signal)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
