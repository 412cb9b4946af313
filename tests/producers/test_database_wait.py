"""Every route of the API waits for a pooled database connection at most database_wait_seconds,
then answers 503 with Retry-After: with every connection of the pool held (as when the broker
is away and each intake request holds one for up to publish_timeout_seconds), no route hangs.
The spec lists that 503 for every operation that takes a key.

Bounded by asyncio.wait_for far beyond the wait: no answer by then is a hang, not slowness.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from assembly.api import create_app
from heterdaad.auth import (
    ALERTS_READ,
    CAMERAS_WRITE,
    EVENTS_READ,
    SUBSCRIPTIONS_WRITE,
    Caller,
    require_caller,
)
from heterdaad.settings import Settings
from producers.api import ApiLimits
from producers.api.form import COOKIE, LOGIN_COOKIE
from producers.api.kinds import allowed_scopes
from tests.producers import bodies
from tests.producers.intake_support import Registry, running_api

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    import httpx

LIMITS = ApiLimits(database_wait_seconds=0.2, broker_retry_seconds=2)
# Far beyond the wait (0.2 s a query, a few queries a request) on a loaded machine.
HANG = 15.0



def _caller(organisation_id: str, role: str, *extra: str) -> Caller:
    scopes = frozenset(allowed_scopes(role)) | set(extra)
    return Caller(organisation_id, role, scopes, f"key-of-{organisation_id}")


CENTRE = _caller("pac-1", "alarm_centre")
RETAILER = _caller("retail-a", "retailer", EVENTS_READ, SUBSCRIPTIONS_WRITE)
POLICE = _caller("politie-ams", "police", ALERTS_READ, CAMERAS_WRITE)
TASK_ID = str(uuid.uuid4())
CAMERA = {
    "camera_id": "cam-1", "owner": "Bakkerij Jansen", "contact_phone": "020 555 0101",
    "location": {"lat": 52.3731, "lon": 4.8932}, "place": "Damstraat 1, Amsterdam",
    "view": "straat en ingang", "retention_days": 7,
}  # fmt: skip
SESSION = {COOKIE: "a-staff-session-token"}
LOGIN = {LOGIN_COOKIE: "a-login-token"}

# Each route family past its key lookup: the caller is given (the lookup has its own test
# below), so what waits for the pool is the route's own queries. (caller, method, path, request)
ROUTES: list[tuple[Caller | None, str, str, dict[str, Any]]] = [
    (RETAILER, "POST", "/v1/incident-reports", {"json": bodies.incident_report()}),
    (RETAILER, "POST", "/v1/incident-reports/batch", {"json": [bodies.incident_report()]}),
    (RETAILER, "GET", "/v1/history/events", {}),
    (POLICE, "GET", "/v1/history/alerts", {}),
    (RETAILER, "GET", "/v1/subscriptions", {}),
    (RETAILER, "POST", "/v1/subscriptions", {"json": {"webhook_url": "https://hook.example/h"}}),
    (RETAILER, "GET", "/v1/subscriptions/1", {}),
    (RETAILER, "DELETE", "/v1/subscriptions/1", {}),
    (CENTRE, "GET", "/v1/alarm-tasks", {}),
    (CENTRE, "POST", f"/v1/alarm-tasks/{TASK_ID}/verdict",
     {"json": {"method": "camera", "verified": True}}),
    (POLICE, "GET", "/v1/cameras", {}),
    (POLICE, "POST", "/v1/cameras", {"json": CAMERA}),
    (POLICE, "GET", "/v1/cameras/cam-1", {}),
    (POLICE, "DELETE", "/v1/cameras/cam-1", {}),
    # The sighting form's staff session, looked up or opened in the database.
    (None, "GET", "/meld", {"cookies": SESSION}),
    (None, "POST", "/meld", {"cookies": SESSION, "data": {"form_token": "x"}}),
    (None, "POST", "/meld/logout", {"cookies": SESSION, "data": {}}),
    (None, "POST", "/meld/login",
     {"cookies": LOGIN, "data": {"code": "ABCD-EFGH-JKLM", "login_token": LOGIN[LOGIN_COOKIE]}}),
]  # fmt: skip


# The alarm tasks' listener's connection, held by the API as long as it runs
# (producers/api/alarm_tasks.py, StoredTasks).
LISTENER = 1


@contextlib.asynccontextmanager
async def every_connection_held(pool: asyncpg.Pool, kept: int) -> AsyncIterator[None]:
    """Every connection the pool has or may open taken, as in the queue of a broker outage.

    Counted, not read off the idle ones: a connection in use elsewhere when this begins (the
    desk's sweep runs every 0.2 s) is waited for, where it would come back idle for the next
    query. `kept`: connections the app holds for good (the desk's change listener)."""
    held: list[asyncpg.pool.PoolConnectionProxy] = []
    try:
        while len(held) < pool.get_max_size() - kept:
            held.append(await pool.acquire(timeout=HANG))
        yield
    finally:
        for connection in held:
            await pool.release(connection)


async def _asked(
    client: httpx.AsyncClient, method: str, path: str, request: dict[str, Any]
) -> httpx.Response:
    cookies = request.pop("cookies", None)
    client.cookies.clear()
    if cookies:
        client.cookies.update(cookies)
    return await asyncio.wait_for(client.request(method, path, **request), HANG)


def _busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(LIMITS.broker_retry_seconds)


@pytest.mark.parametrize(
    ("caller", "method", "path", "request_"), ROUTES, ids=[f"{m} {p}" for _, m, p, _ in ROUTES]
)
async def test_a_route_without_a_free_database_connection_is_503_not_a_hang(
    settings: Settings,
    registry: Registry,
    caller: Caller | None,
    method: str,
    path: str,
    request_: dict[str, Any],
) -> None:
    async with running_api(settings, LIMITS) as (app, client):
        if caller is not None:
            app.dependency_overrides[require_caller] = lambda: caller
        async with every_connection_held(app.state.intake.pool, kept=LISTENER):
            response = await _asked(client, method, path, dict(request_))
    _busy(response)
    assert "no database connection free within 0.2 s" in response.json()["detail"]


async def test_a_key_lookup_without_a_free_database_connection_is_503_not_a_hang(
    settings: Settings, registry: Registry
) -> None:
    """The first query of every keyed request. In the long broker test (7 December) two
    requests waited over 15 s in it before the intake's own bounded wait began, and the client
    (18 s) gave up."""
    async with (
        running_api(settings, LIMITS) as (app, client),
        every_connection_held(app.state.intake.pool, kept=LISTENER),
    ):
        answers = [
            await _asked(client, method, path, {"headers": registry.auth("retail-a")})
            for method, path in (("POST", "/v1/incident-reports"), ("GET", "/v1/cameras"))
        ]
    for response in answers:
        _busy(response)
        assert "no database connection free" in response.json()["detail"]


async def test_health_says_the_database_is_unavailable_rather_than_hang(
    settings: Settings,
) -> None:
    async with running_api(settings, LIMITS) as (app, client):
        async with every_connection_held(app.state.intake.pool, kept=LISTENER):
            response = await _asked(client, "GET", "/health", {})
        again = await _asked(client, "GET", "/health", {})
    _busy(response)
    assert response.json() == {"database": False, "broker": True}
    assert again.status_code == 200, again.text


def test_the_spec_lists_503_with_retry_after_for_every_operation_that_takes_a_key() -> None:
    spec = create_app(Settings(plate_key=secrets.token_urlsafe(32), _env_file=None)).openapi()
    keyed = [
        (f"{method} {path}", operation["responses"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert len(keyed) >= 15
    health = spec["paths"]["/health"]["get"]["responses"]
    for name, responses in [*keyed, ("get /health", health)]:
        assert "503" in responses, name
        assert "Retry-After" in responses["503"]["headers"], name
