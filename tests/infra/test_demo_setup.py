"""What the demo hands the shell (demo.env) and which ports it checks before it starts."""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

from heterdaad.settings import Settings
from heterdaad.thresholds.operations import MetricsSettings
from infra.demo import demo_paths, first_time, worker_model_file
from infra.demo_setup import DemoSecrets, PortBusy, check_ports, write_env
from schemas.common import Branch
from streams.series_model import series_model_dir
from tests.infra.demo_ports import free_port_env

if TYPE_CHECKING:
    from pathlib import Path


def _settings(**fields: object) -> Settings:
    return Settings.model_validate(fields | {"_env_file": None})


def _free_ports(**extra: object) -> Settings:
    """Settings with every port the demo checks free (the defaults may be taken on a test box)."""
    free = free_port_env()
    ports = {name.removeprefix("HETERDAAD_").lower(): int(port)
             for name, port in free.items() if "__" not in name}  # fmt: skip
    metrics = {name.rpartition("__")[2].lower(): int(port)
               for name, port in free.items() if "__" in name}  # fmt: skip
    return _settings(**ports, metrics=MetricsSettings(**metrics), **extra)


def _sourced(env_file: Path, variable: str) -> str:
    """The variable's value in a bash that sourced the file, as README.md says to."""
    script = f'source "{env_file}" && printf %s "${variable}"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout  # fmt: skip


def test_demo_env_points_the_cli_at_the_demos_own_state_dir(tmp_path: Path) -> None:
    # The demo's parts run with <state_dir>/demo; `heterdaad model fit` in a shell that sourced
    # demo.env must write the model where the demo's worker reads it, not in <state_dir>.
    state, env_file = demo_paths(_settings(state_dir=tmp_path / "state"))
    live = _settings(state_dir=state)
    write_env(env_file, live, DemoSecrets("key", "password", "p" * 32, "alarm"))
    assert env_file == tmp_path / "state" / "demo.env"
    exported = _sourced(env_file, "HETERDAAD_STATE_DIR")
    assert exported == str(tmp_path / "state" / "demo")
    in_the_shell = _settings(state_dir=exported)
    assert series_model_dir(in_the_shell.state_dir) / "current.json" == worker_model_file(live)


def test_demo_env_carries_the_demos_language(tmp_path: Path) -> None:
    # `heterdaad demo --language en`: the CLI in the second terminal speaks English too.
    live = _settings(state_dir=tmp_path / "demo", language="en")
    env_file = write_env(tmp_path / "demo.env", live, DemoSecrets("key", "pw", "p" * 32, "alarm"))
    assert _sourced(env_file, "HETERDAAD_LANGUAGE") == "en"


@pytest.mark.parametrize(
    ("given", "state", "env_file"),
    [
        # The README's way: the settings' state dir, demo's own below it.
        ("state", "state/demo", "state/demo.env"),
        # Started again from a shell that sourced demo.env: the same dir, not state/demo/demo.
        ("state/demo", "state/demo", "state/demo.env"),
    ],
)
def test_the_demo_finds_its_own_state_dir(
    tmp_path: Path, given: str, state: str, env_file: str
) -> None:
    found = demo_paths(_settings(state_dir=tmp_path / given))
    assert found == (tmp_path / state, tmp_path / env_file)


def test_a_configured_model_is_the_one_the_demo_watches(tmp_path: Path) -> None:
    configured = tmp_path / "chosen.json"
    settings = _settings(state_dir=tmp_path, series={"model_path": str(configured)})
    assert worker_model_file(settings) == configured


@pytest.mark.parametrize("field", ["worker_port", "sink_port", "notify_port", "sia_port"])
def test_a_taken_metrics_port_stops_the_demo_before_it_starts(field: str) -> None:
    with socket.socket() as holder:
        holder.bind((MetricsSettings().host, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # The other ports are drawn while this one is held: drawn before, one of them could be
        # handed out again as `taken`, and the demo rightly named that one instead (CI, 7 Dec).
        settings = _free_ports()
        metrics = settings.metrics.model_copy(update={field: taken})
        with pytest.raises(PortBusy) as busy:
            check_ports(settings.model_copy(update={"metrics": metrics}))
    assert f"HETERDAAD_METRICS__{field.upper()}" in str(busy.value)
    assert str(taken) in str(busy.value)
    assert "is in use" in str(busy.value)  # English, as all the CLI's own output


def test_a_metrics_server_turned_off_is_not_checked() -> None:
    off = MetricsSettings(worker_port=0, sink_port=0, notify_port=0, sia_port=0)
    check_ports(_free_ports().model_copy(update={"metrics": off}))


def test_the_console_shows_an_alert_sent_twice_once() -> None:
    # At least once: after a rebalance the worker sends some alerts again, same ids.
    shown: dict[uuid.UUID, None] = {}
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert [first_time(shown, i, keep=2) for i in (first, second, first, third, first)] == [
        True, True, False, True, True,  # the last: forgotten once two newer ids came
    ]  # fmt: skip


def _two_adjacent_ports(stack: ExitStack) -> int:
    """A loopback port P held, and P + 1 free at the time of asking (or held, see callers)."""
    while True:
        first = stack.enter_context(socket.socket())
        first.bind(("127.0.0.1", 0))
        first.listen()
        port: int = first.getsockname()[1]
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _suggested(busy: pytest.ExceptionInfo[PortBusy]) -> int:
    found = re.search(r"export HETERDAAD_KAFKA_PORT=(\d+)$", str(busy.value))
    assert found, str(busy.value)
    return int(found[1])


def test_a_taken_port_suggests_one_that_is_free() -> None:
    # Beside infra up's Kafka (19092) its controller holds 19093: the demo said "export
    # HETERDAAD_KAFKA_PORT=19093", and following that advice only led to the next refusal.
    with ExitStack() as stack:
        taken = _two_adjacent_ports(stack)
        neighbour = stack.enter_context(socket.socket())
        neighbour.bind(("127.0.0.1", taken + 1))
        neighbour.listen()
        with pytest.raises(PortBusy) as busy:
            check_ports(_free_ports().model_copy(update={"kafka_port": taken}))
        suggested = _suggested(busy)
        assert suggested not in (taken, taken + 1)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", suggested))  # free indeed


def test_a_taken_port_does_not_suggest_another_part_s_port() -> None:
    # The port next to the taken Kafka port is free, but the demo's PostgreSQL is to use it.
    with ExitStack() as stack:
        taken = _two_adjacent_ports(stack)
        beside = {"kafka_port": taken, "postgres_port": taken + 1}
        settings = _free_ports().model_copy(update=beside)
        with pytest.raises(PortBusy) as busy:
            check_ports(settings)
        assert _suggested(busy) not in (taken, taken + 1)


async def test_every_branch_the_demo_registers_has_an_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The desk's card names the branch's address (README, "The police desk"); the demo's own
    # robbery read "Buurtsuper (supermarkt), bij Amsterdam", its branches registered without one.
    from infra import demo_setup
    from producers.api import admin

    registered: list[Branch] = []

    async def create_branch(db: object, organisation: str, branch: Branch) -> None:
        registered.append(branch)

    async def anything(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(admin, "create_branch", create_branch)
    for name in ("create_organisation", "add_association_member", "create_alarm_site"):
        monkeypatch.setattr(admin, name, anything)
    await demo_setup._register(object())
    assert {b.branch_id for b in registered} >= {"ah-1001", "juwelier-1", "BM-0412", "VP-0101"}
    assert [b.branch_id for b in registered if b.address is None] == []
