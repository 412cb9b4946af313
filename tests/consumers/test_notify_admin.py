"""Managing subscriptions and silences, and what routing reads back from the database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from consumers.notify.admin import NotifyAdminError
from consumers.notify.directory import load_directory
from consumers.notify.ratelimit import acquire
from consumers.notify.silences import Matcher, create_silence, expire_silence, list_silences
from consumers.notify.subscriptions import (
    SubscriptionSpec,
    create_subscription,
    delete_subscription,
    list_subscriptions,
)
from consumers.notify.windows import TimeWindow
from producers.api import admin
from schemas.alerts import AlertKind, Severity
from schemas.common import BranchType, PoliceUnit
from tests import factories

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

HOOK = "https://hooks.ah.example/heterdaad"
SHOP_HOURS = TimeWindow(weekdays=frozenset({1, 2, 3, 4, 5, 6}), starts=time(8), ends=time(22))


async def _organisations(db: asyncpg.Connection) -> None:
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    await admin.create_organisation(
        db, "politie-ams", "Politie Amsterdam", "police", police_unit=PoliceUnit.AMSTERDAM
    )
    await admin.create_organisation(db, "beheer", "Beheer", "admin")
    await admin.create_branch(db, "ah", factories.branch(branch_id="ah-1"))


async def test_subscription_round_trip(settings: Settings, db: asyncpg.Connection) -> None:
    await _organisations(db)
    spec = SubscriptionSpec(
        alert_kinds=frozenset({AlertKind.RECONNAISSANCE_WARNING}),
        branch_types=frozenset({BranchType.SUPERMARKET}),
        radius_m=2000,
        min_severity=Severity.MEDIUM,
        webhook_url=HOOK,
        language="en",
        windows=(SHOP_HOURS,),
    )
    created = await create_subscription(db, "ah", spec, actor="beheer")
    # No secret given: one is made and shown this once.
    assert created.webhook_secret is not None and len(created.webhook_secret) >= 32

    [stored] = await list_subscriptions(db, "ah")
    assert stored.subscription_id == created.subscription_id
    assert stored.has_secret and stored.spec.webhook_secret is None
    assert stored.spec == spec
    directory = await load_directory(db)
    [rule] = directory.subscriptions
    assert (rule.organisation_role, rule.radius_m, rule.windows) == (
        "retailer",
        2000,
        (SHOP_HOURS,),
    )
    assert [site.branch_id for site in directory.branches["ah"]] == ["ah-1"]
    assert [desk.organisation_id for desk in directory.desks] == ["politie-ams"]

    assert await delete_subscription(db, created.subscription_id, actor="beheer")
    assert not await delete_subscription(db, created.subscription_id, actor="beheer")
    assert await list_subscriptions(db) == []
    audited = await db.fetch("SELECT actor, action, subject FROM audit_log ORDER BY at, action")
    assert [(r["actor"], r["action"]) for r in audited] == [
        ("beheer", "subscription_created"),
        ("beheer", "subscription_deleted"),
    ]


async def test_a_police_subscription_needs_no_webhook(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await _organisations(db)
    spec = SubscriptionSpec(police_units=frozenset({PoliceUnit.DEN_HAAG}))
    created = await create_subscription(db, "politie-ams", spec, actor="beheer")
    assert created.webhook_secret is None


async def test_an_escalation_receiver_round_trip(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await _organisations(db)
    spec = SubscriptionSpec(
        alert_kinds=frozenset({AlertKind.HOLD_UP_IN_PROGRESS}),
        police_units=frozenset({PoliceUnit.AMSTERDAM}),
        webhook_url=HOOK,
        send_alerts=False,
        send_escalations=True,
    )
    await create_subscription(db, "politie-ams", spec, actor="beheer")
    [stored] = await list_subscriptions(db, "politie-ams")
    assert (stored.spec.send_alerts, stored.spec.send_escalations) == (False, True)
    [rule] = (await load_directory(db)).subscriptions
    assert (rule.send_alerts, rule.send_escalations) == (False, True)
    assert not rule.include_historical  # history reaches a webhook only when asked for


async def test_a_subscription_for_history_round_trip(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await _organisations(db)
    spec = SubscriptionSpec(webhook_url=HOOK, include_historical=True)
    await create_subscription(db, "politie-ams", spec, actor="beheer")
    [stored] = await list_subscriptions(db, "politie-ams")
    assert stored.spec.include_historical
    [rule] = (await load_directory(db)).subscriptions
    assert rule.include_historical


@pytest.mark.parametrize(
    ("organisation_id", "spec", "reason"),
    [
        # Nobody of that name.
        ("nobody", {"webhook_url": HOOK}, "does not exist"),
        # Administrators receive nothing.
        ("beheer", {"webhook_url": HOOK}, "admin organisations"),
        # A retailer has no desk: it needs a webhook.
        ("ah", {}, "nowhere to deliver"),
        # Escalations (a desk did not acknowledge a hold-up) are for police receivers only.
        ("ah", {"webhook_url": HOOK, "send_escalations": True}, "escalations are for police"),
        # A radius counts from branches; the police have none, so it routed nothing at all.
        ("politie-ams", {"radius_m": 5000}, "police organisation has none"),
    ],
)
async def test_subscription_refused(
    settings: Settings, db: asyncpg.Connection, organisation_id: str, spec: dict[str, Any],
    reason: str,
) -> None:  # fmt: skip
    await _organisations(db)
    with pytest.raises(NotifyAdminError, match=reason):
        await create_subscription(
            db, organisation_id, SubscriptionSpec.model_validate(spec), actor="beheer"
        )
    assert await list_subscriptions(db) == []


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        # Plain http off this machine would show alerts to anyone on the way.
        ({"webhook_url": "http://hooks.example/x"}, "must use https"),
        # A short secret is guessable.
        ({"webhook_url": HOOK, "webhook_secret": "short"}, "at least 32"),
        # Windows hold back a webhook; without one they mean nothing.
        ({"windows": [SHOP_HOURS.model_dump()]}, "give webhook_url"),
        # Each alert is checked against every window: the body limit held about 5,000.
        ({"webhook_url": HOOK, "windows": [SHOP_HOURS.model_dump()] * 29}, "at most 28"),
        # Chains choose branches for a radius.
        ({"webhook_url": HOOK, "chains": ["Jumbo City"]}, "give radius_m"),
        # An alert kind that does not exist.
        ({"webhook_url": HOOK, "alert_kinds": ["overval"]}, "alert_kinds"),
        # A subscription that sends nothing.
        ({"webhook_url": HOOK, "send_alerts": False}, "alerts, escalations or both"),
        # Escalations go to a webhook; the desk shows them already.
        ({"send_escalations": True}, "escalations go to a webhook"),
    ],
)
def test_spec_refused(spec: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        SubscriptionSpec.model_validate(spec)


async def test_silence_round_trip(settings: Settings, db: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    silence = await create_silence(
        db,
        [Matcher(name="site_id", value="site-1"), Matcher(name="kind", value="verified_alarm")],
        author="coordinator.ams",
        reason="alarm panel of site-1 in maintenance",
        ends_at=now + timedelta(hours=2),
    )
    assert [s.silence_id for s in await list_silences(db)] == [silence.silence_id]
    assert (await list_silences(db))[0] == silence

    assert await expire_silence(db, silence.silence_id, author="coordinator.ams")
    assert not await expire_silence(db, silence.silence_id, author="coordinator.ams")
    assert await list_silences(db) == []
    [expired] = await list_silences(db, include_expired=True)
    assert expired.ends_at <= datetime.now(UTC)
    assert expired.reason == "alarm panel of site-1 in maintenance"
    audited = await db.fetch("SELECT actor, action, subject, details FROM audit_log ORDER BY at")
    assert [(r["actor"], r["action"], r["subject"]) for r in audited] == [
        ("coordinator.ams", "silence_created", str(silence.silence_id)),
        ("coordinator.ams", "silence_expired", str(silence.silence_id)),
    ]
    assert "maintenance" in audited[0]["details"]


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("matchers", "fields", "reason"),
    [
        # Over before it began.
        ([Matcher(name="site_id", value="s")], {"ends_at": -HOUR}, "in the future"),
        # Why is what makes a silence accountable...
        ([Matcher(name="site_id", value="s")], {"reason": " "}, "reason must not be empty"),
        # ... and who.
        ([Matcher(name="site_id", value="s")], {"author": ""}, "author must not be empty"),
        # Would mute everything.
        ([Matcher(name="site_id", value=".*", op="=~")], {}, "at least one matcher"),
        # Nothing to match.
        ([], {}, "at least 1 item"),
    ],
)
async def test_silence_refused(
    settings: Settings, db: asyncpg.Connection, matchers: list[Matcher],
    fields: dict[str, Any], reason: str,
) -> None:  # fmt: skip
    now = datetime.now(UTC)
    given: dict[str, Any] = {"author": "coordinator.ams", "reason": "test", "ends_at": HOUR}
    given |= fields
    with pytest.raises(NotifyAdminError, match=reason):
        await create_silence(
            db, matchers, author=given["author"], reason=given["reason"],
            ends_at=now + given["ends_at"], now=now,
        )  # fmt: skip
    assert await list_silences(db, include_expired=True) == []


async def test_rate_limit_is_shared_through_the_database(
    settings: Settings, db: asyncpg.Connection
) -> None:
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    waits = [
        await acquire(db, "ah/webhook/x", t0 + timedelta(seconds=s), rate_per_minute=60, burst=2)
        for s in (0, 0, 0, 0.25, 1.0)
    ]
    # Two at once (the burst), then wait a second for the next token, then half of that...
    assert waits == pytest.approx([0, 0, 1.0, 0.75, 0])
    # ... and another receiver has its own bucket.
    assert await acquire(db, "cbl/webhook/y", t0, rate_per_minute=60, burst=2) == 0
