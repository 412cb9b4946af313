"""Acceptance, the Alertmanager way: alerts pushed at given times, and every notification
expected to a recipient within a window of time, and nothing else.

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

from consumers.notify.service import NotifyService
from consumers.notify.silences import Matcher, create_silence
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.notify.windows import TimeWindow
from heterdaad.kafka import make_producer, publish
from heterdaad.thresholds.notify import NotifyThresholds
from producers.api import admin
from schemas.alerts import Alert, AlertKind, Area, Severity
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
    group_wait_seconds=1, group_interval_seconds=5, repeat_interval_seconds=60
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
        stop = asyncio.Event()
        observed: list[tuple[str, frozenset[str], float]] = []
        try:
            async with NotifyService(settings, THRESHOLDS, clock=clock) as service:
                consuming = asyncio.create_task(service.consume(stop))
                for step in range(math.ceil(window_opens / STEP) + 2):
                    clock.now = clock.at(step * STEP)
                    for push in [p for p in PUSHES if p.at == step * STEP]:
                        await _push(settings, producer, db, _alert(push, clock))
                    await service.deliver_due()
                    observed += await _desk_deliveries(db, clock, since=clock.now)
                stop.set()
                await consuming
        finally:
            await producer.stop()

    observed += [
        (r.hook, frozenset(key.removeprefix("timeline:") for key in r.alert_keys),
         clock.seconds(r.at))
        for r in receiver.requests
    ]  # fmt: skip
    assert all(r.status == 200 for r in receiver.requests)
    _assert_timeline(observed, expectations(window_opens))

    # Redaction: no plate, no description, no evidence in any webhook body.
    for request in receiver.requests:
        for forbidden in (factories.PLATE_PSEUDONYM, CLOTHING, '"evidence"', '"persons"'):
            assert forbidden.encode() not in request.body
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


async def _push(settings: Settings, producer: Any, db: asyncpg.Connection, alert: Alert) -> None:
    """Publish and wait until the service wrote the alert's rows (in one transaction)."""
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
