"""The SIA DC-09 receiver service: a TCP listener for alarm centres and panels, plus supervision."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self

from heterdaad import metrics
from heterdaad.db import create_pool
from producers import ingest
from producers.api.broker import BrokerLink
from producers.sia import frames, supervision
from producers.sia.accounts import AccountDirectory
from producers.sia.handling import FrameHandler
from schemas.topics import ALARM_ACTIVATIONS

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    import asyncpg

    from heterdaad.settings import Settings
    from schemas.events import AlarmActivation

logger = logging.getLogger(__name__)

SOURCE = "urn:heterdaad:producers:sia"
# One missed daily automatic test (RP) plus an hour for a panel's clock and retries.
DEFAULT_SUPERVISION = timedelta(hours=25)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Connection:
    writer: asyncio.StreamWriter
    last_active: float
    busy: bool = False


class SiaReceiver:
    """Receives SIA DC-09 frames over TCP and publishes them as alarm activations.

    Use as `async with SiaReceiver(settings, host, port): ...` or call start() and stop().
    Port 0 picks a free port; `port` tells which after start().
    """

    def __init__(
        self,
        settings: Settings,
        host: str,
        port: int,
        *,
        supervision_default: timedelta = DEFAULT_SUPERVISION,
        supervision_check_every: timedelta = timedelta(minutes=1),
        account_cache_ttl: timedelta = timedelta(minutes=1),
        publish_timeout: timedelta = timedelta(seconds=15),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._host = host
        self._port = port
        self._supervision_default = supervision_default
        self._check_every = supervision_check_every.total_seconds()
        self._account_cache_ttl = account_cache_ttl
        self._publish_timeout = publish_timeout.total_seconds()
        self._clock = clock
        self._pool: asyncpg.Pool | None = None
        self._broker: BrokerLink | None = None
        self._directory: AccountDirectory | None = None
        self._handler: FrameHandler | None = None
        self._server: asyncio.Server | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._idle_timeout = settings.sia_idle_timeout_seconds
        self._max_connections = settings.sia_max_connections
        self._connections: dict[asyncio.Task[object], _Connection] = {}

    @property
    def port(self) -> int:
        """The port listened on (the one picked by the system when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def connection_count(self) -> int:
        """Connections held open now."""
        return len(self._connections)

    async def start(self) -> None:
        try:
            self._pool = await create_pool(self._settings)
            # The intake's producer link: replaced when the broker restarts mid-send, and
            # connecting in the background while it is away (frames go unanswered meanwhile).
            self._broker = BrokerLink(
                self._settings,
                publish_timeout=self._publish_timeout,
                retry_seconds=self._settings.api_limits.broker_retry_seconds,
            )
            await self._broker.start()
            self._directory = AccountDirectory(self._pool, ttl=self._account_cache_ttl)
            self._handler = FrameHandler(self._directory.lookup, self._publish, self._clock)
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, limit=frames.MAX_FRAME_BYTES
            )
        except BaseException:
            await self.stop()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="sia-link-supervision")
        logger.info("sia receiver listening", extra={"host": self._host, "port": self.port})

    async def stop(self) -> None:
        """Stop listening, close connections, let frames being handled finish, then disconnect."""
        if self._server is not None:
            self._server.close()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        for connection in self._connections.values():
            # Closing the transport ends the handler's read; a publish in flight completes.
            connection.writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=self._publish_timeout)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        logger.info("sia receiver stopped", extra={"port": self._port})

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def check_link_supervision(self) -> list[AlarmActivation]:
        """One supervision pass: publish site_silent for each site newly silent too long."""
        assert self._pool is not None and self._directory is not None, "start() first"
        now = self._clock()
        links = await supervision.unsilenced_links(self._pool)
        silent = supervision.silent_links(links, now, self._supervision_default)
        if not silent:
            return []
        accounts = await self._directory.by_site([link.site_id for link in silent])
        published = []
        for link in silent:
            account = accounts.get(link.site_id)
            if account is None:
                logger.error("silent site cannot be described", extra={"site_id": link.site_id})
                continue
            activation = supervision.site_silent(link, account, now, self._supervision_default)
            # Publish first, then remember: a crash in between repeats the same event id.
            await self._publish(activation)
            await supervision.mark_silent(self._pool, link, now)
            logger.warning(
                "alarm site silent",
                extra={
                    "site_id": link.site_id,
                    "last_seen": link.last_seen.isoformat(),
                    "event_id": str(activation.event_id),
                },
            )
            published.append(activation)
        return published

    async def _supervise(self) -> None:
        while True:
            try:
                await self.check_link_supervision()
            except Exception:
                # A database or broker hiccup must not end supervision for good.
                logger.exception("sia link supervision pass failed")
            await asyncio.sleep(self._check_every)

    async def _publish(self, activation: AlarmActivation) -> None:
        """Returns once the broker has it; raises BrokerUnavailable else (the panel retries)."""
        assert self._broker is not None
        [outcome] = await ingest.publish(
            self._broker, ALARM_ACTIVATIONS, [activation], source=SOURCE
        )
        if isinstance(outcome, Exception):
            raise outcome

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._handler is not None
        peer = str(writer.get_extra_info("peername"))
        task = asyncio.current_task()
        connection = _Connection(writer, time.monotonic())
        if not self._make_room(peer):
            writer.close()
            return
        if task is not None:
            self._connections[task] = connection
        try:
            while (frame := await self._next_frame(reader, peer)) is not None:
                connection.busy = True
                reply = await self._handler.handle(frame, peer)
                outcome = _answer_class(reply.answer)
                metrics.DECISIONS.labels(stage="sia_receiver", outcome=outcome).inc()
                if reply.answer is None:
                    break
                writer.write(reply.answer)
                await writer.drain()
                if reply.heard is not None:
                    await self._note_heard(reply.heard.site.site_id, reply.signal)
                connection.busy = False
                connection.last_active = time.monotonic()
        except asyncio.LimitOverrunError:
            logger.warning("sia connection sent a line too long for a frame", extra={"peer": peer})
        except ConnectionError as error:
            logger.info("sia connection lost", extra={"peer": peer, "error": str(error)})
        except Exception:
            # A bug must not pass silently nor take the listener down; without an answer the
            # panel retransmits.
            logger.exception("sia connection failed", extra={"peer": peer})
        finally:
            if task is not None:
                self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _next_frame(self, reader: asyncio.StreamReader, peer: str) -> str | None:
        """The next frame, or None when the peer closed or took longer than the idle timeout
        to send a whole one (a byte at a time does not keep a connection)."""
        try:
            async with asyncio.timeout(self._idle_timeout):
                return await frames.read_frame(reader)
        except TimeoutError:
            logger.info("sia connection idle, closed", extra={"peer": peer})
            return None

    def _make_room(self, peer: str) -> bool:
        """Below the cap, or the connection idle longest closed to make room; False when every
        held connection is busy with a frame (then the newcomer is turned away)."""
        if len(self._connections) < self._max_connections:
            return True
        idle = [c for c in self._connections.values() if not c.busy and not c.writer.is_closing()]
        if not idle:
            logger.warning("sia connection refused: all connections busy", extra={"peer": peer})
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        logger.warning(
            "sia connection cap reached, idle connection closed",
            extra={"peer": peer, "closed": str(oldest.writer.get_extra_info("peername"))},
        )
        oldest.writer.close()
        return True

    async def _note_heard(self, site_id: str, signal: str) -> None:
        assert self._pool is not None
        try:
            silent_since = await supervision.record_heard(
                self._pool, site_id, self._clock(), signal
            )
        except Exception:
            # Supervision bookkeeping must never cost a connection that carries alarms.
            logger.exception("sia link state not recorded", extra={"site_id": site_id})
            return
        if silent_since is not None:
            logger.info(
                "alarm site heard again",
                extra={"site_id": site_id, "silent_since": silent_since.isoformat()},
            )


def _answer_class(answer: bytes | None) -> str:
    """ack, nak or duh (the token, encrypted or not), or none: no answer, connection closed."""
    if answer is None:
        return "none"
    found = (token for token in ("ACK", "NAK", "DUH") if f'{token}"'.encode() in answer)
    return next(found, "other").lower()
