"""The webhook format (body, HMAC signature) and a receiver for the notify tests to send to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiohttp import web

from consumers.notify import webhook
from consumers.notify.nflog import Delivery
from schemas.alerts import (
    GROUP_REFERENCE_PATTERN,
    RecipientRole,
    alert_reference,
    group_reference,
)
from tests.factories import REFERENCE_KEY

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

SECRET = "s" * 40


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Received:
    """One request as the receiver saw it, stamped with the receiver's clock."""

    at: datetime
    hook: str
    status: int | None  # None: the receiver hung on to it
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def key(self) -> str:
        return self.headers[webhook.IDEMPOTENCY_HEADER]

    @property
    def alert_keys(self) -> list[str]:
        views = [alert["view"] for alert in self.document["alerts"]]
        # Police views carry the whole alert; the others the fields a branch may see.
        return [
            view["alert"]["dedup_key"] if "alert" in view else view["dedup_key"] for view in views
        ]


@dataclass
class Hook:
    secret: str
    answers: list[int] = field(default_factory=list)  # status codes to give first, then 200
    hang: int = 0  # requests to hold on to (the sender times out) before answering
    # Answers 200 at once, then one byte of the body every this many seconds (0: no trickle).
    trickle_seconds: float = 0.0
    # Answers 200 with a body this long, sent as fast as the sender reads it (0: no such body).
    huge_bytes: int = 0
    sent_bytes: int = 0  # of the trickled or huge body, as far as the sender took it
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the body ended or was cut off


class WebhookReceiver:
    """An HTTP receiver on 127.0.0.1 that checks signatures the way docs/notify.md says.

    A request with a bad signature is refused with 401; the rest are kept in `requests`.
    """

    def __init__(self, *, clock: Callable[[], datetime] = utc_now, port: int = 0) -> None:
        self.clock = clock
        self.port = port
        self.hooks: dict[str, Hook] = {}
        self.requests: list[Received] = []
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def hook(self, name: str, secret: str = SECRET, **behaviour: Any) -> str:
        self.hooks[name] = Hook(secret, **behaviour)
        return self.url(name)

    def url(self, name: str) -> str:
        assert self.port, "start the receiver first, or give it a port"
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    def delivered(self, name: str | None = None) -> list[Received]:
        return [
            r for r in self.requests
            if r.status is not None and 200 <= r.status < 300 and name in (None, r.hook)
        ]  # fmt: skip

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hooks/{name}", self._receive)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.read()
        hook = self.hooks[name]
        headers = dict(request.headers)
        received = Received(self.clock(), name, None, headers, body)
        self.requests.append(received)
        if not webhook.verify(
            hook.secret,
            headers.get(webhook.TIMESTAMP_HEADER, ""),
            body,
            headers.get(webhook.SIGNATURE_HEADER, ""),
            now=self.clock().timestamp(),
        ):
            received.status = 401
            return web.Response(status=401, text="bad signature")
        if hook.trickle_seconds or hook.huge_bytes:
            return await self._stream(request, hook)
        if hook.hang > 0:
            hook.hang -= 1
            await self.release.wait()
            return web.Response(status=200)
        received.status = hook.answers.pop(0) if hook.answers else 200
        return web.Response(status=received.status, text="ok" if received.status < 300 else "no")

    async def _stream(self, request: web.Request, hook: Hook) -> web.StreamResponse:
        """A slow or a huge answer; what the sender took of it is counted in `hook`."""
        length = hook.huge_bytes or 1000
        response = web.StreamResponse(status=200, headers={"Content-Length": str(length)})
        await response.prepare(request)
        chunk = b"x" * (64 * 1024 if hook.huge_bytes else 1)
        try:
            while hook.sent_bytes < length and not self.release.is_set():
                await response.write(chunk[: length - hook.sent_bytes])
                hook.sent_bytes += min(len(chunk), length - hook.sent_bytes)
                if hook.trickle_seconds:
                    # The receiver's own pace, not a wait in the test.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.release.wait(), hook.trickle_seconds)
        except (ConnectionError, RuntimeError):
            pass  # the sender closed the connection: it stopped reading
        finally:
            hook.done.set()
        return response


# --- the format -------------------------------------------------------------------------


def _member(dedup_key: str, **overrides: Any) -> Delivery:
    fields: dict[str, Any] = {
        "dedup_key": dedup_key,
        "recipient": "ah/webhook/0123456789ab",
        "alert_id": uuid.uuid4(),
        "channel": "webhook",
        "organisation_id": "ah",
        "group_key": "kind=robbery_reported",
        "labels": {},
        "language": "nl",
        "summary": "[urgent] Overval gemeld",
        "alert_created_at": utc_now(),
        "payload": {"view": {"dedup_key": dedup_key}, "nearby_branches": []},
    }
    return Delivery(**(fields | overrides))


def test_body_lists_each_alert_with_its_own_key() -> None:
    police = RecipientRole.POLICE
    members = (_member("robbery:1", role=police), _member("robbery:2", role=police))
    body = webhook.render("robbery:1:ah/webhook/0123456789ab", members, REFERENCE_KEY)
    document = json.loads(body)
    assert document["idempotency_key"] == "robbery:1:ah/webhook/0123456789ab"
    assert [alert["idempotency_key"] for alert in document["alerts"]] == [
        "robbery:1:ah/webhook/0123456789ab",
        "robbery:2:ah/webhook/0123456789ab",
    ]
    # A retry sends the very same bytes.
    assert webhook.render("robbery:1:ah/webhook/0123456789ab", members, REFERENCE_KEY) == body


NOT_POLICE = [*(role for role in RecipientRole if role is not RecipientRole.POLICE), None]


@pytest.mark.parametrize("role", NOT_POLICE)
def test_only_the_police_see_the_dedup_key_in_idempotency_keys(role: RecipientRole | None) -> None:
    # `robbery_reported:<report id>:<recipient>` told every subscriber another organisation's
    # report id; the others get the keyed reference their view shows, as stable and unique.
    report = uuid.uuid4()
    member = _member(f"robbery_reported:{report}", role=role, payload={"nearby_branches": []})
    resolved = _member(f"robbery_reported:{report}#resolved", role=role)
    keys = [member.idempotency_key(REFERENCE_KEY), resolved.idempotency_key(REFERENCE_KEY)]
    assert keys == [
        f"{alert_reference(f'robbery_reported:{report}', REFERENCE_KEY)}:ah/webhook/0123456789ab",
        f"{alert_reference(f'robbery_reported:{report}#resolved', REFERENCE_KEY)}"
        ":ah/webhook/0123456789ab",
    ]
    assert member.idempotency_key(REFERENCE_KEY) == _member(
        f"robbery_reported:{report}", role=role
    ).idempotency_key(REFERENCE_KEY)
    body = webhook.render(keys[0], (member,), REFERENCE_KEY).decode()
    assert str(report) not in body and report.hex not in body


@pytest.mark.parametrize("role", [*RecipientRole, None])
def test_only_the_police_see_the_group_key(role: RecipientRole | None) -> None:
    # The group key names the labels it groups on: another organisation's site id, a series.
    group = "kind=hold_up_in_progress,police_unit=amsterdam,site_id=jumbo-0042"
    member = _member("hold_up:jumbo-0042:1", role=role, group_key=group)
    shown = json.loads(webhook.render("k", (member,), REFERENCE_KEY))["group_key"]
    if role is RecipientRole.POLICE:
        assert shown == group
    elif role is RecipientRole.NEIGHBOURHOOD_WATCH:
        assert shown is None
    else:
        assert shown == group_reference(group, REFERENCE_KEY) != group_reference("x", REFERENCE_KEY)
        assert re.fullmatch(GROUP_REFERENCE_PATTERN, shown)


NOW = 1_772_452_800  # 2026-03-02 12:00 UTC
BODY = b'{"alerts":[]}'
GOOD = webhook.sign(SECRET, str(NOW), BODY)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature", "valid"),
    [
        # As signed.
        (SECRET, str(NOW), BODY, GOOD, True),
        # Another body under the same signature.
        (SECRET, str(NOW), b'{"alerts":[1]}', GOOD, False),
        # Another secret.
        ("t" * 40, str(NOW), BODY, GOOD, False),
        # Another timestamp: the timestamp is signed too.
        (SECRET, str(NOW + 1), BODY, GOOD, False),
        # Not a number.
        (SECRET, "yesterday", BODY, GOOD, False),
        # A correct signature over an old timestamp: a replayed request.
        (SECRET, str(NOW - 3600), BODY, webhook.sign(SECRET, str(NOW - 3600), BODY), False),
    ],
)
def test_verify(secret: str, timestamp: str, body: bytes, signature: str, valid: bool) -> None:
    assert webhook.verify(secret, timestamp, body, signature, now=NOW) is valid


def test_signature_format() -> None:
    scheme, digest = GOOD.split("=", 1)
    assert scheme == "sha256"
    assert len(digest) == 64 and int(digest, 16) >= 0


async def test_receiver_refuses_a_forged_signature() -> None:
    async with WebhookReceiver() as receiver, httpx.AsyncClient() as client:
        url = receiver.hook("shop")
        stamp = str(int(utc_now().timestamp()))
        good = webhook.headers(SECRET, BODY, notification_key="k", attempt=1, timestamp=int(stamp))
        forged = good | {webhook.SIGNATURE_HEADER: webhook.sign("x" * 40, stamp, BODY)}
        answers = [
            (await client.post(url, content=BODY, headers=headers)).status_code
            for headers in (good, forged)
        ]
    assert answers == [200, 401]
    assert [r.status for r in receiver.requests] == [200, 401]
