"""The demo's supervisor: restarts a part that stops by itself, and the worker for a new model.

Each part is watched on its own, so one part's wait before its restart never delays another's.
A part that keeps crashing ends the demo: more than `burst` crashes within `interval_s`, the
rule of systemd's StartLimitBurst and StartLimitIntervalSec, so that crashes days apart never
add up. A restart the supervisor asks for (a new series model) is no crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.parts import stop_part

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping
    from pathlib import Path

logger = logging.getLogger(__name__)

# How often a part is looked at: a crash or a new model is acted on within this.
POLL_S = 0.5


@dataclass(frozen=True)
class RestartLimit:
    """At most `burst` crashes of one part within `interval_s`; the next one gives up."""

    burst: int = 5
    interval_s: float = 600.0
    # The wait before a restart doubles with each crash still inside the interval.
    backoff_s: float = 1.0


class CrashCount:
    """The crashes of one part that still count: those within the limit's interval."""

    def __init__(self, limit: RestartLimit, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._times: deque[float] = deque()

    def recent(self) -> int:
        now = self._clock()
        while self._times and now - self._times[0] >= self._limit.interval_s:
            self._times.popleft()
        return len(self._times)

    def add(self) -> int:
        """Count one more crash; returns how many count now."""
        self.recent()
        self._times.append(self._clock())
        return len(self._times)


class FileWatch:
    """Whether a file was written, replaced or removed since `mark` (the worker's model)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def mark(self) -> None:
        self._seen = self._signature()

    def changed(self) -> bool:
        return self._signature() != self._seen


async def watch_parts(
    parts: dict[str, subprocess.Popen[bytes]],
    start: Callable[[str], subprocess.Popen[bytes]],
    say: Callable[[str], None],
    *,
    limit: RestartLimit = RestartLimit(),
    reloads: Mapping[str, FileWatch] | None = None,
    clock: Callable[[], float] = time.monotonic,
    stop: Callable[[subprocess.Popen[bytes]], int] = stop_part,
    poll_s: float = POLL_S,
) -> str:
    """Keep every part running until one keeps crashing; returns why, ending the demo.

    `parts` is updated in place with each new process, so whoever stops the demo stops the
    running ones. `reloads`: a part restarted (not counted as a crash) when its file changes.
    """
    watchers = [
        asyncio.create_task(
            _watch_part(
                parts, name, start, say, limit, (reloads or {}).get(name), clock, stop, poll_s
            )
        )
        for name in parts
    ]
    try:
        done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for watcher in watchers:
            watcher.cancel()
        for watcher in watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _watch_part(
    parts: dict[str, subprocess.Popen[bytes]],
    name: str,
    start: Callable[[str], subprocess.Popen[bytes]],
    say: Callable[[str], None],
    limit: RestartLimit,
    reload: FileWatch | None,
    clock: Callable[[], float],
    stop: Callable[[subprocess.Popen[bytes]], int],
    poll_s: float,
) -> str:
    crashes = CrashCount(limit, clock)
    while True:
        process = parts[name]
        if process.poll() is not None:
            if crashes.recent() >= limit.burst:
                log = f"{name.replace(' ', '-')}.log"
                return (f"heterdaad {name} stopped unexpectedly (exit {process.returncode}); "
                        f"{limit.burst} restarts within {limit.interval_s:g} s did not help; "
                        f"see {log}")  # fmt: skip
            count = crashes.add()
            say(f"heterdaad {name} stopped (exit {process.returncode}); restart {count} of "
                f"{limit.burst} within {limit.interval_s:g} s ...")  # fmt: skip
            await asyncio.sleep(limit.backoff_s * 2 ** (count - 1))
            if reload is not None:
                reload.mark()
            parts[name] = start(name)
        elif reload is not None and reload.changed():
            # Marked before the stop: a file written during the restart restarts it again.
            reload.mark()
            say(f"heterdaad {name}: {reload.path.name} is new; restarting to load it ...")
            logger.info("part restarted to load a file",
                        extra={"part": name, "path": str(reload.path)})  # fmt: skip
            await asyncio.to_thread(stop, process)
            parts[name] = start(name)
        await asyncio.sleep(poll_s)
