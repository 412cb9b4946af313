"""Running parts of the system as real child processes, the way they run in production."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from infra.parts import spawn_part, stop_part

if TYPE_CHECKING:
    import subprocess
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
