"""The health and metrics server of the consumers: its three paths and a port that is taken."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import httpx
import pytest

from heterdaad import health, metrics
from heterdaad.health import HealthServer, Probe, readiness, serve
from infra.local import free_port
from schemas.topics import ALERTS

if TYPE_CHECKING:
    from heterdaad.settings import Settings


async def _fine() -> list[str]:
    return []


async def _backlog() -> list[str]:
    return ["alerts.v1 lags 9 records"]


async def _broken() -> list[str]:
    raise ConnectionRefusedError("database refused")


async def test_readiness_says_every_problem(bare_settings: Settings) -> None:
    assert await readiness([_fine], 1.0) == ({"ready": True, "problems": []}, 200)
    body, status = await readiness([_fine, _backlog, _broken], 1.0)
    assert status == 503 and body["ready"] is False
    assert body["problems"][0] == "alerts.v1 lags 9 records"
    assert "database refused" in body["problems"][1]


def test_the_three_paths(bare_settings: Settings) -> None:
    server = HealthServer(Probe(bare_settings, [_backlog]), "127.0.0.1", 0)
    assert server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        metrics.DEAD_LETTERS.labels(topic="alerts.v1", reason="no_value").inc()
        assert httpx.get(f"{base}/healthz").json() == {"live": True}
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "problems": ["alerts.v1 lags 9 records"]}
        scraped = httpx.get(f"{base}/metrics")
        assert scraped.headers["content-type"].startswith("text/plain")
        assert 'heterdaad_dead_letters_total{reason="no_value",topic="alerts.v1"}' in scraped.text
        assert httpx.get(f"{base}/other").status_code == 404
    finally:
        server.stop()


def test_a_taken_port_or_port_0_leaves_the_service_running(bare_settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Observing must not stop alerting: the service runs on, without the server.
        assert not HealthServer(Probe(bare_settings, []), "127.0.0.1", port).start()
    assert serve(Probe(bare_settings, []), 0) is None


@pytest.mark.integration
async def test_the_checks_ask_the_real_broker_and_database(settings: Settings) -> None:
    topic = ALERTS.name(settings.topic_prefix)
    ready = [health.database_check(settings), health.broker_check(settings)]
    assert await readiness(ready, 10.0) == ({"ready": True, "problems": []}, 200)
    # Nobody consumes in this test's group; a database that is not there does not answer.
    nowhere = f"postgresql://x:y@127.0.0.1:{free_port()}/z"
    gone = settings.model_copy(update={"database_url": nowhere})
    body, status = await readiness(
        [health.group_check(settings, settings.app_id, [topic], 1000), health.database_check(gone)],
        10.0,
    )
    assert status == 503
    assert body["problems"][0] == f"consumer group {settings.app_id} has no active member"
    assert body["problems"][1].startswith("ConnectionRefusedError(")
