"""The notify service: consumes ALERTS into the notification log and delivers what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from consumers.alarm_tasks import stored_channel
from consumers.notify import inhibit, nflog, notices
from consumers.notify.addresses import PinnedTransport
from consumers.notify.directory import CachedDirectory
from consumers.notify.dispatch import dispatch
from consumers.notify.inflight import InFlight
from consumers.notify.route import route
from consumers.notify.silences import active_silences
from consumers.notify.stages import (
    DeskStage,
    FormStage,
    MuteStage,
    Notification,
    OffboardStage,
    Pass,
    RateLimitStage,
    SendStage,
    Stage,
    run_chain,
)
from consumers.notify.subscriptions import subscriptions_channel
from consumers.notify.tasks import dispatch_tasks
from consumers.retention import Purge
from heterdaad.db import DATABASE_GONE, create_pool
from heterdaad.events import EventConsumer
from heterdaad.thresholds.notify import NotifyThresholds
from schemas.alerts import Alert
from schemas.topics import ALERTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import asyncpg

    from consumers.notify.nflog import Delivery
    from heterdaad.events import Batch, Refusal
    from heterdaad.settings import Settings
    from schemas.common import PoliceUnit

logger = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0
# Asked of each pass's rows just before sending: who was offboarded, what was acknowledged.
_DISABLED = (
    "SELECT organisation_id FROM organisation "
    "WHERE organisation_id = ANY($1::text[]) AND disabled_at IS NOT NULL"
)
_ACKNOWLEDGED = (
    "SELECT dedup_key FROM alert WHERE dedup_key = ANY($1::text[]) AND acknowledged_at IS NOT NULL"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotifyService:
    """Alerts in, notifications out: `async with NotifyService(settings) as s: await s.run()`.

    The loop is the event layer's (heterdaad/events/): offsets are committed only after an
    alert's delivery rows are written; the rows, not the offsets, say what was sent, so a
    replay after a crash or rebalance sends nothing twice.
    """

    def __init__(
        self,
        settings: Settings,
        thresholds: NotifyThresholds | None = None,
        *,
        group_id: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        # Until Settings carries `notify`, the defaults; once it does, its values.
        self.thresholds = thresholds or getattr(settings, "notify", None) or NotifyThresholds()
        self.group_id = group_id or f"{settings.app_id}-notify"
        self.clock = clock
        # Keys what recipients other than the police see of a dedup key (alert_reference).
        self._reference_key = settings.require_plate_key()
        self._directory = CachedDirectory(
            self.thresholds.directory_refresh_seconds, self.thresholds.retail_max_radius_m
        )
        self._wake = asyncio.Event()
        # Police units whose alerts reached nobody, said once each (below).
        self._unheard_units: set[PoliceUnit] = set()
        self._pruned_at = 0.0
        self._pool: asyncpg.Pool | None = None
        self._alerts: EventConsumer[Alert] | None = None
        self._client: httpx.AsyncClient | None = None
        self._listener: asyncpg.Connection | None = None
        self._stages: Sequence[Stage] = ()
        self._in_flight = InFlight(
            self.thresholds.send_concurrency, self.thresholds.receiver_concurrency
        )

    async def __aenter__(self) -> NotifyService:
        try:
            self._pool = await create_pool(self.settings, max_size=8)
            self._client = httpx.AsyncClient(
                timeout=self.thresholds.webhook_timeout_seconds,
                follow_redirects=False,
                transport=PinnedTransport(allow_private=self.thresholds.allow_private_webhooks),
            )
            self._stages = (
                OffboardStage(), MuteStage(self.thresholds), DeskStage(),
                FormStage(self._reference_key), RateLimitStage(self.thresholds),
                SendStage(self.thresholds, self._client, self._in_flight, self._reference_key),
            )  # fmt: skip
            await self._listen_for_tasks()
            self._alerts = EventConsumer(
                self.settings, [ALERTS], Alert, stage="notify", group_id=self.group_id,
                retry_on=DATABASE_GONE,
            )  # fmt: skip
            await self._alerts.start()
        except BaseException:
            await self.__aexit__()
            raise
        logger.info("notify service started", extra={"group_id": self.group_id})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._alerts is not None:
            await self._alerts.stop()
        if self._listener is not None and self._pool is not None:
            with contextlib.suppress(Exception):  # a connection lost with the database
                await self._listener.remove_listener(
                    stored_channel(self.settings.database_schema), self._wake_for_tasks
                )
                await self._listener.remove_listener(
                    subscriptions_channel(self.settings.database_schema), self._reread_directory
                )
                await self._pool.release(self._listener)
        # Each request has its deadline: let them end rather than leave their rows leased.
        await self._in_flight.settled()
        if self._client is not None:
            await self._client.aclose()
        if self._pool is not None:
            await self._pool.close()
        logger.info("notify service stopped", extra={"group_id": self.group_id})

    async def _listen_for_tasks(self) -> None:
        """Wake the delivery pass when the sink stores alarm tasks (notify/tasks.py), instead
        of at the next poll. Without the connection (lost with the database) the poll remains."""
        assert self._pool is not None
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(
            stored_channel(self.settings.database_schema), self._wake_for_tasks
        )
        # A changed subscription is routed by at once, not after directory_refresh_seconds.
        await self._listener.add_listener(
            subscriptions_channel(self.settings.database_schema), self._reread_directory
        )

    def _wake_for_tasks(self, *_: object) -> None:
        self._wake.set()

    def _reread_directory(self, *_: object) -> None:
        self._directory.expire()
        logger.info("subscriptions changed: routing reads them again")

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume and deliver until `stop` is set."""
        stop = stop or asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.consume(stop))
            tasks.create_task(self.deliver(stop))

    async def consume(self, stop: asyncio.Event) -> None:
        """Alerts into the notification log until `stop` is set; while the database is away
        the event layer reads the batch again after a back-off."""
        assert self._alerts is not None, "use `async with`"
        await self._alerts.run(self._take_alerts, stop)

    async def deliver(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the pass: rows written during it wake the next one at once.
            self._wake.clear()
            claimed = 0
            try:
                claimed = await self.deliver_due()
            except Exception:  # the database may be away a moment: log, wait, try again
                logger.exception("delivery pass failed")
            if claimed >= self.thresholds.claim_batch:
                continue  # more is due: no pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.thresholds.poll_seconds)

    async def sends_settled(self) -> None:
        """Wait until the webhook requests of earlier passes have ended (tests, shutdown)."""
        await self._in_flight.settled()

    async def _take_alerts(self, batch: Batch[Alert]) -> list[Refusal]:
        """A partition's alerts as rows of the notification log, in one transaction."""
        assert self._pool is not None
        if not batch.models:
            return []
        directory = await self._directory.get(self._pool)
        # The sink's and the desk's rule: nothing past the period is sent or logged whole.
        purge = Purge.after(self.settings.personal_data_retention_days, self.clock())
        written = 0
        async with self._pool.acquire() as connection, connection.transaction():
            for alert in batch.models:
                routes = route(alert, directory, default_language=self.settings.language)
                if not routes:
                    # Not even a police desk: the unit's organisation is missing. A warning
                    # once per unit and process (a year's CBL import said it 269 times), then
                    # each alert at debug.
                    unit = alert.police_unit
                    level = logging.DEBUG if unit in self._unheard_units else logging.WARNING
                    self._unheard_units.add(unit)
                    logger.log(
                        level, "alert has no recipient",
                        extra={"dedup_key": alert.dedup_key, "police_unit": unit.value},
                    )  # fmt: skip
                written += await dispatch(
                    connection, alert, routes, self.thresholds, self.clock(), self._reference_key,
                    purge,
                )
        if written:
            self._wake.set()
        return []

    async def deliver_due(self) -> int:
        """One delivery pass over what is due now (up to claim_batch rows); returns the rows.

        Webhook requests are started, not waited for (`InFlight`): the next pass, and the
        desk's rows in it, never wait for a slow receiver.
        """
        assert self._pool is not None, "use `async with`"
        now = self.clock()
        await self._dispatch_notices(now)
        lease_until = now + timedelta(seconds=self.thresholds.lease_seconds)
        limit = self.thresholds.claim_batch
        # New alerts first: a backlog of retries to a dead receiver must not hold up a hold-up.
        fresh = await nflog.claim_fresh(self._pool, now, lease_until, limit)
        formed = []
        if len(fresh) < limit:
            formed = await nflog.claim_formed(self._pool, now, lease_until, limit - len(fresh))
        notifications = _notifications(fresh, formed)
        if notifications:
            run = Pass(
                self._pool, now, await active_silences(self._pool, now),
                await self._inhibitors(fresh), await self._acknowledged(fresh),
                await self._offboarded(notifications),
            )  # fmt: skip
            limiter = asyncio.Semaphore(self.thresholds.send_concurrency)
            async with asyncio.TaskGroup() as tasks:
                for notification in notifications:
                    tasks.create_task(self._notify(notification, run, limiter))
        await self._prune(now)
        return len(fresh) + len(formed)

    async def _notify(
        self, notification: Notification, run: Pass, limiter: asyncio.Semaphore
    ) -> None:
        async with limiter:
            try:
                await run_chain(self._stages, notification, run)
            except Exception:
                # Its rows stay leased and come due again when the lease ends.
                logger.exception(
                    "notification failed",
                    extra={"recipient": notification.recipient, "key": notification.key},
                )

    async def _dispatch_notices(self, now: datetime) -> None:
        """Resolutions and escalations on the desk become notice rows, due now (the outbox)."""
        assert self._pool is not None
        purge = Purge.after(self.settings.personal_data_retention_days, now)
        written = await notices.dispatch_resolved(
            self._pool, now, self.thresholds, self._reference_key, purge
        )
        # Every escalation is dispatched, to nobody if need be: a receiver subscribing later
        # must not be told of escalations from before it subscribed.
        directory = await self._directory.get(self._pool)
        written += await notices.dispatch_escalations(
            self._pool, directory, now, self.thresholds, purge
        )
        # Alarm centres' tasks, stored by the sink, to their webhooks (notify/tasks.py).
        written += await dispatch_tasks(self._pool, directory, now, self.thresholds)
        if written:
            logger.info("notices recorded", extra={"rows": written})

    async def _offboarded(self, notifications: Sequence[Notification]) -> frozenset[str]:
        """The organisations of these notifications that are disabled now."""
        return await self._among(_DISABLED, (
            member.organisation_id for notification in notifications
            if notification.channel != "desk" for member in notification.members
        ))  # fmt: skip

    async def _acknowledged(self, fresh: Sequence[Delivery]) -> frozenset[str]:
        """Alerts of fresh escalation notices that someone acknowledged meanwhile."""
        return await self._among(
            _ACKNOWLEDGED, (row.alert_dedup_key for row in fresh if row.notice == "escalated")
        )

    async def _among(self, query: str, keys: Iterable[str]) -> frozenset[str]:
        """The keys `query` (keys its one text[] parameter) returns; none asked, no query."""
        assert self._pool is not None
        wanted = sorted(set(keys))
        if not wanted:
            return frozenset()
        return frozenset(row[0] for row in await self._pool.fetch(query, wanted))

    async def _inhibitors(self, fresh: Sequence[Delivery]) -> list[inhibit.Inhibitor]:
        assert self._pool is not None
        targets = [
            row for row in fresh
            if row.notice == "alert" and row.labels.get("kind") in inhibit.target_kinds()
        ]  # fmt: skip
        if not targets:
            return []
        created = [row.alert_created_at for row in targets]
        return await inhibit.load_sources(
            self._pool, inhibit.source_kinds(), (min(created), max(created)), self.thresholds
        )

    async def _prune(self, now: datetime) -> None:
        """Forget groups and inhibitors nobody can need any more, now and then."""
        assert self._pool is not None
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = time.monotonic()
        thresholds = self.thresholds
        await self._pool.execute(
            "DELETE FROM notify_group WHERE touched_at < $1 AND next_flush_at < $1",
            now - timedelta(seconds=2 * thresholds.repeat_interval_seconds),
        )
        await self._pool.execute(
            "DELETE FROM notify_notice WHERE dispatched_at < $1",
            now - timedelta(hours=2 * thresholds.notice_lookback_hours),
        )
        await inhibit.forget_before(
            self._pool,
            now - timedelta(seconds=thresholds.inhibit_after_seconds
                            + thresholds.window_max_defer_seconds + 3600),
        )  # fmt: skip


def _notifications(fresh: Sequence[Delivery], formed: Sequence[Delivery]) -> list[Notification]:
    """New rows grouped per recipient and group; formed rows per notification key."""
    by_group: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    for row in fresh:
        by_group[(row.recipient, row.group_key)].append(row)
    by_key: dict[str, list[Delivery]] = defaultdict(list)
    for row in formed:
        assert row.notification_key is not None
        by_key[row.notification_key].append(row)
    return [
        Notification(rows[0].recipient, rows[0].channel, tuple(rows)) for rows in by_group.values()
    ] + [
        Notification(rows[0].recipient, rows[0].channel, tuple(rows), key)
        for key, rows in by_key.items()
    ]
