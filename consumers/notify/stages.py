"""The notify pipeline: a chain of small stages, each may pass a notification on or stop it.

offboarded -> mute (silences, inhibition) -> desk -> form (fix its members and key)
-> rate limit -> send
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from consumers.notify import nflog, ratelimit, webhook
from consumers.notify.change import follow_move
from consumers.notify.inhibit import inhibitor_of
from consumers.notify.retry import backoff_seconds, retryable
from consumers.notify.silences import silenced_by
from heterdaad import metrics
from schemas.alerts import AlertKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

    from consumers.notify.admin import Database
    from consumers.notify.inflight import InFlight
    from consumers.notify.inhibit import Inhibitor
    from consumers.notify.nflog import Delivery
    from consumers.notify.route import Channel
    from consumers.notify.silences import Silence
    from heterdaad.thresholds.notify import NotifyThresholds

logger = logging.getLogger(__name__)

ACKNOWLEDGED_BEFORE_SENT = "acknowledged before sent"
ORGANISATION_DISABLED = "organisation disabled"


@dataclass(frozen=True)
class Notification:
    """Rows of one recipient sent together; `key` is None until the form stage fixed them."""

    recipient: str
    channel: Channel
    members: tuple[Delivery, ...]
    key: str | None = None


@dataclass(frozen=True)
class Pass:
    """What every stage of one delivery pass shares: the database, the time, the mutes."""

    db: Database
    now: datetime
    silences: Sequence[Silence] = ()
    inhibitors: Sequence[Inhibitor] = field(default_factory=list)
    # Alerts (dedup keys) acknowledged on the desk by now: their escalation need not be sent.
    acknowledged: frozenset[str] = frozenset()
    # Organisations of this pass's rows disabled by now (`heterdaad org disable`).
    offboarded: frozenset[str] = frozenset()


class Stage(Protocol):
    async def __call__(self, notification: Notification, run: Pass) -> Notification | None: ...


async def run_chain(stages: Sequence[Stage], notification: Notification, run: Pass) -> None:
    current: Notification | None = notification
    for stage in stages:
        if current is None:
            return
        current = await stage(current, run)


class OffboardStage:
    """Sends nothing more to an organisation disabled after its rows were written: a row not
    yet sent is muted, a notification being retried is given up (dead), and nothing is counted
    as an attempt. Rows are written only for enabled organisations (the directory), so this
    closes the window between `org disable` and the rows queued before it, retries included.

    Its alarm centre's tasks stop too. The police desk's rows are left: the desk shows its
    unit's alerts from the alert table, and an offboarded unit's users are locked out already.
    """

    async def __call__(self, notification: Notification, run: Pass) -> Notification | None:
        if notification.channel == "desk" or not run.offboarded:
            return notification
        gone = [m for m in notification.members if m.organisation_id in run.offboarded]
        if not gone:
            return notification
        if notification.key is not None:  # formed: its members go together or not at all
            await nflog.give_up(run.db, notification.key, ORGANISATION_DISABLED, run.now)
            kept: list[Delivery] = []
        else:
            for member in gone:
                await nflog.mute(run.db, member, ORGANISATION_DISABLED)
            kept = [m for m in notification.members if m.organisation_id not in run.offboarded]
        metrics.DECISIONS.labels(stage="notify_offboarded", outcome="stopped").inc(len(gone))
        logger.info(
            "delivery stopped: organisation disabled",
            extra={"recipient": notification.recipient, "rows": len(gone),
                   "organisations": sorted({m.organisation_id for m in gone})},
        )  # fmt: skip
        return replace(notification, members=tuple(kept)) if kept else None


# Kinds that reach the desk of their unit unmuted: silences and inhibition act on webhooks only.
ALWAYS_ON_THE_DESK = frozenset({AlertKind.HOLD_UP_IN_PROGRESS.value})


class MuteStage:
    """Drops silenced and inhibited alerts, once, before a notification is formed.

    Notices follow their alert: silences mute them too, inhibition does not (the recipient
    had the alert; it should hear how it ended). An escalation of an alert acknowledged
    before it was sent is dropped: someone has it now. An alarm centre's task is never muted:
    it is the centre's work, and held back it leaves an alarm unverified (notify/tasks.py).
    """

    def __init__(self, thresholds: NotifyThresholds) -> None:
        self.thresholds = thresholds

    async def __call__(self, notification: Notification, run: Pass) -> Notification | None:
        if notification.key is not None:  # decided when it was formed; a retry stays a retry
            return notification
        kept = []
        for member in notification.members:
            reason = self._reason(member, run)
            if reason is None:
                kept.append(member)
                continue
            await nflog.mute(run.db, member, reason)
            # "silence <id>", "acknowledged before sent", "inhibited by <key>": the first word.
            metrics.DECISIONS.labels(stage="notify_mute", outcome=reason.split()[0]).inc()
            logger.info(
                "delivery muted",
                extra={"dedup_key": member.dedup_key, "recipient": member.recipient,
                       "muted_by": reason},
            )  # fmt: skip
        return replace(notification, members=tuple(kept)) if kept else None

    def _reason(self, member: Delivery, run: Pass) -> str | None:
        if member.notice == "task":
            return None
        if member.channel == "desk" and member.labels.get("kind") in ALWAYS_ON_THE_DESK:
            # Police must see a robbery in progress whatever a silence or another alert says:
            # a silence is for noise, and a hold-up going on is never noise (docs/notify.md).
            return None
        silence = silenced_by(member.labels, run.silences, run.now)
        if silence is not None:
            return f"silence {silence.silence_id}"
        if member.notice == "escalated" and member.alert_dedup_key in run.acknowledged:
            return ACKNOWLEDGED_BEFORE_SENT
        if member.notice != "alert":
            return None
        source = inhibitor_of(
            member.labels, member.alert_created_at, run.inhibitors, self.thresholds
        )
        return None if source is None else f"inhibited by {source.dedup_key}"


class DeskStage:
    """Police desk rows need no request: once due (and not muted) they are delivered."""

    async def __call__(self, notification: Notification, run: Pass) -> Notification | None:
        if notification.channel != "desk":
            return notification
        for member in notification.members:
            await nflog.deliver_to_desk(run.db, member, run.now)
            metrics.DECISIONS.labels(stage="notify_desk", outcome="delivered").inc()
            logger.info(
                "delivered to desk",
                extra={"dedup_key": member.dedup_key, "recipient": member.recipient},
            )
        return None


class FormStage:
    """Fixes the members of a new notification; its key is that of its first alert.

    `reference_key` keys what recipients other than the police see of a dedup key
    (Delivery.idempotency_key).
    """

    def __init__(self, reference_key: bytes) -> None:
        self.reference_key = reference_key

    async def __call__(self, notification: Notification, run: Pass) -> Notification | None:
        if notification.key is not None:
            return notification
        members = tuple(
            sorted(notification.members, key=lambda row: (row.alert_created_at, row.dedup_key))
        )
        key = members[0].idempotency_key(self.reference_key)
        await nflog.form(run.db, members, key, run.now)
        return replace(notification, members=members, key=key)


class RateLimitStage:
    """Postpones a request the receiver's bucket has no token for; no attempt is counted."""

    def __init__(self, thresholds: NotifyThresholds) -> None:
        self.thresholds = thresholds

    async def __call__(self, notification: Notification, run: Pass) -> Notification | None:
        assert notification.key is not None
        wait = await ratelimit.acquire(
            run.db, notification.recipient, run.now,
            rate_per_minute=self.thresholds.receiver_rate_per_minute,
            burst=self.thresholds.receiver_burst,
        )  # fmt: skip
        if wait <= 0:
            return notification
        await nflog.postpone(run.db, notification.key, run.now + timedelta(seconds=wait))
        metrics.DECISIONS.labels(stage="notify_rate_limit", outcome="postponed").inc()
        logger.info(
            "delivery rate-limited",
            extra={"notification_key": notification.key, "recipient": notification.recipient,
                   "wait_s": round(wait, 3)},
        )  # fmt: skip
        return None


class SendStage:
    """POSTs the signed body and records the outcome: delivered, retry later, or dead.

    The request runs apart from the pass (`InFlight`); a receiver that already has all its
    requests in flight is postponed a moment instead of waited for, with no attempt counted.
    """

    def __init__(
        self,
        thresholds: NotifyThresholds,
        client: httpx.AsyncClient,
        in_flight: InFlight,
        reference_key: bytes,
    ) -> None:
        self.thresholds = thresholds
        self.client = client
        self.in_flight = in_flight
        self.reference_key = reference_key

    async def __call__(self, notification: Notification, run: Pass) -> Notification | None:
        assert notification.key is not None
        if not self.in_flight.reserve(notification.recipient):
            busy = timedelta(seconds=self.thresholds.busy_retry_seconds)
            await nflog.postpone(run.db, notification.key, run.now + busy)
            logger.info(
                "delivery postponed: receiver busy",
                extra={"notification_key": notification.key,
                       "recipient": notification.recipient},
            )  # fmt: skip
            return None
        self.in_flight.start(notification.recipient, self.send(notification, run))
        return notification

    async def send(self, notification: Notification, run: Pass) -> None:
        key, first = notification.key, notification.members[0]
        assert key is not None and first.webhook_url is not None
        url = first.webhook_url
        secret = await _secret(run.db, first.organisation_id, url)
        if secret is None:
            # Written for a webhook its subscription moved away from since (change.py).
            url = await follow_move(run.db, key, first.organisation_id, url) or url
            secret = await _secret(run.db, first.organisation_id, url)
        if secret is None:
            await nflog.give_up(run.db, key, "no subscription with this webhook any more", run.now)
            logger.warning("delivery given up", extra={"notification_key": key})
            return
        attempt = await nflog.start_attempt(run.db, key, run.now)
        body = webhook.render(key, notification.members, self.reference_key)
        outcome = await webhook.post(
            self.client, url, body,
            webhook.headers(secret, body, notification_key=key, attempt=attempt,
                            timestamp=int(run.now.timestamp())),
            deadline_seconds=self.thresholds.webhook_timeout_seconds,
            max_response_bytes=self.thresholds.webhook_max_response_kib * 1024,
        )  # fmt: skip
        record = nflog.Attempt(
            key, attempt, run.now, outcome.status_code, outcome.error, outcome.duration_ms
        )
        metrics.WEBHOOK_LATENCY.observe(outcome.duration_ms / 1000)
        if outcome.delivered:
            await nflog.finish_attempt(run.db, record, state="delivered")
            metrics.WEBHOOK_DELIVERIES.labels(result="delivered").inc()
            _observe_ages(notification.members)
        elif retryable(outcome.status_code) and attempt < self.thresholds.max_attempts:
            wait = backoff_seconds(attempt, self.thresholds, retry_after=outcome.retry_after)
            await nflog.finish_attempt(
                run.db, record, state="failed", next_attempt_at=run.now + timedelta(seconds=wait)
            )
            metrics.WEBHOOK_DELIVERIES.labels(result="failed").inc()
        else:
            await nflog.finish_attempt(run.db, record, state="dead")
            metrics.WEBHOOK_DELIVERIES.labels(result="dead").inc()
        logger.info(
            "webhook attempt",
            extra={"notification_key": key, "recipient": notification.recipient,
                   "attempt": attempt, "status_code": outcome.status_code,
                   "error": outcome.error, "alerts": len(notification.members),
                   "duration_ms": outcome.duration_ms},
        )  # fmt: skip


def _observe_ages(members: Sequence[Delivery]) -> None:
    # The event time is in the recipient's view, stored with the row to be sent.
    now = datetime.now(UTC)
    for member in members:
        view = (member.payload or {}).get("view") or {}
        occurred = view.get("occurred_at")
        metrics.observe_alert_age(
            datetime.fromisoformat(occurred) if occurred else None,
            channel="webhook", historical=bool(view.get("historical")), now=now,
        )  # fmt: skip


async def _secret(db: Database, organisation_id: str, webhook_url: str) -> str | None:
    secret: str | None = await db.fetchval(
        "SELECT webhook_secret FROM subscription WHERE organisation_id = $1 AND webhook_url = $2 "
        "AND webhook_secret IS NOT NULL ORDER BY subscription_id LIMIT 1",
        organisation_id, webhook_url,
    )  # fmt: skip
    return secret
