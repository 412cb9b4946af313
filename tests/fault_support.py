"""The whole chain under a fault: parts as child processes, a steady client, the final checks.

Every part runs as in production, as a child process (`heterdaad api`, `worker`, `sink`,
`notify run`). A client posts incident reports at a steady pace and retries a 503 the way a
real client does (same body, same event id, after Retry-After). The reporting retailer and
the Amsterdam police take webhooks to a receiver in the test. Once a first report has been
notified end to end, a fault (a test's own coroutine) breaks something while posting goes
on; afterwards every accepted event must be in PostgreSQL once, and every notification the
notify service decided on must have reached its webhook exactly once, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx

from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from heterdaad.thresholds.notify import NotifyThresholds
from infra.local import free_port
from infra.parts import spawn_part, stop_part
from producers.api import ApiLimits
from schemas.alerts import alert_reference
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually
from tests.producers import bodies
from tests.producers.intake_support import Registry, register

if TYPE_CHECKING:
    import subprocess
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

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
    allow_private_webhooks=True,  # the receiver listens on 127.0.0.1
)
# The parts of the chain, by name: the `heterdaad` command that runs each.
COMMANDS = {"api": ("api",), "worker": ("worker",), "sink": ("sink",), "notify": ("notify", "run")}
REPORTS_PER_SECOND = 4.0


def chain_settings(settings: Settings, **update: Any) -> Settings:
    """The test's settings for the chain: its own API port, quick limits and notification."""
    return settings.model_copy(
        update={"api_port": free_port(), "api_limits": LIMITS, "notify": NOTIFY} | update
    )


@dataclass
class Pipeline:
    """The chain's parts as child processes, each logging to `logs/<name>.log`; a fault may
    kill one and start another in its place."""

    settings: Settings
    logs: Path
    # Parts that run with settings of their own (another database_url, say).
    settings_of: dict[str, Settings] = field(default_factory=dict)
    parts: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        settings = self.settings_of.get(name, self.settings)
        with (self.logs / f"{name}.log").open("ab") as output:
            self.parts[name] = spawn_part(settings, *COMMANDS[name], output=output)
        return self.parts[name]

    def kill(self, name: str) -> None:
        """SIGKILL, the way a crash or the OOM killer ends a part: no clean-up at all."""
        process = self.parts[name]
        process.kill()
        process.wait()

    def all_alive(self) -> None:
        exited = {name: p.returncode for name, p in self.parts.items() if p.poll() is not None}
        assert not exited, f"parts exited: {exited}; logs in {self.logs}"


@contextlib.asynccontextmanager
async def pipeline_running(
    settings: Settings, logs: Path, settings_of: dict[str, Settings]
) -> AsyncIterator[Pipeline]:
    await asyncio.to_thread(logs.mkdir, exist_ok=True)
    pipeline = Pipeline(settings, logs, settings_of)
    try:
        for name in COMMANDS:
            pipeline.start(name)
        yield pipeline
    finally:
        for process in pipeline.parts.values():
            # Off the loop: a part stopping may need what runs on it (the database relay,
            # the webhook receiver); a blocking wait would hold it until the SIGKILL.
            await asyncio.to_thread(stop_part, process)


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


def deliveries(receiver: WebhookReceiver, shown: Mapping[str, str]) -> Counter[tuple[str, str]]:
    """(hook, alert dedup key) -> how many notifications delivered it (2xx).

    A branch's view shows a keyed reference of the dedup key: `shown` maps it back (`shown_as`).
    A resend of an `Idempotency-Key` the hook already took counts once: a receiver drops it,
    as docs/notify.md asks (see `resends`)."""
    taken: set[tuple[str, str]] = set()
    delivered: Counter[tuple[str, str]] = Counter()
    for request in receiver.delivered():
        if (request.hook, request.key) not in taken:
            taken.add((request.hook, request.key))
            delivered.update((request.hook, shown.get(key, key)) for key in request.alert_keys)
    return delivered


async def shown_as(db: asyncpg.Connection, settings: Settings) -> dict[str, str]:
    """Every stored alert's dedup key by the reference a branch's view shows of it."""
    key = settings.require_plate_key()
    rows = await db.fetch("SELECT dedup_key FROM alert")
    return {alert_reference(row["dedup_key"], key): row["dedup_key"] for row in rows}


def resends(receiver: WebhookReceiver) -> int:
    """2xx requests that repeated an `Idempotency-Key` the hook had taken already: the notify
    service sent again what it could not record as sent (docs/notify.md, "Between a request
    and the row update")."""
    keys = Counter((request.hook, request.key) for request in receiver.delivered())
    return sum(count - 1 for count in keys.values())


async def due_deliveries(db: asyncpg.Connection) -> dict[tuple[str, str], str]:
    """(hook, alert dedup key) -> state of every webhook delivery the notify service decided."""
    rows = await db.fetch(
        "SELECT recipient, dedup_key, state FROM delivery WHERE channel = 'webhook'"
    )
    return {(HOOKS[r["recipient"].split("/")[0]], r["dedup_key"]): r["state"] for r in rows}


# What a test breaks, given the running chain and the client; posting goes on meanwhile.
Fault: TypeAlias = "Callable[[Pipeline, Client], Awaitable[None]]"


async def run_chain_through(
    settings: Settings,
    db: asyncpg.Connection,
    logs: Path,
    fault: Fault,
    *,
    settings_of: dict[str, Settings] | None = None,
    resends_allowed: bool = False,
) -> Client:
    """Run the chain, break it with `fault` once a first report is notified end to end, wait
    until everything settled and check the outcome (see `assert_each_once`).

    `settings` are the parts' (`chain_settings`), but a part named in `settings_of` runs with
    those (the same API port); `db` is the test's own connection, which the fault must leave
    alone. `resends_allowed`: the fault may cut the notify service between a webhook's 2xx
    and its record (its database), so a notification may be sent again under its
    `Idempotency-Key`. Returns the client, for checks of the fault's own.
    """
    async with WebhookReceiver() as receiver:
        registry = await subscribe_webhooks(db, receiver)
        async with pipeline_running(settings, logs, settings_of or {}) as pipeline:
            base_url = f"http://{settings.api_host}:{settings.api_port}"
            async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as http:

                async def api_up() -> bool:
                    pipeline.all_alive()
                    with contextlib.suppress(httpx.HTTPError):
                        return (await http.get("/health")).status_code == 200
                    return False

                await eventually(api_up, timeout=60)
                client = Client(http, registry.auth("retail-a"))
                done = asyncio.Event()
                posting = asyncio.create_task(post_steadily(client, REPORTS_PER_SECOND, done))
                try:
                    # The fault hits a working pipeline: the first report notified end to end.
                    async def first_delivered() -> bool:
                        pipeline.all_alive()
                        hooks = {hook for hook, _ in deliveries(receiver, {})}
                        return bool(client.accepted) and len(hooks) == len(HOOKS)

                    await eventually(first_delivered, timeout=120, interval=0.5)
                    await fault(pipeline, client)
                    # Back to accepting before the end.
                    await eventually(
                        client.accepted_beyond(len(client.accepted) + 5), timeout=60, interval=0.2
                    )
                    pipeline.all_alive()
                except BaseException:
                    # A failed run: do not wait for reports that may never be answered.
                    posting.cancel()
                    await asyncio.gather(posting, return_exceptions=True)
                    raise
                done.set()
                posted = await posting

            expected = {f"robbery_reported:{event_id}" for event_id in client.accepted}

            async def settled() -> bool:
                pipeline.all_alive()
                events = await db.fetchval("SELECT count(*) FROM event")
                delivered = deliveries(receiver, await shown_as(db, settings))
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
        "fault survived",
        extra={
            "posted": posted,
            "answers": dict(client.answers),
            "logs": str(logs),
            "resends": resends(receiver),
        },
    )
    shown = await shown_as(db, settings)
    await assert_each_once(db, receiver, client, posted, shown, resends_allowed=resends_allowed)
    return client


async def assert_each_once(
    db: asyncpg.Connection,
    receiver: WebhookReceiver,
    client: Client,
    posted: int,
    shown: Mapping[str, str],
    *,
    resends_allowed: bool = False,
) -> None:
    """Every accepted event stored once, every due notification delivered once per
    recipient, each report's robbery alert to both hooks, and nothing else."""
    # The API said 202 or 503 (and the client retried), nothing else went wrong.
    assert client.complaints == []
    assert len(client.accepted) == posted == len(set(client.accepted))

    # Every accepted event is stored, once (event_id is the key), and nothing else is.
    stored = [str(row["event_id"]) for row in await db.fetch("SELECT event_id FROM event")]
    assert sorted(stored) == sorted(client.accepted)

    # Every delivery the notify service decided on reached its webhook once; nothing else
    # reached one; and each report's robbery alert is among them, for both recipients.
    delivered = deliveries(receiver, shown)
    twice = {pair: n for pair, n in delivered.items() if n > 1}
    assert not twice, f"delivered more than once: {twice}"
    due = await due_deliveries(db)
    assert set(delivered) == set(due)
    expected = {f"robbery_reported:{event_id}" for event_id in client.accepted}
    assert {(h, k) for h in HOOKS.values() for k in expected} <= set(delivered)
    if not resends_allowed:
        assert resends(receiver) == 0, "an Idempotency-Key delivered twice"
    alerts = {row["dedup_key"] for row in await db.fetch("SELECT dedup_key FROM alert")}
    assert {key for _, key in delivered} <= alerts
