"""Acceptance, the Alertmanager way: alerts pushed at given times, and every notification
expected to a recipient within a window of time, and nothing else.

The police desk acts on the timeline too, through its own code (consumers/desk): it escalates
the hold-up nobody acknowledged, and resolves alerts with an outcome; the escalation receiver
and everyone who had a resolved alert hear of it. Notices are named `<alert>#<notice>`.

The service runs on a virtual clock that only the test moves, so the windows are exact and
the test takes no longer than the work it does.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from consumers.desk.alerts import AlertStore
from consumers.desk.live import change_channel
from consumers.desk.users import DeskUser
from consumers.notify.nflog import Attempt, finish_attempt
from consumers.notify.service import NotifyService
from consumers.notify.silences import Matcher, create_silence
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.notify.windows import TimeWindow
from consumers.sink import store
from heterdaad.db import create_pool
from heterdaad.kafka import make_producer, publish
from heterdaad.thresholds.notify import NotifyThresholds
from producers.api import admin
from schemas.alerts import Alert, AlertKind, Area, Outcome, Severity, alert_reference
from schemas.common import BranchType, PoliceUnit
from schemas.events import PersonDescription
from schemas.topics import ALERTS
from tests import factories
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

THRESHOLDS = NotifyThresholds(
    group_wait_seconds=1,
    group_interval_seconds=5,
    repeat_interval_seconds=60,
    allow_private_webhooks=True,  # the receiver listens on 127.0.0.1
)
STEP = 0.5
CLOTHING = "groene trainingsjas"


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def seconds(self, moment: datetime) -> float:
        return (moment - self.start).total_seconds()


@dataclass(frozen=True)
class Push:
    at: float
    name: str
    kind: AlertKind
    site_id: str | None = None


@dataclass(frozen=True)
class Expect:
    recipient: str  # a webhook's name, or "desk"
    alerts: frozenset[str]
    earliest: float
    latest: float


def expect(recipient: str, alerts: str, earliest: float, latest: float) -> Expect:
    return Expect(recipient, frozenset(alerts.split()), earliest, latest)


@dataclass(frozen=True)
class DeskAction:
    """What a coordinator (or the desk's escalation sweep) does at a time."""

    at: float
    action: str  # "escalate" or "resolve"
    name: str = ""
    outcome: Outcome | None = None


# The desk escalates a hold-up unacknowledged this long (120 s in service; short here).
ESCALATE_AFTER = timedelta(seconds=4)
COORDINATOR = DeskUser("ams.coordinator", PoliceUnit.AMSTERDAM, "nl")


ROBBERY, HOLD_UP, ALARM, RECON = (
    AlertKind.ROBBERY_REPORTED,
    AlertKind.HOLD_UP_IN_PROGRESS,
    AlertKind.VERIFIED_ALARM,
    AlertKind.RECONNAISSANCE_WARNING,
)
PUSHES = [
    Push(0.0, "A1", ROBBERY),
    Push(0.0, "V1", ALARM, site_id="site-7"),
    Push(0.0, "R1", RECON),
    Push(0.5, "A2", ROBBERY),
    Push(0.5, "H1", HOLD_UP, site_id="site-7"),
    Push(3.0, "A3", ROBBERY),
    Push(20.0, "A4", ROBBERY),
]
DESK_ACTIONS = [
    DeskAction(4.0, "escalate"),  # H1 (0.5) is 3.5 s old: not yet
    DeskAction(4.5, "escalate"),  # 4 s: now it is
    DeskAction(10.0, "resolve", "A1", Outcome.ARRESTED),
    DeskAction(12.0, "resolve", "H1", Outcome.OFFENDERS_GONE),
    DeskAction(14.0, "resolve", "A3", Outcome.NO_ACTION),  # A3 went to AH at 6
]


def expectations(window_opens: float) -> list[Expect]:
    return [
        # Grouping: A2 came within A1's group_wait, so the two go together...
        expect("ah", "A1 A2", 1.0, 1.5),
        # ... A3 came after that flush and waits for group_interval (5 s) after it...
        expect("ah", "A3", 6.0, 6.5),
        # ... A4 comes when the group is quiet but still remembered: no wait at all.
        expect("ah", "A4", 20.0, 20.5),
        # Inhibition: the hold-up at site-7, 300 m from AH's branch, mutes the verified alarm
        # of that site (V1, never sent), for AH as for the alarm centre.
        expect("ah", "H1", 1.5, 2.0),
        expect("pac", "H1", 1.5, 2.0),
        # A time window: the drugstore gets reconnaissance warnings when its window opens; the
        # silence on reconnaissance warnings for AH does not touch it.
        expect("kruidvat", "R1", window_opens, window_opens + STEP),
        # The desk sees every alert of its unit, after group_wait, except muted ones.
        expect("desk", "A1", 1.0, 1.5),
        expect("desk", "R1", 1.0, 1.5),
        expect("desk", "A2", 1.5, 2.0),
        expect("desk", "H1", 1.5, 2.0),
        expect("desk", "A3", 4.0, 4.5),
        expect("desk", "A4", 21.0, 21.5),
        # Escalation: the desk escalates H1 at 4.5; the duty officer's webhook (an escalation
        # receiver that takes no alerts) hears of it at once, and of nothing else before.
        expect("duty", "H1#escalated", 4.5, 5.0),
        # Resolved: each webhook that had the alert (or its escalation) hears how it ended,
        # once, at once; the desk resolved it itself and is told nothing.
        expect("ah", "A1#resolved", 10.0, 10.5),
        expect("ah", "H1#resolved", 12.0, 12.5),
        expect("pac", "H1#resolved", 12.0, 12.5),
        expect("duty", "H1#resolved", 12.0, 12.5),
        expect("ah", "A3#resolved", 14.0, 14.5),
    ]


def _alert(push: Push, clock: VirtualClock) -> Alert:
    fields: dict[str, Any] = {
        "kind": push.kind,
        "severity": Severity.CRITICAL if push.kind is HOLD_UP else Severity.HIGH,
        "area": Area(center=factories.DAM_SQUARE, radius_m=300),
        "site_id": push.site_id,
        "persons": [PersonDescription(clothing=[CLOTHING])],
        "dedup_key": f"timeline:{push.name}",
        "alert_id": uuid.uuid4(),
        "created_at": clock.at(push.at),
    }
    return factories.alert(**fields)


async def _recipients(db: asyncpg.Connection, receiver: WebhookReceiver, opens: datetime) -> None:
    await admin.create_organisation(
        db, "politie-ams", "Politie Amsterdam", "police", police_unit=PoliceUnit.AMSTERDAM
    )
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    await admin.create_branch(db, "ah", factories.branch(branch_id="ah-1"))
    await admin.create_organisation(db, "kruidvat", "Kruidvat", "retailer")
    await admin.create_branch(
        db, "kruidvat", factories.branch(branch_id="kv-1", branch_type=BranchType.DRUGSTORE)
    )
    await admin.create_organisation(db, "pac", "Alarmcentrale Noord", "alarm_centre")
    # The centre hears of alerts near the branches of its alarm sites (docs/notify.md).
    await admin.create_alarm_site(db, "site-ah-1", "pac", "acct-ah-1", branch_id="ah-1")
    local = opens.astimezone(ZoneInfo("Europe/Amsterdam"))
    window = TimeWindow(
        weekdays=frozenset({local.isoweekday()}),
        starts=local.time().replace(second=0, microsecond=0),
        ends=(local + timedelta(minutes=1)).time().replace(second=0, microsecond=0),
    )
    specs: dict[str, dict[str, Any]] = {
        "ah": {"radius_m": 1000, "webhook_url": receiver.hook("ah")},
        "kruidvat": {
            "alert_kinds": [RECON], "radius_m": 1000, "webhook_url": receiver.hook("kruidvat"),
            "windows": [window],
        },
        "pac": {"alert_kinds": [ALARM, HOLD_UP], "webhook_url": receiver.hook("pac")},
        # The unit's duty officer: escalations of its hold-ups only, not the alerts.
        "politie-ams": {
            "alert_kinds": [HOLD_UP], "police_units": [PoliceUnit.AMSTERDAM],
            "webhook_url": receiver.hook("duty"), "send_alerts": False, "send_escalations": True,
        },
    }  # fmt: skip
    for organisation_id, spec in specs.items():
        subscription = SubscriptionSpec.model_validate(spec | {"webhook_secret": SECRET})
        await create_subscription(db, organisation_id, subscription, actor="test")


async def test_timeline(settings: Settings, db: asyncpg.Connection) -> None:
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30))
    # The drugstore's window opens at the first whole minute at least a minute from the start.
    opens = clock.at(60).replace(second=0) + timedelta(minutes=1)
    window_opens = clock.seconds(opens)
    async with WebhookReceiver(clock=clock) as receiver:
        await _recipients(db, receiver, opens)
        silence = await create_silence(
            db,
            [Matcher(name="kind", value=RECON.value), Matcher(name="organisation_id", value="ah")],
            author="coordinator.ams",
            reason="AH is briefed on the recon wave in person",
            ends_at=clock.at(3600),
            now=clock.now,
        )
        producer = make_producer(settings)
        await producer.start()
        pool = await create_pool(settings, max_size=2)
        desk = AlertStore(pool, channel=change_channel(settings), clock=clock)
        stop = asyncio.Event()
        observed: list[tuple[str, frozenset[str], float]] = []
        try:
            async with NotifyService(settings, THRESHOLDS, clock=clock) as service:
                consuming = asyncio.create_task(service.consume(stop))
                for step in range(math.ceil(window_opens / STEP) + 2):
                    clock.now = clock.at(step * STEP)
                    for push in [p for p in PUSHES if p.at == step * STEP]:
                        await _push(settings, producer, db, _alert(push, clock))
                    for action in [a for a in DESK_ACTIONS if a.at == step * STEP]:
                        await _act(desk, db, action)
                    await service.deliver_due()
                    await service.sends_settled()
                    observed += await _desk_deliveries(db, clock, since=clock.now)
                stop.set()
                await consuming
            sent = len(receiver.requests)
            # A restart (a new instance, the same log) sends no notice a second time.
            async with NotifyService(settings, THRESHOLDS, clock=clock) as restarted:
                for _ in range(3):
                    clock.now += timedelta(seconds=STEP)
                    await restarted.deliver_due()
                    await restarted.sends_settled()
            assert len(receiver.requests) == sent
        finally:
            await pool.close()
            await producer.stop()

    shown = _shown(settings)
    observed += [
        (r.hook, _names(r.document, shown), clock.seconds(r.at)) for r in receiver.requests
    ]
    assert all(r.status == 200 for r in receiver.requests)
    _assert_timeline(observed, expectations(window_opens))

    # Redaction: no plate, no description, no evidence in any body but the police's; the
    # duty officer gets the police view, and who resolved it, as police do.
    for request in receiver.requests:
        if request.hook == "duty":
            assert CLOTHING.encode() in request.body
            continue
        # Nor a dedup key (they name other organisations' events): a keyed reference instead.
        for forbidden in (factories.PLATE_PSEUDONYM, CLOTHING, '"evidence"', '"persons"',
                          '"resolved_by"', COORDINATOR.username, "timeline:"):  # fmt: skip
            assert forbidden.encode() not in request.body
            assert forbidden not in request.key
    resolved = [a for r in receiver.requests for a in r.document["alerts"]
                if a["notice"] == "resolved"]  # fmt: skip
    assert {(shown.get(a["dedup_key"], a["dedup_key"]), a["outcome"]) for a in resolved} == {
        ("timeline:A1", "arrested"), ("timeline:H1", "offenders_gone"),
        ("timeline:A3", "no_action"),
    }  # fmt: skip
    assert all(a["summary"].startswith("Afgehandeld: ") for a in resolved)
    duty = [a for r in receiver.requests if r.hook == "duty" for a in r.document["alerts"]]
    assert [a.get("resolved_by") for a in duty] == [None, COORDINATOR.username]
    assert duty[0]["summary"].startswith("GEËSCALEERD, 4 s niet bevestigd: [ZEER URGENT]")
    muted = {
        (row["dedup_key"], row["recipient"].split("/")[0]): row["muted_by"]
        for row in await db.fetch("SELECT * FROM delivery WHERE state = 'muted'")
    }
    assert muted == {
        ("timeline:V1", "ah"): "inhibited by timeline:H1",
        ("timeline:V1", "pac"): "inhibited by timeline:H1",
        ("timeline:V1", "politie-ams"): "inhibited by timeline:H1",
        ("timeline:R1", "ah"): f"silence {silence.silence_id}",
    }


def _shown(settings: Settings) -> dict[str, str]:
    """Each push's dedup key and its notices' by the keyed reference that recipients other
    than the police see of it (schemas.alerts.alert_reference)."""
    key = settings.require_plate_key()
    keys = [f"timeline:{push.name}{notice}" for push in PUSHES
            for notice in ("", "#resolved", "#escalated")]  # fmt: skip
    return {alert_reference(dedup_key, key): dedup_key for dedup_key in keys}


def _names(document: dict[str, Any], shown: dict[str, str]) -> frozenset[str]:
    """The alerts of a request by name, a notice as `<name>#<notice>`."""
    keys = (alert["idempotency_key"].rsplit(":", 1)[0] for alert in document["alerts"])
    return frozenset(shown.get(key, key).removeprefix("timeline:") for key in keys)


async def _act(desk: AlertStore, db: asyncpg.Connection, action: DeskAction) -> None:
    if action.action == "escalate":
        await desk.escalate_due(after=ESCALATE_AFTER, window=timedelta(hours=1))
        return
    assert action.outcome is not None
    alert_id = await db.fetchval(
        "SELECT alert_id FROM alert WHERE dedup_key = $1", f"timeline:{action.name}"
    )
    assert await desk.resolve(COORDINATOR, alert_id, action.outcome)


async def _push(settings: Settings, producer: Any, db: asyncpg.Connection, alert: Alert) -> None:
    """Publish and wait until the service wrote the alert's rows (in one transaction).

    The alert is also written to the alert table, as the sink does, for the desk to act on.
    """
    await store(db, alert)
    await publish(producer, ALERTS, alert, prefix=settings.topic_prefix, source="urn:t")

    async def recorded() -> bool:
        found = await db.fetchval(
            "SELECT count(*) FROM delivery WHERE dedup_key = $1", alert.dedup_key
        )
        return bool(found)

    await eventually(recorded, timeout=30)


async def _desk_deliveries(
    db: asyncpg.Connection, clock: VirtualClock, *, since: datetime
) -> list[tuple[str, frozenset[str], float]]:
    rows = await db.fetch(
        "SELECT dedup_key, delivered_at FROM delivery WHERE channel = 'desk' "
        "AND state = 'delivered' AND delivered_at = $1",
        since,
    )
    return [
        ("desk", frozenset({row["dedup_key"].removeprefix("timeline:")}),
         clock.seconds(row["delivered_at"]))
        for row in rows
    ]  # fmt: skip


def _assert_timeline(
    observed: list[tuple[str, frozenset[str], float]], expected: list[Expect]
) -> None:
    unexpected = list(observed)
    missing = []
    for want in expected:
        match = next(
            (
                seen for seen in unexpected
                if seen[:2] == (want.recipient, want.alerts)
                and want.earliest <= seen[2] <= want.latest
            ),
            None,
        )  # fmt: skip
        if match is None:
            missing.append(want)
        else:
            unexpected.remove(match)
    assert (missing, unexpected) == ([], []), f"observed: {sorted(observed, key=lambda o: o[2])}"


async def test_a_delivery_is_delivered_when_the_answer_came_not_when_it_was_sent(
    db: asyncpg.Connection,
) -> None:
    alert = factories.alert()
    await store(db, alert)
    await db.execute(
        "INSERT INTO delivery (dedup_key, recipient, alert_id, channel, state, organisation_id, "
        "notification_key) VALUES ($1, 'ah/webhook', $2, 'webhook', 'pending', 'ah', 'n-1')",
        alert.dedup_key, alert.alert_id,
    )  # fmt: skip
    sent = datetime(2026, 12, 6, 16, 34, 52, 801782, tzinfo=UTC)
    attempt = Attempt("n-1", 1, sent, status_code=204, error=None, duration_ms=36)
    await finish_attempt(db, attempt, state="delivered")
    delivered_at = await db.fetchval("SELECT delivered_at FROM delivery WHERE dedup_key = $1",
                                     alert.dedup_key)  # fmt: skip
    assert delivered_at == sent + timedelta(milliseconds=36)
    at = await db.fetchval("SELECT at FROM delivery_attempt WHERE notification_key = 'n-1'")
    assert at == sent  # the attempt keeps when it was made
