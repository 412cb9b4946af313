"""Webhook requests: the JSON body, its HMAC-SHA256 signature and one POST with its outcome."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from schemas.alerts import RecipientRole, group_reference

if TYPE_CHECKING:
    from collections.abc import Sequence

    from consumers.notify.nflog import Delivery

SIGNATURE_HEADER = "X-Heterdaad-Signature"
TIMESTAMP_HEADER = "X-Heterdaad-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ATTEMPT_HEADER = "X-Heterdaad-Attempt"
BODY_VERSION = 1


@dataclass(frozen=True)
class Outcome:
    """What one request came to: a status code, or no answer (None) with why."""

    status_code: int | None
    error: str | None
    retry_after: float | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def render(notification_key: str, members: Sequence[Delivery], reference_key: bytes) -> bytes:
    """The body of a notification: its alerts, each as the recipient's view of it.

    The same members give the same bytes, so every retry sends the very same body.
    `reference_key` keys the idempotency keys of recipients other than the police.
    """
    first = members[0]
    document = {
        "version": BODY_VERSION,
        "idempotency_key": notification_key,
        "organisation_id": first.organisation_id,
        "recipient": first.recipient,
        "group_key": _group_key(first, reference_key),
        "language": first.language,
        # Members of one notification always tell the same notice (their group says so).
        "notice": first.notice,
        "alerts": [
            {
                "idempotency_key": member.idempotency_key(reference_key),
                "notice": member.notice,
                "summary": member.summary,
                **(member.payload or {}),
            }
            for member in members
        ],
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _group_key(first: Delivery, reference_key: bytes) -> str | None:
    """A group key names the site, series and hotspot: the police see it as it is, a
    neighbourhood watch not at all, anyone else its keyed reference (`group_reference`)."""
    if first.role is RecipientRole.NEIGHBOURHOOD_WATCH:
        return None
    if first.role is RecipientRole.POLICE:
        return first.group_key
    return group_reference(first.group_key, reference_key)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` with the subscription's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_seconds: float = 300,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (no replays)."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_seconds and hmac.compare_digest(
        sign(secret, timestamp, body), signature
    )


def headers(
    secret: str, body: bytes, *, notification_key: str, attempt: int, timestamp: int
) -> dict[str, str]:
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "heterdaad-notify/1",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp, body),
        IDEMPOTENCY_HEADER: notification_key,
        ATTEMPT_HEADER: str(attempt),
    }


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    request_headers: dict[str, str],
    *,
    deadline_seconds: float,
    max_response_bytes: int,
) -> Outcome:
    """One POST within a total deadline, reading at most `max_response_bytes` of the answer.

    httpx's own timeout applies to each read: a receiver trickling a byte at a time would hold
    the request for ever, and a huge body would be read whole. Every failure becomes an
    Outcome, none is raised.
    """
    started = time.monotonic()
    try:
        async with (
            asyncio.timeout(deadline_seconds),
            client.stream("POST", url, content=body, headers=request_headers) as response,
        ):
            head = await _read_at_most(response, max_response_bytes)
    except TimeoutError:
        cut_off = f"no complete answer within {deadline_seconds:g} s"
        return Outcome(None, cut_off, None, _since(started))
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as failure:
        # A URL httpx cannot encode (a row stored before the check) fails this delivery only.
        return Outcome(None, f"{type(failure).__name__}: {failure}"[:500], None, _since(started))
    error = None
    if not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}: {head.decode(errors='replace')[:200]}"
    return Outcome(
        response.status_code, error, _retry_after(response.headers.get("Retry-After")),
        _since(started),
    )  # fmt: skip


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first `limit` bytes of the body as sent (no decompression); the rest is left unread
    and the connection closed with the response."""
    head = bytearray()
    async for chunk in response.aiter_raw():
        head += chunk[: limit - len(head)]
        if len(head) >= limit:
            break
    return bytes(head)


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form: an HTTP date from a receiver's clock is not worth trusting.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
