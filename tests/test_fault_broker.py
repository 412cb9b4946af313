"""Fault tolerance: the broker stopped (killed or shut down) and started again during ingest.

Every part runs as in production, as a child process (`heterdaad api`, `worker`, `sink`,
`notify run`), against a broker of the test's own. A client posts incident reports at a
steady pace and retries a 503 the way a real client does (same body, same event id, after
Retry-After). Afterwards: every accepted event is in PostgreSQL once, and every notification
the notify service decided on reached its webhook exactly once, and nothing else did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from heterdaad.kafka import ensure_topics
from heterdaad.thresholds.notify import NotifyThresholds
from infra.local import free_port
from infra.migrate import migrate
from producers.api import ApiLimits
from tests.broker_helpers import Outage, own_broker
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually
from tests.processes import running
from tests.producers import bodies
from tests.producers.intake_support import Registry, register

if TYPE_CHECKING:
    import subprocess
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from heterdaad.settings import Settings
    from tests.broker_helpers import OwnBroker

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.integration

# The retailer reporting, its webhook, and the police's: organisation id -> receiver hook.
HOOKS = {"retail-a": "branch", "politie-ams": "police"}
# A broker that does not acknowledge within this long is answered 503; a client that gets no
# answer at all within CLIENT_TIMEOUT_S counts as a hang.
PUBLISH_TIMEOUT_S = 3.0
CLIENT_TIMEOUT_S = PUBLISH_TIMEOUT_S + 15.0
LIMITS = ApiLimits(
    events_per_second=1000,
    event_burst=1000,
    publish_timeout_seconds=PUBLISH_TIMEOUT_S,
    broker_retry_seconds=1,
)
# Quick notification so that the test waits for delivery, not for grouping windows.
NOTIFY = NotifyThresholds(
    group_wait_seconds=0,
    group_interval_seconds=0.5,
    retry_base_seconds=0.2,
    retry_max_seconds=2.0,
    poll_seconds=0.1,
    max_attempts=100,
    receiver_rate_per_minute=60_000,
    receiver_burst=10_000,
)


@pytest.fixture
async def settings_on_own_broker(
    bare_settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Settings, OwnBroker]]:
    """Fresh settings whose Kafka is a broker of this test's own, with topics and schema."""
    with own_broker(bare_settings, tmp_path / "broker") as broker:
        settings = bare_settings.model_copy(
            update={"kafka_bootstrap": broker.bootstrap, "api_port": free_port(),
                    "api_limits": LIMITS, "notify": NOTIFY}
        )  # fmt: skip
        await ensure_topics(settings)
        await migrate(settings.database_url, settings.database_schema)
        try:
            yield settings, broker
        finally:
            connection = await asyncpg.connect(settings.database_url)
            try:
                await connection.execute(f"DROP SCHEMA {settings.database_schema} CASCADE")
            finally:
                await connection.close()


@pytest.fixture
async def db_on_own_broker(
    settings_on_own_broker: tuple[Settings, OwnBroker],
) -> AsyncIterator[asyncpg.Connection]:
    settings, _ = settings_on_own_broker
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    yield connection
    await connection.close()


async def subscribe_webhooks(db: asyncpg.Connection, receiver: WebhookReceiver) -> Registry:
    """The intake registry; the reporting retailer and the Amsterdam police take webhooks."""
    registry = await register(db)
    await db.execute(
        "UPDATE organisation SET police_unit = 'amsterdam' WHERE organisation_id = 'politie-ams'"
    )
    around_branches = {"radius_m": 1000}
    for organisation_id, hook in HOOKS.items():
        spec = SubscriptionSpec.model_validate(
            (around_branches if hook == "branch" else {})
            | {"webhook_url": receiver.hook(hook), "webhook_secret": SECRET}
        )
        await create_subscription(db, organisation_id, spec, actor="test")
    return registry


@dataclass
class Client:
    """An alarm centre's client: posts each report until it is accepted, as a real one would.

    A 503 is retried with the same body (so the same event id) after Retry-After. Anything
    else than 202 or 503, and a request with no answer in time, is kept as a complaint.
    """

    http: httpx.AsyncClient
    auth: dict[str, str]
    accepted: list[str] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    complaints: list[str] = field(default_factory=list)

    def accepted_beyond(self, count: int) -> Callable[[], Awaitable[bool]]:
        """A probe for `eventually`: more than `count` reports accepted."""

        async def probe() -> bool:
            return len(self.accepted) > count

        return probe

    async def report(self, body: dict[str, Any]) -> None:
        while True:
            try:
                answer = await self.http.post("/v1/incident-reports", json=body, headers=self.auth)
            except httpx.HTTPError as error:
                self.complaints.append(f"{body['event_id']}: {type(error).__name__} {error}")
                await asyncio.sleep(1.0)
                continue
            self.answers[answer.status_code] += 1
            if answer.status_code == 202:
                self.accepted.append(body["event_id"])
                return
            if answer.status_code != 503:
                self.complaints.append(f"{body['event_id']}: {answer.status_code} {answer.text}")
                return
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))


async def post_steadily(client: Client, per_second: float, until: asyncio.Event) -> int:
    """Start one report every 1/per_second s until `until` is set; each retries on its own,
    so an outage does not slow the pace. Returns how many were posted, once all are settled."""
    async with asyncio.TaskGroup() as reports:
        posted = 0
        while not until.is_set():
            reports.create_task(client.report(bodies.incident_report(plate=None)))
            posted += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), 1 / per_second)
    return posted


def deliveries(receiver: WebhookReceiver) -> Counter[tuple[str, str]]:
    """(hook, alert dedup key) -> how many notifications delivered it (2xx)."""
    return Counter((r.hook, key) for r in receiver.delivered() for key in r.alert_keys)


async def due_deliveries(db: asyncpg.Connection) -> dict[tuple[str, str], str]:
    """(hook, alert dedup key) -> state of every webhook delivery the notify service decided."""
    rows = await db.fetch(
        "SELECT recipient, dedup_key, state FROM delivery WHERE channel = 'webhook'"
    )
    return {(HOOKS[r["recipient"].split("/")[0]], r["dedup_key"]): r["state"] for r in rows}


def outage_param(outages: list[Outage], **marks: Any) -> Any:
    return pytest.param(outages, id="-".join(map(str, outages)), **marks)


@pytest.mark.parametrize(
    "outages",
    [
        # One hard stop; the restart (log recovery after a kill) makes it about 15 s.
        outage_param([Outage(hard=True, down_s=3)]),
        # Killed, stopped cleanly, killed right after a restart, and down for long.
        outage_param(
            [
                Outage(hard=True, down_s=5),
                Outage(hard=False, down_s=10),
                Outage(hard=True, down_s=0),
                Outage(hard=True, down_s=20),
            ],
            marks=[pytest.mark.long, pytest.mark.timeout(900)],
        ),
    ],
)
async def test_broker_outages_during_ingest_lose_and_repeat_nothing(
    settings_on_own_broker: tuple[Settings, OwnBroker],
    db_on_own_broker: asyncpg.Connection,
    tmp_path: Path,
    outages: list[Outage],
) -> None:
    settings, broker = settings_on_own_broker
    db = db_on_own_broker
    logs = tmp_path / "logs"
    logs.mkdir()
    async with WebhookReceiver() as receiver:
        registry = await subscribe_webhooks(db, receiver)
        with (
            running(settings, "api", log=logs / "api.log") as api,
            running(settings, "worker", log=logs / "worker.log") as worker,
            running(settings, "sink", log=logs / "sink.log") as sink,
            running(settings, "notify", "run", log=logs / "notify.log") as notify,
        ):
            parts: dict[str, subprocess.Popen[bytes]] = {
                "api": api, "worker": worker, "sink": sink, "notify": notify,
            }  # fmt: skip

            def all_alive() -> None:
                exited = {name: p.returncode for name, p in parts.items() if p.poll() is not None}
                assert not exited, f"parts exited: {exited}; logs in {logs}"

            base_url = f"http://{settings.api_host}:{settings.api_port}"
            async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as http:

                async def api_up() -> bool:
                    all_alive()
                    with contextlib.suppress(httpx.HTTPError):
                        return (await http.get("/health")).status_code == 200
                    return False

                await eventually(api_up, timeout=60)
                client = Client(http, registry.auth("retail-a"))
                done = asyncio.Event()
                posting = asyncio.create_task(post_steadily(client, 4.0, done))

                # The outages hit a working pipeline: the first report notified end to end.
                async def first_delivered() -> bool:
                    all_alive()
                    return bool(client.accepted) and len({h for h, _ in deliveries(receiver)}) == 2

                await eventually(first_delivered, timeout=120, interval=0.5)
                for outage in outages:
                    await broker.break_off(outage)
                    # Back to accepting before the next outage (and before the end).
                    await eventually(
                        client.accepted_beyond(len(client.accepted) + 5), timeout=60, interval=0.2
                    )
                    all_alive()
                done.set()
                posted = await posting

            expected = {f"robbery_reported:{event_id}" for event_id in client.accepted}

            async def settled() -> bool:
                all_alive()
                events = await db.fetchval("SELECT count(*) FROM event")
                delivered = deliveries(receiver)
                due = await due_deliveries(db)
                every_robbery = all((h, k) in delivered for h in HOOKS.values() for k in expected)
                every_due = all(state == "delivered" for state in due.values())
                alerts = await db.fetchval(
                    "SELECT count(*) FROM alert WHERE dedup_key = ANY($1::text[])",
                    list({key for _, key in delivered}),
                )
                every_alert = alerts == len({key for _, key in delivered})
                return (
                    events >= len(client.accepted) and every_robbery and every_due and every_alert
                )

            await eventually(settled, timeout=180, interval=0.5)

    logger.info(
        "broker outages survived",
        extra={"outages": [f"{e - b:.1f}s" for b, e in broker.outages], "posted": posted,
               "answers": dict(client.answers)},
    )  # fmt: skip
    # The API said 503 while the broker was away, and nothing else went wrong.
    assert client.complaints == []
    assert client.answers[503] > 0, "no 503 at all: the outage proved nothing"
    assert len(client.accepted) == posted == len(set(client.accepted))

    # Every accepted event is stored, once (event_id is the key), and nothing else is.
    stored = [str(row["event_id"]) for row in await db.fetch("SELECT event_id FROM event")]
    assert sorted(stored) == sorted(client.accepted)

    # Every delivery the notify service decided on reached its webhook once; nothing else
    # reached one; and each report's robbery alert is among them, for both recipients.
    delivered = deliveries(receiver)
    twice = {pair: n for pair, n in delivered.items() if n > 1}
    assert not twice, f"delivered more than once: {twice}"
    due = await due_deliveries(db)
    assert set(delivered) == set(due)
    assert {(h, k) for h in HOOKS.values() for k in expected} <= set(delivered)
    keys = Counter(r.key for r in receiver.delivered())
    assert not [key for key, n in keys.items() if n > 1], "an Idempotency-Key delivered twice"
    alerts = {row["dedup_key"] for row in await db.fetch("SELECT dedup_key FROM alert")}
    assert {key for _, key in delivered} <= alerts
