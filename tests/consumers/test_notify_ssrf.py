"""Webhooks never reach inside (issue 11, finding 6): names resolving to loopback and IPv6
forms embedding it are refused when stored (API, CLI) and again by the sender, which connects
to the address it checked."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from consumers.notify.addresses import first_refusal, refused_address, refused_name
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from producers.api import admin
from tests import factories
from tests.consumers.test_notify_service import FAST, _publish, _robbery, _rows, _running
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg

    from heterdaad.settings import Settings

STRICT = FAST.model_copy(update={"allow_private_webhooks": False, "max_attempts": 1})


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        # Loopback, as itself and embedded in IPv6 forms that reach it.
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::7f00:1", "embeds 127.0.0.1"),  # IPv4-compatible
        ("::ffff:127.0.0.1", "embeds 127.0.0.1"),  # IPv4-mapped
        ("64:ff9b::7f00:1", "embeds 127.0.0.1"),  # NAT64
        ("2002:7f00:1::", "embeds 127.0.0.1"),  # 6to4
        ("64:ff9b::a00:7", "embeds 10.0.0.7"),  # NAT64 to a private network
        # Private, link-local (cloud metadata), unique-local, unspecified, multicast, shared.
        ("10.0.0.7", "not a public address"),
        ("192.168.1.1", "not a public address"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "not a public address"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "not a public address"),
        # Public ones, also behind NAT64 and 6to4.
        ("145.97.39.155", None),
        ("2a00:1450:400e:80f::200e", None),
        ("64:ff9b::8108:808", None),
        ("2002:9161:279b::", None),
    ],
)
def test_which_addresses_are_inside(address: str, refused: str | None) -> None:
    reason = refused_address(ipaddress.ip_address(address))
    assert (reason is None) == (refused is None), reason
    assert refused is None or refused in (reason or "")


@pytest.mark.parametrize(
    ("host", "inside"),
    [
        ("localhost", True),
        ("localhost.", True),  # the same name, fully qualified
        ("LocalHost..", True),
        ("ip6-localhost", True),
        ("ip6-loopback", True),
        ("hooks.localhost", True),
        ("hooks.example", False),
        ("localhost.example", False),
    ],
)
def test_which_names_mean_this_machine(host: str, inside: bool) -> None:
    assert (refused_name(host) is not None) is inside


def _own_name() -> str:
    """A name other than localhost that this machine's resolver answers with an inside address."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if first_refusal(name, addresses) is None:
        pytest.skip(f"{name} resolves to a public address here")
    return name


def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    name = _own_name()
    assert "resolves to" in (first_refusal(name, [ipaddress.ip_address("127.0.0.1")]) or "")


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP port that counts the connections made to it (TLS or not, nothing is answered)."""
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, connections


async def _organisation(db: asyncpg.Connection) -> None:
    await admin.create_organisation(db, "ah", "Albert Heijn", "retailer")
    # At the Dam, where the alerts are: a retailer hears only of alerts near its branches.
    await admin.create_branch(db, "ah", factories.branch(branch_id="ah-1"))


async def _store(db: asyncpg.Connection, url: str) -> None:
    """Stored as if the name had been public then (DNS rebinding): past the storage check."""
    spec = SubscriptionSpec.model_validate({"webhook_url": url, "webhook_secret": SECRET})
    await create_subscription(db, "ah", spec, actor="test")


async def _dead(db: asyncpg.Connection, dedup_key: str) -> asyncpg.Record | None:
    row = (await _rows(db, dedup_key)).get("ah/webhook")
    return row if row is not None and row["state"] in ("dead", "delivered") else None


@pytest.mark.integration
async def test_the_sender_refuses_a_name_of_this_machine(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with WebhookReceiver() as receiver:
        await _organisation(db)
        await _store(db, f"http://localhost:{receiver.port}/hooks/ah")
        receiver.hook("ah")
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings, thresholds=STRICT):
            row = await eventually(lambda: _dead(db, alert.dedup_key))
    assert receiver.requests == []
    assert row["state"] == "dead"
    assert "localhost names this machine" in row["last_error"]


@pytest.mark.integration
async def test_the_sender_checks_what_a_name_resolves_to_when_it_connects(
    settings: Settings, db: asyncpg.Connection, listener: tuple[int, list[int]]
) -> None:
    name = _own_name()
    port, connections = listener
    await _organisation(db)
    await _store(db, f"https://{name}:{port}/hooks/ah")
    alert = _robbery()
    await _publish(settings, alert)
    async with _running(settings, thresholds=STRICT):
        row = await eventually(lambda: _dead(db, alert.dedup_key))
    assert connections == [], "the sender connected to an address inside"
    assert f"{name} resolves to" in row["last_error"]


@pytest.mark.integration
async def test_the_request_goes_to_the_checked_address_with_the_name_kept(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # Allowed here (a local relay): the name is resolved once, the Host header keeps it.
    async with WebhookReceiver() as receiver:
        await _organisation(db)
        await _store(db, f"http://localhost:{receiver.port}/hooks/ah")
        receiver.hook("ah")
        alert = _robbery()
        await _publish(settings, alert)
        async with _running(settings):
            row = await eventually(lambda: _dead(db, alert.dedup_key))
    assert row["state"] == "delivered"
    [request] = receiver.requests
    assert request.headers["Host"] == f"localhost:{receiver.port}"


@pytest.mark.integration
async def test_a_url_httpx_cannot_encode_fails_its_delivery_not_the_sender(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # Stored before the storage check refused it (IDNA 2008 has no emoji: 💩.la).
    await _organisation(db)
    await _store(db, "https://xn--ls8h.la/hooks/ah")
    alert = _robbery()
    await _publish(settings, alert)
    async with _running(settings, thresholds=STRICT):
        row = await eventually(lambda: _dead(db, alert.dedup_key))
    assert row["state"] == "dead"
    assert "not allowed" in row["last_error"]


INSIDE_URLS = [
    "https://localhost./h",
    "https://ip6-localhost/h",
    "https://[::7f00:1]/h",
    "https://[64:ff9b::7f00:1]/h",
    "https://[2002:7f00:1::]/h",
]


@pytest.mark.integration
@pytest.mark.parametrize("url", [*INSIDE_URLS, "own name"])
async def test_the_cli_refuses_a_webhook_inside(
    settings: Settings, db: asyncpg.Connection, url: str
) -> None:
    if url == "own name":
        url = f"https://{_own_name()}/h"
    await _organisation(db)
    environment = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "assembly.cli", "notify", "subscribe", "ah", "--webhook-url", url],
        env=environment | {
            "HETERDAAD_DATABASE_URL": settings.database_url,
            "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
        },
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "webhook_url must be a public address" in result.stderr
    assert await db.fetchval("SELECT count(*) FROM subscription") == 0
