"""Follow-up notices on their own: who hears of an escalation, what a resolved notice shows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.alert_text import escalated_summary, resolved_summary
from consumers.notify.inhibit import Inhibitor
from consumers.notify.nflog import Delivery, Notice, notice_key
from consumers.notify.notices import (
    ESCALATED_GROUP,
    RESOLVED_GROUP,
    Notified,
    Resolution,
    escalated_delivery,
    resolved_delivery,
)
from consumers.notify.route import (
    Channel,
    Directory,
    PoliceDesk,
    SubscriptionRule,
    escalation_routes,
    route,
    webhook_recipient,
)
from consumers.notify.silences import Matcher, Silence
from consumers.notify.stages import ACKNOWLEDGED_BEFORE_SENT, MuteStage, Notification, Pass
from heterdaad.thresholds.notify import NotifyThresholds
from schemas.alerts import (
    AlertKind,
    Outcome,
    RecipientRole,
    Severity,
    alert_reference,
    alert_reference_id,
)
from schemas.common import PoliceUnit
from schemas.events import PersonDescription
from tests import factories
from tests.factories import REFERENCE_KEY

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DUTY = "https://duty.politie.example/hook"
COORDINATOR = "https://lfo.politie.example/hook"
CLOTHING = "rode bodywarmer"


def _hold_up(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "kind": AlertKind.HOLD_UP_IN_PROGRESS, "severity": Severity.CRITICAL,
        "persons": [PersonDescription(clothing=[CLOTHING])], "created_at": NOW,
        "dedup_key": "hold-up:1",
    }  # fmt: skip
    return factories.alert(**(fields | overrides))


def _rule(subscription_id: int, organisation_id: str, role: str, **fields: Any) -> Any:
    return SubscriptionRule(subscription_id, organisation_id, role, **fields)


DIRECTORY = Directory(
    desks=(PoliceDesk("politie-ams", PoliceUnit.AMSTERDAM),),
    subscriptions=(
        # The Amsterdam duty officer: escalations of its unit's hold-ups only.
        _rule(1, "politie-ams", "police", police_units=frozenset({PoliceUnit.AMSTERDAM}),
              webhook_url=DUTY, send_alerts=False, send_escalations=True),
        # The national coordinator: alerts and escalations of every unit.
        _rule(2, "lfo", "police", webhook_url=COORDINATOR, send_escalations=True),
        # A retailer that somehow has the flag (a row changed by hand): never an escalation.
        _rule(3, "ah", "retailer", webhook_url="https://ah.example/h", send_escalations=True),
        # Rotterdam's duty officer: not its unit.
        _rule(4, "politie-rdam", "police", police_units=frozenset({PoliceUnit.ROTTERDAM}),
              webhook_url="https://rdam.example/h", send_alerts=False, send_escalations=True),
    ),
)  # fmt: skip


def test_escalation_receivers() -> None:
    routes = escalation_routes(_hold_up(), DIRECTORY)
    assert [(r.organisation_id, r.role, r.channel) for r in routes] == [
        ("lfo", RecipientRole.POLICE, "webhook"),
        ("politie-ams", RecipientRole.POLICE, "webhook"),
    ]


def test_an_escalation_only_receiver_gets_no_alerts() -> None:
    recipients = {r.recipient for r in route(_hold_up(), DIRECTORY, default_language="nl")}
    assert webhook_recipient("politie-ams", DUTY) not in recipients
    assert webhook_recipient("lfo", COORDINATOR) in recipients  # it sends alerts too


def test_an_escalation_notice_is_the_police_view_due_now() -> None:
    alert = _hold_up()
    [duty] = [r for r in escalation_routes(alert, DIRECTORY) if r.webhook_url == DUTY]
    row = escalated_delivery(alert, duty, NOW + timedelta(seconds=125), NOW)
    assert (row.dedup_key, row.notice, row.group_key) == (
        "hold-up:1#escalated", "escalated", ESCALATED_GROUP,
    )  # fmt: skip
    assert row.next_attempt_at == NOW and row.labels["notice"] == "escalated"
    assert row.payload is not None and row.payload["unacknowledged_seconds"] == 125
    assert row.payload["view"]["alert"]["persons"][0]["clothing"] == [CLOTHING]
    assert row.summary.startswith("GEËSCALEERD, 125 s niet bevestigd: [ZEER URGENT]")


def _resolution(alert: Any | None) -> Resolution:
    return Resolution(
        alert_id=uuid.uuid4(), dedup_key="hold-up:1", kind=AlertKind.HOLD_UP_IN_PROGRESS,
        police_unit=PoliceUnit.AMSTERDAM, created_at=NOW, resolved_at=NOW + timedelta(minutes=9),
        resolved_by="ams.coordinator", outcome=Outcome.ARRESTED, alert=alert,
    )  # fmt: skip


def _reference(dedup_key: str) -> str:
    return alert_reference(dedup_key, REFERENCE_KEY)


def _notified(role: RecipientRole | None, language: Any = "nl") -> Notified:
    return Notified("x/webhook/1", "x", "https://x.example/h", language, {"kind": "k"}, role)


@pytest.mark.parametrize(
    ("role", "view_role", "shows_persons", "shows_resolver"),
    [
        (RecipientRole.POLICE, "police", True, True),  # police: all of it, and who resolved
        (RecipientRole.BRANCH, "branch", False, False),  # a branch: its view, no names
        (None, "chain", False, False),  # a row from before roles were kept: the least
    ],
)
def test_a_resolved_notice_is_in_the_recipients_view(
    role: RecipientRole | None, view_role: str, shows_persons: bool, shows_resolver: bool
) -> None:
    row = resolved_delivery(_resolution(_hold_up()), _notified(role), NOW, REFERENCE_KEY)
    assert (row.dedup_key, row.notice, row.group_key) == (
        "hold-up:1#resolved", "resolved", RESOLVED_GROUP,
    )  # fmt: skip
    assert row.payload is not None and row.payload["outcome"] == "arrested"
    assert row.payload["view"]["role"] == view_role
    # The police are told the dedup key; the others the reference their view of it showed.
    shown = "hold-up:1" if role is RecipientRole.POLICE else _reference("hold-up:1")
    assert row.payload["dedup_key"] == shown
    assert row.payload["view"].get("alert", row.payload["view"])["dedup_key"] == shown
    assert ("hold-up:1" in json.dumps(row.payload)) is (role is RecipientRole.POLICE)
    # So is the alert id: the one the recipient's view of the alert had.
    if role is not RecipientRole.POLICE:
        keyed = str(alert_reference_id("hold-up:1", REFERENCE_KEY))
        assert row.payload["alert_id"] == row.payload["view"]["alert_id"] == keyed
    assert (CLOTHING in str(row.payload)) is shows_persons
    assert ("ams.coordinator" in str(row.payload)) is shows_resolver
    assert row.summary.startswith(
        "Afgehandeld: Overval gaande · eenheid Amsterdam · bij Amsterdam, binnen 2,0 km "
        "(52.3731, 4.8926) · uitkomst: aangehouden · gebeurd "
    )


def test_a_resolved_notice_says_which_robbery_when_and_where() -> None:
    # 'Afgehandeld: Overval gemeld · eenheid Amsterdam' alone does not tell one robbery of the
    # day from another: the notice names where and when (local time) as the alert's line does.
    alert = _hold_up(occurred_at=NOW - timedelta(minutes=4))
    nl = resolved_delivery(_resolution(alert), _notified(RecipientRole.POLICE), NOW, REFERENCE_KEY)
    assert nl.summary == (
        "Afgehandeld: Overval gaande · eenheid Amsterdam · bij Amsterdam, binnen 2,0 km "
        "(52.3731, 4.8926) · uitkomst: aangehouden · gebeurd 02-03-2026 12:56 (4 min geleden), "
        "gemeld 02-03-2026 13:00"
    )
    en = resolved_delivery(
        _resolution(alert), _notified(RecipientRole.POLICE, "en"), NOW, REFERENCE_KEY
    )
    assert en.summary == (
        "Resolved: Hold-up in progress · unit Amsterdam · near Amsterdam, within 2.0 km "
        "(52.3731, 4.8926) · outcome: arrested · happened 2026-03-02 12:56 (4 min ago), "
        "reported 2026-03-02 13:00"
    )


def test_a_resolved_notice_after_the_purge_and_in_english() -> None:
    row = resolved_delivery(
        _resolution(None), _notified(RecipientRole.CHAIN, "en"), NOW, REFERENCE_KEY
    )
    assert row.payload is not None and row.payload["view"] is None
    # The alert's area and event time went with its payload; when it was reported is kept.
    assert row.summary == (
        "Resolved: Hold-up in progress · unit Amsterdam · outcome: arrested · "
        "reported 2026-03-02 13:00"
    )


def test_texts() -> None:
    assert resolved_summary(AlertKind.SERIES, PoliceUnit.LIMBURG, None, "nl") == (
        "Afgehandeld: Overvalreeks · eenheid Limburg"
    )
    assert escalated_summary(_hold_up(), 120.7, "en").startswith(
        "ESCALATED, not acknowledged for 120 s: [CRITICAL] Hold-up in progress"
    )
    assert notice_key("a:1", "alert") == "a:1" and notice_key("a:1", "resolved") == "a:1#resolved"


class _Log:
    """Stands in for the database: the mute stage only writes that a row was muted."""

    def __init__(self) -> None:
        self.muted: list[tuple[str, str]] = []

    async def execute(self, query: str, *args: Any) -> str:
        self.muted.append((args[0], args[2]))
        return "UPDATE 1"


def _row(notice: Notice, labels: dict[str, str], channel: Channel = "webhook") -> Delivery:
    return Delivery(
        dedup_key=notice_key("v:1", notice), recipient=f"pac/{channel}/1", alert_id=uuid.uuid4(),
        channel=channel, organisation_id="pac", group_key="g", labels=labels, language="nl",
        summary="s", alert_created_at=NOW, notice=notice,
    )  # fmt: skip


async def test_notices_are_not_inhibited_but_a_late_escalation_is_dropped() -> None:
    labels = {"kind": "verified_alarm", "site_id": "site-7"}
    source = Inhibitor("h:1", {"kind": "hold_up_in_progress", "site_id": "site-7"}, NOW)
    log = _Log()
    run = Pass(log, NOW, (), [source], acknowledged=frozenset({"v:1"}))
    stage = MuteStage(NotifyThresholds())
    cases: list[tuple[Notice, str | None]] = [
        ("alert", "inhibited by h:1"),  # the alert itself is inhibited, as before
        ("resolved", None),  # its resolution is not: the recipient had the alert
        ("escalated", ACKNOWLEDGED_BEFORE_SENT),  # someone took it up before it was sent
    ]
    for notice, muted_by in cases:
        log.muted.clear()
        kept = await stage(Notification("pac/webhook/1", "webhook", (_row(notice, labels),)), run)
        assert (kept is None) is (muted_by is not None)
        assert log.muted == ([] if muted_by is None else [(notice_key("v:1", notice), muted_by)])


@pytest.mark.parametrize(
    ("kind", "channel", "muted"),
    [
        ("hold_up_in_progress", "desk", False),  # police see a robbery going on regardless
        ("hold_up_in_progress", "webhook", True),
        ("verified_alarm", "desk", True),  # anything else: the desk shows it as silenced
        ("robbery_reported", "desk", True),
    ],
)
async def test_a_silence_never_mutes_a_hold_up_in_progress_on_the_desk(
    kind: str, channel: Channel, muted: bool
) -> None:
    site_7 = Silence(
        silence_id=uuid.uuid4(), matchers=(Matcher(name="site_id", value="site-7"),),
        starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1),
        author="coordinator.ams", reason="onderhoud", created_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    log = _Log()
    run = Pass(log, NOW, (site_7,))
    row = _row("alert", {"kind": kind, "site_id": "site-7"}, channel)
    kept = await MuteStage(NotifyThresholds())(Notification(row.recipient, channel, (row,)), run)
    assert (kept is None) is muted
    assert log.muted == ([(row.dedup_key, f"silence {site_7.silence_id}")] if muted else [])
