"""The desk waits for a pooled database connection at most database_wait_seconds: a page then
answers 503 with Retry-After and a short message in its language, and the desk's background
work (the escalation sweep, the live feed, the change relay) logs a warning and tries again on
its next round instead of queueing for the pool or dying. Through real PostgreSQL and Kafka,
with every connection of the desk's pool held.

Bounded by asyncio.wait_for far beyond the wait: no answer by then is a hang, not slowness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from consumers.desk import DeskThresholds, create_desk_app
from consumers.desk.live import change_channel
from consumers.sink import store
from schemas.alerts import AlertKind, Severity
from schemas.common import PoliceUnit
from tests import factories
from tests.consumers.test_desk import FakeClock, csrf_token, log_in, publish_alerts, users
from tests.kafka_helpers import eventually
from tests.producers.test_database_wait import every_connection_held
from tests.served import served

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    from fastapi import FastAPI

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

WAIT = 0.2
THRESHOLDS = DeskThresholds(
    database_wait_seconds=WAIT, busy_retry_seconds=2, escalation_check_seconds=0.2
)
# The change listener's connection, held by the desk as long as it runs (consumers/desk/live.py).
LISTENER = 1
# Far beyond the wait (0.2 s a query, a few queries a page) on a loaded machine.
HANG = 15.0


@contextlib.asynccontextmanager
async def running_desk(
    settings: Settings, clock: FakeClock | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The desk under uvicorn and a client logged in as the Amsterdam coordinator."""
    app = create_desk_app(settings, thresholds=THRESHOLDS, clock=clock or FakeClock())
    async with (
        served(app, settings, name="desk") as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=HANG) as client,
    ):
        assert (await log_in(client)).status_code == 303
        yield app, client


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message and r.levelname == "WARNING"]


async def _warned(caplog: pytest.LogCaptureFixture, message: str) -> bool:
    # False, not an empty list: eventually takes anything but None and False as done.
    return bool(_logged(caplog, message))


async def test_a_desk_page_without_a_free_database_connection_is_503_not_a_hang(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    alert = factories.alert()
    await store(db, alert)
    async with running_desk(settings) as (app, client):
        csrf = csrf_token((await client.get("/")).text)
        asked: list[tuple[str, str, dict[str, str] | None]] = [
            ("GET", "/", None), ("GET", "/?lang=en", None),
            ("GET", f"/alerts/{alert.alert_id}", None),
            ("POST", f"/alerts/{alert.alert_id}/acknowledge", {"csrf": csrf}),
            ("GET", "/stream", None),
        ]  # fmt: skip
        answers = []
        async with every_connection_held(app.state.desk.pool, kept=LISTENER):
            for method, path, form in asked:
                started = time.monotonic()
                response = await asyncio.wait_for(client.request(method, path, data=form), HANG)
                answers.append((path, response, time.monotonic() - started))
            ready = await asyncio.wait_for(client.get("/readyz"), HANG)
        again = await client.get("/")
    for path, response, took in answers:
        assert response.status_code == 503, (path, response.text)
        assert response.headers["Retry-After"] == "2", path
        # A page waits for its session's connection, then answers: not a queue for the pool.
        assert took < HANG / 3, (path, took)
        english = "lang=en" in path
        said = ("The system is busy: no database connection came free within 0.2 s. Try again "
                "in 2 seconds." if english else "Het systeem is druk: binnen 0.2 s kwam geen "
                "databaseverbinding vrij. Probeer het over 2 seconden opnieuw.")  # fmt: skip
        assert response.text == said, (path, response.text)
    assert ready.status_code == 503 and ready.json()["database"] is False
    # The next request after the busy spell is served as ever.
    assert again.status_code == 200 and "Meldingen" in again.text
    # Nothing was acknowledged by the refused POST.
    assert await db.fetchval(
        "SELECT acknowledged_at FROM alert WHERE alert_id = $1", alert.alert_id
    ) is None


async def test_the_escalation_sweep_survives_a_busy_round_and_escalates_on_the_next(
    settings: Settings, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    await users(db)
    clock = FakeClock()
    hold_up = factories.alert(kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL)
    await store(db, hold_up)
    caplog.set_level(logging.WARNING, logger="consumers.desk")
    async with running_desk(settings, clock) as (app, _):
        sweep = next(t for t in app.state.desk_tasks if t.get_name() == "desk-escalation")
        async with every_connection_held(app.state.desk.pool, kept=LISTENER):
            clock.offset = timedelta(minutes=5)  # the hold-up is overdue from now on
            busy = "escalation sweep skipped: no database connection free"
            await eventually(lambda: _warned(caplog, busy), timeout=HANG)
            assert not sweep.done()
            assert await db.fetchval(
                "SELECT escalated_at FROM alert WHERE alert_id = $1", hold_up.alert_id
            ) is None
        # The pool free again: the next sweep escalates it.
        escalated = await eventually(
            lambda: db.fetchval(
                "SELECT escalated_at FROM alert WHERE alert_id = $1", hold_up.alert_id
            ),
            timeout=HANG,
        )
        assert escalated is not None and not sweep.done()


async def test_the_live_feed_and_the_change_relay_survive_a_busy_round(
    settings: Settings, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    await users(db)
    caplog.set_level(logging.WARNING, logger="consumers.desk")
    during, after = factories.alert(), factories.alert()
    handled = factories.alert()
    await store(db, handled)
    async with running_desk(settings) as (app, _):
        desk = app.state.desk
        feed = next(t for t in app.state.desk_tasks if t.get_name() == "desk-feed")
        with desk.fanout.subscribe(PoliceUnit.AMSTERDAM, None) as stream:
            async with every_connection_held(desk.pool, kept=LISTENER):
                # A new alert is shown at once though the desk cannot store it now.
                await publish_alerts(settings, during)
                shown = await asyncio.wait_for(stream.next(HANG), HANG)
                assert shown is not None and shown.card.alert_id == during.alert_id
                assert _logged(caplog, "alert not stored by desk: no database connection free")
                # A change made elsewhere is relayed once its card can be read.
                payload = {"alert_id": str(handled.alert_id), "police_unit": "amsterdam",
                           "change": "acknowledged"}  # fmt: skip
                await db.execute(
                    "SELECT pg_notify($1, $2)", change_channel(settings), json.dumps(payload)
                )
                busy = "change not relayed yet: no database connection free, trying again"
                await eventually(lambda: _warned(caplog, busy), timeout=HANG)
                assert not feed.done()
            relayed = await asyncio.wait_for(stream.next(HANG), HANG)
            assert relayed is not None and relayed.change == "acknowledged"
            assert relayed.card.alert_id == handled.alert_id
            # The next alert is stored by the desk again (no sink runs here).
            await publish_alerts(settings, after)
            shown = await asyncio.wait_for(stream.next(HANG), HANG)
            assert shown is not None and shown.card.alert_id == after.alert_id
        assert not feed.done()
    assert await db.fetchval("SELECT count(*) FROM alert WHERE alert_id = $1", after.alert_id)
