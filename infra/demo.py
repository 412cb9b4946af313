"""The main job on the embedded default: broker, database, every part, history, then live traffic.

History comes first and at full speed (the simulator's history mode), so that the stages see
it in event-time order before anything live: a live report first would make the replayed past
arrive "late" (issue 10). The history holds a planted series, reconnaissance patterns and a
hotspot near its end, on a fixed seed, so the screen shows each within minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from consumers.alert_text import summary
from heterdaad import plate_keys
from heterdaad.db import create_pool
from infra.demo_setup import (
    DESK_USER,
    ENV_FILE,
    EXAMPLE_BRANCH,
    EXAMPLE_ORG,
    DemoSecrets,
    check_ports,
    seed,
    write_env,
)
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, accepts
from infra.migrate import migrate
from infra.parts import spawn_part, stop_part
from infra.supervisor import FileWatch, watch_parts
from producers.simulator import SimulationConfig, simulate
from producers.simulator.live import run_live
from schemas.alerts import Alert
from schemas.topics import ALERTS
from schemas.wire import UndecodableRecord, decode_as
from streams.series_model import series_model_dir
from streams.topology import ensure_worker_topics

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from pathlib import Path

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

# Every long-running part, so each README example finds what it talks to.
PARTS = (
    ("worker",),
    ("sink",),
    ("api",),
    ("receiver", "sia"),
    ("notify", "run"),
    ("desk", "serve"),
)
# The demo's own state dir, under the settings' one (demo.env exports it: see demo_state).
DEMO_DIR = "demo"
# The demo's past: four months at the 2012 robbery rate (DOMAIN.md: 1,982), enough baseline for
# the hotspot scan to call five robberies in three days unusual; alarm traffic only on the last
# day (a year of presses would keep the worker busy for minutes and show nothing new). The
# fixed seed puts the planted hotspot where it is found (checked for seeds 1 and 2).
HISTORY_SEED = 1
HISTORY_DAYS = 120.0


def history_config(days: float = HISTORY_DAYS) -> SimulationConfig:
    """The demo's past, ending now."""
    return SimulationConfig(seed=HISTORY_SEED, days=days, robberies_per_year=1982.0,
                            alarm_days=1.0, hotspots=1, series=3, recon_patterns=3)  # fmt: skip


HISTORY_LABEL = {"nl": "HISTORIE", "en": "HISTORY"}


async def run_demo(
    settings: Settings,
    stop: asyncio.Event,
    say: Callable[[str], None],
    *,
    traffic_rate: float = 5.0,
    history_days: float = HISTORY_DAYS,
    fresh: bool = False,
) -> None:
    """Run everything until `stop` is set; `say` shows people what happens.

    The database (registrations, keys, desk users, stored events) is kept between runs unless
    `fresh`; the broker keeps topics in memory only, so history is loaded again each run (the
    sink and the notification log skip what they already have).
    """
    state, env_file = demo_paths(settings)
    check_ports(settings)
    if fresh:
        shutil.rmtree(state, ignore_errors=True)
        env_file.unlink(missing_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    say(f"Heterdaad starting (embedded): Tansu and PostgreSQL in {state}")
    async with (
        EmbeddedBroker(state, port=settings.kafka_port) as broker,
        EmbeddedPostgres(state, port=settings.postgres_port) as postgres,
    ):
        secrets_file = state / "secrets.json"
        kept = DemoSecrets.load(secrets_file)
        live = settings.model_copy(
            update={
                "kafka_bootstrap": broker.bootstrap,
                "kafka_flavour": "tansu",
                "database_url": postgres.dsn,
                "state_dir": state,
            }
        )
        await migrate(live.database_url, live.database_schema)
        await ensure_worker_topics(live)
        demo_secrets = await _seed(live, kept)
        if settings.plate_key is not None:
            demo_secrets.plate_key = settings.plate_key.get_secret_value()
        demo_secrets.save(secrets_file)
        live = live.model_copy(update={"plate_key": SecretStr(demo_secrets.plate_key)})
        # A key other than the one the kept database knows under this id (HETERDAAD_PLATE_KEY
        # set to another, or secrets.json lost) stops the demo here, in one line, rather than
        # its API part five times over.
        await _claim_plate_key(live)
        api_key = demo_secrets.api_key
        # Taken before the worker starts: a model written from then on is a new one for it.
        new_model = FileWatch(worker_model_file(live))
        parts = _start_parts(live, state)
        try:
            api_url = f"http://{live.api_host}:{live.api_port}"
            await _wait_for_parts(live, parts)
            write_env(env_file, live, demo_secrets)
            say(f"broker {broker.bootstrap} · database {postgres.port} · API {api_url} · "
                f"SIA {live.sia_host}:{live.sia_port}")  # fmt: skip
            say(f"reporting form: {api_url}/meld  ({EXAMPLE_ORG}'s key: {api_key})")
            say(f"police desk: http://{live.desk_host}:{live.desk_port}  (user "
                f"{DESK_USER}, password {demo_secrets.desk_password})")  # fmt: skip
            say(f"the CLI and the examples of README.md: source {env_file}")
            alerts = asyncio.create_task(_show_alerts(live, say))
            if history_days > 0:
                say(f"loading history: {history_days:g} days, at full speed ...")
                history = await simulate(live, history_config(history_days))
                say(f"history loaded: {history.total_sent} events in "
                    f"{history.seconds:.1f} s ({history.events_per_second:.0f}/s)")  # fmt: skip
            await _post_report(api_url, api_key)
            say("robbery reported through the API; waiting for the alert ...")
            traffic = asyncio.create_task(
                run_live(live, seed=int(datetime.now(UTC).timestamp()), rate=traffic_rate)
            )

            def restart(name: str) -> subprocess.Popen[bytes]:
                return _start_part(live, state, tuple(name.split()))

            watch = asyncio.create_task(
                watch_parts(parts, restart, say, reloads={"worker": new_model})
            )
            done, _ = await asyncio.wait(
                [asyncio.create_task(stop.wait()), watch], return_when=asyncio.FIRST_COMPLETED
            )
            for task in (alerts, traffic, watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if watch in done:
                raise RuntimeError(watch.result())
        finally:
            say("stopping ...")
            for process in reversed(list(parts.values())):
                stop_part(process)
    say("stopped")


def demo_paths(settings: Settings) -> tuple[Path, Path]:
    """The demo's own state dir and its demo.env: <state_dir>/demo and <state_dir>/demo.env.

    demo.env exports the demo's own dir as HETERDAAD_STATE_DIR, so that the CLI (`heterdaad
    model fit`) writes where the demo's parts read. A demo started again from a shell that
    sourced it is given that dir, named demo: it is the demo's own, not the parent of another.
    """
    given = settings.state_dir
    if given.resolve().name == DEMO_DIR:
        return given.resolve(), given.resolve().parent / ENV_FILE
    return (given / DEMO_DIR).resolve(), given / ENV_FILE


def worker_model_file(settings: Settings) -> Path:
    """The series model the worker loads at start (streams/series_model.py model_at_start)."""
    return settings.series.model_path or series_model_dir(settings.state_dir) / "current.json"


def _start_part(
    settings: Settings, state: Path, command: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    log = (state / f"{'-'.join(command)}.log").open("ab")
    return spawn_part(settings, *command, output=log)


def _start_parts(settings: Settings, state: Path) -> dict[str, subprocess.Popen[bytes]]:
    return {" ".join(command): _start_part(settings, state, command) for command in PARTS}


async def _seed(settings: Settings, kept: DemoSecrets | None) -> DemoSecrets:
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    try:
        return await seed(connection, settings, kept)
    finally:
        await connection.close()


async def _wait_for_parts(settings: Settings, parts: dict[str, subprocess.Popen[bytes]]) -> None:
    """Until the API answers its health check and the SIA receiver and the desk listen."""
    listening = {"receiver sia": (settings.sia_host, settings.sia_port),
                 "desk serve": (settings.desk_host, settings.desk_port)}  # fmt: skip
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    async with httpx.AsyncClient(timeout=2) as client, asyncio.timeout(120):
        waiting = {"api", *listening}
        while waiting:
            for name in sorted(waiting):
                if parts[name].poll() is not None:
                    log = f"{name.replace(' ', '-')}.log"
                    raise RuntimeError(f"heterdaad {name} exited during start-up; see {log}")
                if name == "api":
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{api_url}/health")).status_code == 200:
                            waiting.discard(name)
                elif await accepts(*listening[name]):
                    waiting.discard(name)
            await asyncio.sleep(0.5)


async def _post_report(api_url: str, api_key: str) -> None:
    """What a supermarket would post minutes after a robbery."""
    body = {
        "event_id": str(uuid.uuid4()),
        "reporting_org": EXAMPLE_ORG,
        "branch": EXAMPLE_BRANCH.model_dump(mode="json"),
        "incident_type": "overval",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "offender_count": 2,
        "weapons": ["firearm"],
        "modus_operandi": ["at_closing", "threatened_staff"],
        "loot": ["cash", "cigarettes"],
        "getaway": {"mode": "scooter", "vehicle": {"kind": "scooter", "colour": "zwart",
                                                   "plate": "D-123-XY"}},
        "offenders": [{"clothing": ["zwarte jas", "grijze trainingsbroek"],
                       "face_covering": "balaclava"}],
    }  # fmt: skip
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{api_url}/v1/incident-reports",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
        )
    if answer.status_code != 202:
        raise RuntimeError(f"the API refused the demo report: {answer.status_code} {answer.text}")


def first_time(shown: dict[uuid.UUID, None], alert_id: uuid.UUID, keep: int = 10_000) -> bool:
    """Whether the console shows this alert: not when it showed the same id before. The worker
    sends at least once, and after a rebalance the console printed hundreds of alerts again
    (the store and the webhooks keep each id once). `shown` keeps the newest `keep` ids."""
    if alert_id in shown:
        return False
    shown[alert_id] = None
    if len(shown) > keep:
        del shown[next(iter(shown))]
    return True


async def _show_alerts(settings: Settings, say: Callable[[str], None]) -> None:
    consumer = AIOKafkaConsumer(
        ALERTS.name(settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.app_id}-demo-console",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    shown: dict[uuid.UUID, None] = {}
    try:
        async for record in consumer:
            try:
                alert = decode_as(Alert, ALERTS, record.value, list(record.headers))
            except UndecodableRecord as error:
                say(f"unreadable alert: {error.reason}")
                continue
            if not first_time(shown, alert.alert_id):
                continue
            # History informs, it does not alarm (issue 10): the screen says which is which.
            label = HISTORY_LABEL[settings.language] if alert.historical else "ALARM"
            say(f"{label} {summary(alert, settings.language)}")
    finally:
        await consumer.stop()


async def _claim_plate_key(settings: Settings) -> None:
    pool = await create_pool(settings, max_size=1)
    try:
        await plate_keys.claim(pool, settings.require_plate_key(), settings.plate_key_id)
    finally:
        await pool.close()
