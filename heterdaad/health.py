"""/metrics, /healthz and /readyz, answered the same way by every long-running service.

The API and the desk mount them in their own app; the worker, sink, notify and the SIA
receiver run `HealthServer`, a small HTTP server on a thread of its own (port from
Settings.metrics). Its checks run on that thread's own event loop with fresh clients, so they
work alike beside Faust's loop and ours, and a busy service loop never delays an answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, TypeAlias
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import asyncpg
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import Response

from heterdaad import metrics
from heterdaad.consumption import group_readiness
from heterdaad.kafka import make_admin

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from wsgiref.types import StartResponse, WSGIEnvironment

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

# A check returns what is wrong (nothing: ready); it may raise, which also means not ready.
Check: TypeAlias = "Callable[[], Awaitable[list[str]]]"

LIVE = {"live": True}


def database_check(settings: Settings) -> Check:
    """The database answers a query."""

    async def check() -> list[str]:
        connection = await asyncpg.connect(
            settings.database_url, timeout=settings.metrics.check_timeout_seconds
        )
        try:
            await connection.fetchval("SELECT 1")
        finally:
            await connection.close()
        return []

    return check


def broker_check(settings: Settings) -> Check:
    """The broker answers a metadata request."""

    async def check() -> list[str]:
        admin = make_admin(settings)
        await admin.start()
        try:
            await admin.list_topics()
        finally:
            await admin.close()
        return []

    return check


def group_check(settings: Settings, group: str, topics: Iterable[str], max_lag: int) -> Check:
    """The consumer group has a member and lags no more than `max_lag` on any topic; this
    asks the broker too, so it covers broker_check."""
    names = list(topics)

    async def check() -> list[str]:
        readiness = await group_readiness(settings, group, names, max_lag)
        return readiness.problems

    return check


async def readiness(checks: Sequence[Check], limit: float) -> tuple[dict[str, Any], int]:
    """The body and status of /readyz: 200 when every check passes, else 503 with why."""
    problems: list[str] = []
    for check in checks:
        try:
            problems += await asyncio.wait_for(check(), limit)
        except TimeoutError:
            problems.append(f"no answer within {limit:g} s")
        except Exception as error:  # whatever a dependency raises means: not ready, say why
            problems.append(repr(error))
    return {"ready": not problems, "problems": problems}, 200 if not problems else 503


async def sample_lag(settings: Settings, group: str, topics: Iterable[str]) -> None:
    """Set the consumer-lag gauge of `group` on `topics` from the broker's offsets."""
    found = await group_readiness(settings, group, list(topics), max_lag=2**62)
    for (topic, partition), behind in found.partition_lag.items():
        label = metrics.topic_label(topic)
        if label is not None:
            metrics.CONSUMER_LAG.labels(topic=label, partition=str(partition)).set(behind)


def exposition() -> tuple[bytes, str]:
    """The text /metrics answers, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_response() -> Response:
    """/metrics of a service that has a web app of its own (the API, the desk)."""
    text, content_type = exposition()
    return Response(text, headers={"Content-Type": content_type})


@dataclass
class Probe:
    """What a service's /readyz checks, and whose lag its /metrics reports."""

    settings: Settings
    checks: Sequence[Check]
    lag_group: str | None = None
    lag_topics: Sequence[str] = field(default_factory=list)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every few seconds: the access lines would drown the service's log.
        pass


class HealthServer:
    """The three paths on a thread of their own; `start` returns False when the port is taken."""

    def __init__(self, probe: Probe, host: str, port: int) -> None:
        self.probe = probe
        self.host = host
        self.port = port
        self._server: _ThreadingServer | None = None

    def start(self) -> bool:
        try:
            server = make_server(
                self.host, self.port, self._answer,
                server_class=_ThreadingServer, handler_class=_QuietHandler,
            )  # fmt: skip
        except OSError as error:
            logger.error(
                "health and metrics server not started: its port is taken or refused",
                extra={"host": self.host, "port": self.port, "error": repr(error)},
            )
            return False
        assert isinstance(server, _ThreadingServer)
        self._server = server
        self.port = server.server_port
        threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
        logger.info("health and metrics server started", extra={"host": self.host,
                                                                 "port": self.port})  # fmt: skip
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _json(start_response, LIVE, 200)
        if path == "/readyz":
            timeout = self.probe.settings.metrics.check_timeout_seconds
            body, status = asyncio.run(readiness(self.probe.checks, timeout))
            return _json(start_response, body, status)
        if path == "/metrics":
            if self.probe.lag_group is not None:
                try:
                    asyncio.run(asyncio.wait_for(
                        sample_lag(self.probe.settings, self.probe.lag_group,
                                   self.probe.lag_topics),
                        self.probe.settings.metrics.check_timeout_seconds,
                    ))  # fmt: skip
                except Exception as error:  # the counters are still worth answering
                    logger.warning("consumer lag not sampled", extra={"error": repr(error)})
            text, content_type = exposition()
            start_response("200 OK", [("Content-Type", content_type)])
            return [text]
        return _json(start_response, {"error": "not found"}, 404)


_REASONS = {200: "200 OK", 404: "404 Not Found", 503: "503 Service Unavailable"}


def _json(start_response: StartResponse, body: dict[str, Any], status: int) -> list[bytes]:
    start_response(_REASONS[status], [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def serve(probe: Probe, port: int) -> HealthServer | None:
    """Start a service's health server on `port` of Settings.metrics.host; None when off (0)."""
    if port == 0:
        return None
    server = HealthServer(probe, probe.settings.metrics.host, port)
    return server if server.start() else None


def serve_consumer(
    settings: Settings, group: str, topics: Sequence[str], port: int
) -> HealthServer | None:
    """The server of a consumer: ready while its group has a member within the lag bound
    (HETERDAAD_WORKER_READY_MAX_LAG) and the database answers; its group's lag per partition
    on /metrics."""
    checks = [
        group_check(settings, group, topics, settings.worker_ready_max_lag),
        database_check(settings),
    ]
    return serve(Probe(settings, checks, lag_group=group, lag_topics=list(topics)), port)
