"""A TCP relay in front of the shared PostgreSQL that a test can take away and bring back.

The test PostgreSQL serves every test on the machine, so a test must not stop it (nor lock
out its role or database: a test that died mid-outage would leave it broken for the rest).
Parts whose `database_url` names the relay lose PostgreSQL when the relay says so, and no
one else does; nothing of it outlives the test process.

Taking PostgreSQL away looks to the parts as a restart of the server does: every backend
serving them is terminated (`pg_terminate_backend`: the client reads 57P01 "terminating
connection due to administrator command"), and until it is back every new connection is
refused: with 57P03 "the database system is starting up", or (every other one) cut before
it could start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from types import TracebackType

    import asyncpg

logger = logging.getLogger(__name__)

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_STARTING_UP = b"".join(
    [b"SFATAL\0", b"VFATAL\0", b"C57P03\0", b"Mthe database system is starting up\0", b"\0"]
)
_REFUSAL = b"E" + struct.pack("!i", len(_STARTING_UP) + 4) + _STARTING_UP


@dataclass
class PostgresRelay:
    """Relays 127.0.0.1:<port> to the PostgreSQL of `database_url`, until taken away."""

    database_url: str
    port: int = 0
    away: bool = False
    refused: int = 0
    _links: dict[asyncio.Task[None], list[asyncio.StreamWriter]] = field(default_factory=dict)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """`database_url` with the relay in place of the server."""
        parts = urlsplit(self.database_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def __aenter__(self) -> PostgresRelay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._cut()
        await self._server.wait_closed()

    async def take_away(self, db: asyncpg.Connection) -> int:
        """PostgreSQL is away from now on; returns how many backends were terminated.

        `db` is the test's own connection (direct, not relayed), used to terminate the
        backends that serve the relayed connections.
        """
        self.away = True
        ports = [
            writers[1].get_extra_info("sockname")[1]
            for writers in self._links.values()
            if len(writers) == 2
        ]
        terminated: int = await db.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE client_port = ANY($1::int[]) AND client_addr IN ('127.0.0.1', '::1') "
            "AND pid <> pg_backend_pid()",
            ports,
        )
        # The terminated backends say why to their clients and close; whatever is left after
        # a moment (a connection just being opened) is cut.
        await self._cut(grace_s=2.0)
        logger.info("postgresql taken away", extra={"terminated": terminated})
        return terminated

    def bring_back(self) -> None:
        self.away = False
        logger.info("postgresql back", extra={"refused": self.refused})

    async def _cut(self, grace_s: float = 0.0) -> None:
        if grace_s and self._links:
            await asyncio.wait(list(self._links), timeout=grace_s)
        for writers in list(self._links.values()):
            for writer in writers:
                writer.transport.abort()
        if self._links:
            await asyncio.wait(list(self._links))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        writers = [writer]
        self._links[task] = writers
        try:
            if self.away:
                await self._refuse(reader, writer)
                return
            server = urlsplit(self.database_url)
            up_reader, up_writer = await asyncio.open_connection(
                server.hostname, server.port or 5432
            )
            writers.append(up_writer)
            if self.away:  # taken away while this one was connecting
                return
            relays = [
                asyncio.create_task(_pipe(reader, up_writer)),
                asyncio.create_task(_pipe(up_reader, writer)),
            ]
            try:
                # Either side closing ends the link, as it would end a direct connection.
                await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for relay in relays:
                    relay.cancel()
                await asyncio.gather(*relays, return_exceptions=True)
        except OSError:
            pass
        finally:
            for each in writers:
                each.transport.abort()
            del self._links[task]

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Cut the connection at once, or read the client's start-up (after declining SSL or
        GSS encryption) and answer it with 57P03, as a server in recovery does."""
        self.refused += 1
        if self.refused % 2 == 0:
            # Every other one is cut at once instead, as a server not listening (yet) does.
            return
        with contextlib.suppress(asyncio.IncompleteReadError, TimeoutError):
            async with asyncio.timeout(5):
                while True:
                    length, code = struct.unpack("!ii", await reader.readexactly(8))
                    if code not in (_SSL_REQUEST, _GSSENC_REQUEST):
                        await reader.readexactly(length - 8)
                        break
                    writer.write(b"N")
                writer.write(_REFUSAL)
                await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
