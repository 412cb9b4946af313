"""The demo's supervisor: crashes counted as a rate, parts restarted independently, and the
worker restarted (not counted as a crash) when a new series model is written."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

import pytest

from infra.supervisor import FileWatch, RestartLimit, watch_parts

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from pathlib import Path


class FakePart:
    """A part's process: running until `exit` (or exited from the start)."""

    def __init__(self, exit_code: int | None = None) -> None:
        self.returncode = exit_code

    def poll(self) -> int | None:
        return self.returncode

    def exit(self, code: int) -> None:
        self.returncode = code


def _popen(part: FakePart) -> subprocess.Popen[bytes]:
    return cast("subprocess.Popen[bytes]", part)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def _quick(burst: int = 5) -> RestartLimit:
    """Five crashes within ten minutes, as the demo's, with hardly a wait before a restart."""
    return RestartLimit(burst=burst, interval_s=600.0, backoff_s=0.001)


@pytest.mark.parametrize("burst", [0, 3])
async def test_a_part_that_keeps_crashing_ends_the_demo(burst: int) -> None:
    steady = FakePart()
    parts = {"worker": _popen(FakePart(1)), "api": _popen(steady)}
    started: list[str] = []
    said: list[str] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        started.append(name)
        return _popen(FakePart(1))

    limit = _quick(burst)
    reason = await watch_parts(
        parts, start, said.append, limit=limit, clock=FakeClock(), poll_s=0.01
    )
    assert started == ["worker"] * burst, "only the stopped part is started again"
    assert len(said) == burst
    # in English, as all the CLI's own output
    assert all(line.startswith("heterdaad worker stopped (exit 1); restart ") for line in said)
    assert reason.startswith("heterdaad worker stopped unexpectedly (exit 1)")


async def test_crashes_far_apart_never_add_up_to_the_limit() -> None:
    # Five crashes within ten minutes end the demo; here every crash is four minutes after the
    # one before, so at most three count at any time, and the sixth, tenth ... are restarted.
    clock = FakeClock()
    started: list[str] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        started.append(name)
        clock.now += 240.0
        return _popen(FakePart(1 if len(started) < 12 else None))

    parts = {"notify run": _popen(FakePart(1))}
    watch = asyncio.create_task(watch_parts(parts, start, lambda _: None,
                                            limit=_quick(), clock=clock,
                                            poll_s=0.01))  # fmt: skip
    await _until(lambda: len(started) == 12 or watch.done())
    assert not watch.done(), watch.result()
    watch.cancel()


async def test_crashes_close_together_still_end_the_demo() -> None:
    clock = FakeClock()

    def start(name: str) -> subprocess.Popen[bytes]:
        clock.now += 60.0  # six crashes in six minutes
        return _popen(FakePart(1))

    parts = {"notify run": _popen(FakePart(1))}
    reason = await watch_parts(parts, start, lambda _: None, limit=_quick(),
                               clock=clock, poll_s=0.01)  # fmt: skip
    assert "5 restarts within 600 s did not help" in reason


async def test_one_parts_wait_before_its_restart_does_not_delay_another() -> None:
    # The worker and notify killed together: both are back after one backoff, not one after
    # the other's wait.
    backoff = 1.0
    started: dict[str, float] = {}

    def start(name: str) -> subprocess.Popen[bytes]:
        started[name] = time.monotonic()
        return _popen(FakePart())

    parts = {"worker": _popen(FakePart(-9)), "notify run": _popen(FakePart(-9))}
    killed = time.monotonic()
    limit = RestartLimit(burst=5, interval_s=600.0, backoff_s=backoff)
    watch = asyncio.create_task(watch_parts(parts, start, lambda _: None, limit=limit))
    try:
        await _until(lambda: len(started) == 2)
    finally:
        watch.cancel()
    assert max(started.values()) - killed < 1.8 * backoff, started
    assert all(parts[name].poll() is None for name in parts), "both run again"


async def test_a_new_model_restarts_the_worker_without_counting_a_crash(tmp_path: Path) -> None:
    model = tmp_path / "models" / "series" / "current.json"
    watch_file = FileWatch(model)  # taken before the worker starts, as the demo does
    first, steady = FakePart(), FakePart()
    parts = {"worker": _popen(first), "api": _popen(steady)}
    stopped: list[Any] = []
    started: list[str] = []
    said: list[str] = []

    def stop(process: subprocess.Popen[bytes]) -> int:
        stopped.append(process)
        cast("FakePart", process).exit(-15)
        return -15

    def start(name: str) -> subprocess.Popen[bytes]:
        started.append(name)
        return _popen(FakePart())

    # A burst of 0: a crash would end the demo at once, a restart for the model must not.
    limit = RestartLimit(burst=0, interval_s=600.0, backoff_s=0.001)
    watch = asyncio.create_task(watch_parts(parts, start, said.append, limit=limit,
                                            reloads={"worker": watch_file}, stop=stop,
                                            poll_s=0.01))  # fmt: skip
    try:
        model.parent.mkdir(parents=True)
        model.write_text("{}", encoding="utf-8")  # as `heterdaad model fit` does
        await _until(lambda: started == ["worker"])
        staged = model.with_suffix(".tmp")  # a second fit replaces it by rename
        staged.write_text('{"v": 2}', encoding="utf-8")
        staged.replace(model)
        await _until(lambda: started == ["worker", "worker"])
        assert not watch.done(), watch.result()
    finally:
        watch.cancel()
    assert stopped[0] is first, "the running worker is stopped before the new one starts"
    assert len(stopped) == 2
    assert steady.poll() is None, "the other parts run on"
    assert all("current.json is new; restarting" in line for line in said), said
