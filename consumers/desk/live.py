"""Live updates for open desks: new alerts from Kafka, changes from PostgreSQL, fanned out by unit.

Two sources feed one Fanout. New alerts come from the ALERTS topic, read from its end by every
desk instance through the event layer (heterdaad/events/, no consumer group: each instance
must see every alert). Acknowledgements,
resolutions and escalations come from PostgreSQL's NOTIFY, so a change made on one instance
reaches the desks connected to any other. Each event carries a position "instance:seq"; a
stream that cannot continue from where its page left off (another instance, a restart, a slow
client) tells the page to reload, which reads the truth from the alert table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from consumers.desk.alerts import AlertCard
from heterdaad import metrics
from heterdaad.db import DatabaseBusy
from heterdaad.events import EventConsumer, TopicMissing
from schemas.alerts import Alert
from schemas.common import PoliceUnit
from schemas.topics import ALERTS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from consumers.desk.alerts import AlertStore, Change
    from heterdaad.events import Batch, Refusal
    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

# Between tries of a change's card while the pool has no connection free (each try has waited
# database_wait_seconds already): a pause, not a spin, if the wait is set very short.
_BUSY_PAUSE_SECONDS = 0.1


class DeskFeedError(Exception):
    """The live feed cannot start (the alerts topic is missing)."""


class StreamEnded(Exception):
    """A subscription ended: the page must reload to be sure it misses nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DeskEvent:
    seq: int
    change: Change
    card: AlertCard


class Subscription:
    """The events of one unit for one open stream, in order."""

    def __init__(self, unit: PoliceUnit, limit: int) -> None:
        self.unit = unit
        self._limit = limit
        self._pending: deque[DeskEvent] = deque()
        self._ready = asyncio.Event()
        self._ended: str | None = None

    def offer(self, event: DeskEvent) -> None:
        if len(self._pending) >= self._limit:
            # A client this far behind has lost track; a reload is cheaper than catching up.
            self.end("overflow")
            return
        self._pending.append(event)
        self._ready.set()

    def end(self, reason: str) -> None:
        self._ended = reason
        self._ready.set()

    async def next(self, within: float) -> DeskEvent | None:
        """The next event, or None after `within` seconds without one."""
        if not self._pending and self._ended is None:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), within)
            except TimeoutError:
                return None
        if self._ended is not None:
            raise StreamEnded(self._ended)
        return self._pending.popleft()


class Fanout:
    """Hands each event to the open streams of its unit, keeping a short backlog for resumes."""

    def __init__(self, *, backlog: int = 1000, per_stream: int = 500) -> None:
        # A fresh id per process: positions of a previous run or another instance mean nothing.
        self.instance = secrets.token_hex(4)
        self._seq = 0
        self._backlog: deque[DeskEvent] = deque(maxlen=backlog)
        self._per_stream = per_stream
        self._streams: dict[PoliceUnit, set[Subscription]] = defaultdict(set)

    @property
    def position(self) -> str:
        """Where a page rendered now stands; its stream continues from here."""
        return f"{self.instance}:{self._seq}"

    def publish(self, change: Change, card: AlertCard) -> DeskEvent:
        self._seq += 1
        event = DeskEvent(self._seq, change, card)
        self._backlog.append(event)
        for stream in list(self._streams.get(card.police_unit, ())):
            stream.offer(event)
        return event

    @contextlib.contextmanager
    def subscribe(self, unit: PoliceUnit, after: str | None) -> Iterator[Subscription]:
        """A stream of the unit's events after the position `after` (or from now)."""
        subscription = Subscription(unit, self._per_stream)
        for event in self._missed(after):
            if event.card.police_unit is unit:
                subscription.offer(event)
        self._streams[unit].add(subscription)
        try:
            yield subscription
        finally:
            self._streams[unit].discard(subscription)

    def close(self) -> None:
        for streams in self._streams.values():
            for stream in streams:
                stream.end("closing")

    def _missed(self, after: str | None) -> list[DeskEvent]:
        if after is None:
            return []
        instance, _, seq_text = after.partition(":")
        if instance != self.instance or not seq_text.isdigit() or int(seq_text) > self._seq:
            raise StreamEnded("unknown position")
        seq = int(seq_text)
        oldest = self._backlog[0].seq if self._backlog else self._seq + 1
        if seq < oldest - 1:
            raise StreamEnded("backlog exceeded")
        return [event for event in self._backlog if event.seq > seq]


async def open_alert_reader(settings: Settings, *, stage: str) -> EventConsumer[Alert]:
    """A reader of every partition of ALERTS, from the end (only new alerts), in no group."""
    reader = EventConsumer(settings, [ALERTS], Alert, stage=stage, group_id=None)
    try:
        await reader.start()
    except TopicMissing as error:
        raise DeskFeedError(str(error)) from error
    return reader


class AlertFeed:
    """New alerts of the topic: stored (idempotently) and handed to their unit's desks."""

    def __init__(self, settings: Settings, store: AlertStore, fanout: Fanout) -> None:
        self.settings = settings
        self.store = store
        self.fanout = fanout
        self._reader: EventConsumer[Alert] | None = None

    async def start(self) -> None:
        self._reader = await open_alert_reader(self.settings, stage="desk")

    async def stop(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    async def run(self) -> None:
        assert self._reader is not None, "start() the feed first"
        await self._reader.run(self._hand_out_all)

    async def _hand_out_all(self, batch: Batch[Alert]) -> list[Refusal]:
        for alert in batch.models:
            await self._hand_out(alert)
        return []

    async def _hand_out(self, alert: Alert) -> None:
        try:
            card = await self.store.take_in(alert)
        except DatabaseBusy as busy:
            # As while the database is away: shown at once, stored by the sink; the next alert
            # tries the pool again.
            logger.warning(
                "alert not stored by desk: no database connection free",
                extra={"alert_id": str(alert.alert_id), "wait_s": busy.wait},
            )
            card = None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            # Shown anyway: a hold-up must reach the desk even while the database is away.
            logger.error(
                "alert not stored by desk",
                extra={"alert_id": str(alert.alert_id), "error": str(error)},
            )
            card = None
        if card is None:
            card = AlertCard.of(alert)
        self.fanout.publish("alert", card)
        metrics.observe_alert_age(alert.occurred_at, channel="desk", historical=alert.historical)
        logger.info(
            "alert to desks",
            extra={"alert_id": str(alert.alert_id), "police_unit": alert.police_unit.value},
        )


def change_channel(settings: Settings) -> str:
    """The NOTIFY channel of the desks of one deployment (the schema tells deployments apart)."""
    return f"heterdaad_desk_{settings.database_schema}"


class ChangeListener:
    """Relays NOTIFYs of acknowledged, resolved and escalated alerts to the Fanout, in order."""

    def __init__(self, pool: asyncpg.Pool, channel: str, store: AlertStore, fanout: Fanout) -> None:
        self.pool = pool
        self.channel = channel
        self.store = store
        self.fanout = fanout
        self._connection: asyncpg.pool.PoolConnectionProxy | None = None
        self._heard: asyncio.Queue[tuple[UUID, PoliceUnit, Change]] = asyncio.Queue()
        self._relay: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """False once the listening connection is lost: changes from elsewhere stop arriving."""
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        self._connection = await self.pool.acquire()
        await self._connection.add_listener(self.channel, self._on_notify)
        self._relay = asyncio.create_task(self._relay_changes(), name="desk-change-relay")

    async def stop(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
        if self._connection is not None:
            with contextlib.suppress(asyncpg.InterfaceError, OSError):
                await self._connection.remove_listener(self.channel, self._on_notify)
            await self.pool.release(self._connection)
            self._connection = None

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        try:
            change = json.loads(payload)
            self._heard.put_nowait(
                (UUID(change["alert_id"]), PoliceUnit(change["police_unit"]), change["change"])
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable desk notification", extra={"payload": payload[:200]})

    async def _relay_changes(self) -> None:
        # One at a time: each card is read after its change was committed, so relaying in
        # order means no desk ends on an older state than the table's.
        while True:
            alert_id, unit, change = await self._heard.get()
            card = await self._card_when_free(alert_id, unit)
            if card is not None:
                self.fanout.publish(change, card)

    async def _card_when_free(self, alert_id: UUID, unit: PoliceUnit) -> AlertCard | None:
        """The changed card, read again while no connection is free (each try waits at most
        database_wait_seconds): a change dropped would leave open desks on an older state."""
        while True:
            try:
                return await self.store.card(unit, alert_id)
            except DatabaseBusy as busy:
                logger.warning(
                    "change not relayed yet: no database connection free, trying again",
                    extra={"alert_id": str(alert_id), "wait_s": busy.wait},
                )
                await asyncio.sleep(_BUSY_PAUSE_SECONDS)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                logger.error(
                    "change not relayed", extra={"alert_id": str(alert_id), "error": str(error)}
                )
                return None
