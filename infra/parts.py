"""Running parts of the system (`heterdaad <command>`) as child processes, and stopping them."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # A part must not outlive the process that started it (Linux only; elsewhere a no-op).
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_part(
    settings: Settings, *command: str, output: IO[bytes], die_with_parent: bool = True
) -> subprocess.Popen[bytes]:
    """Start `heterdaad <command>` with these settings, in its own session.

    Its own session keeps a terminal's Ctrl-C from reaching it directly: the parent decides
    the order in which parts stop.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "assembly.cli", *command],
        env=os.environ | settings.to_env(),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if die_with_parent else None,
    )
    logger.info("part started", extra={"part": " ".join(command), "pid": process.pid})
    return process


def stop_part(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("part did not stop, killing it", extra={"pid": process.pid})
            process.kill()
            process.wait()
    return process.returncode
