"""Where a webhook may point: public addresses only, checked again where the sender connects.

A name is checked by what it resolves to, at storage and again at every request (the answer
may change between the two: DNS rebinding), and the request goes to the very address checked,
with the name kept for the Host header and TLS (SNI and the certificate).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names of this machine that need no resolver to mean it (/etc/hosts, RFC 6761).
_LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback", "localhost.localdomain"}
# IPv6 prefixes whose last 32 bits are an IPv4 address that is reached through them.
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in (
        "::/96",  # IPv4-compatible (deprecated), e.g. ::7f00:1
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local use
    )
)


class WebhookAddressRefused(httpx.ConnectError):
    """The webhook's host is, or resolves to, an address inside: no request is made."""


def refused_address(address: Address) -> str | None:
    """Why `address` is not for webhooks (loopback, private, ...), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and not (
        address.is_loopback or address.is_unspecified
    ):
        inner = _embedded_v4(address)
        if inner is not None:
            reason = refused_address(inner)
            return None if reason is None else f"{address} embeds {inner}: {reason}"
    if address.is_loopback:
        return f"{address} is loopback"
    if address.is_unspecified:
        return f"{address} is unspecified"
    if address.is_link_local:
        return f"{address} is link-local"
    if address.is_multicast:
        return f"{address} is multicast"
    if not address.is_global or address.is_private or address.is_reserved:
        # Private (RFC 1918, unique-local fc00::/7), shared, documentation, reserved.
        return f"{address} is not a public address"
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:  # 2002::/16
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _EMBEDDING_V4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refused_name(host: str) -> str | None:
    """Why a host name means this machine whatever a resolver says, or None."""
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return f"{host} names this machine"
    return None


def literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to now (a literal address is itself)."""
    address = literal(host)
    if address is not None:
        return [address]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def first_refusal(host: str, addresses: Sequence[Address]) -> str | None:
    """Why these addresses of `host` may not be contacted: one inside is enough."""
    reason = refused_name(host)
    if reason is not None:
        return reason
    for address in addresses:
        reason = refused_address(address)
        if reason is not None:
            return reason if literal(host) is not None else f"{host} resolves to {reason}"
    return None


async def storage_refusal(url: str, *, timeout_seconds: float = 3.0) -> str | None:
    """Why a webhook URL may not be stored, by what its host resolves to now, or None.

    A name that does not resolve (yet) is accepted: the sender checks again when it connects.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.host
    except (httpx.InvalidURL, UnicodeError) as error:
        # A host that pydantic takes but httpx cannot read (IDNA 2008): never sendable.
        return f"the host is not a name httpx can send to ({error})"
    reason = refused_name(host)
    if reason is not None:
        return reason
    try:
        async with asyncio.timeout(timeout_seconds):
            addresses = await resolve(host, parsed.port or 443)
    except (OSError, TimeoutError, UnicodeError):
        return None
    return first_refusal(host, addresses)


class PinnedTransport(httpx.AsyncBaseTransport):
    """Resolves the host of each request, refuses addresses inside, and connects to the
    address it checked (no second lookup an attacker's DNS could answer otherwise).

    Connections are not kept alive: a pooled connection would be chosen by address alone,
    whatever name (and certificate) it was opened for.
    """

    def __init__(self, *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            addresses = await resolve(host, request.url.port or 443)
        except (OSError, UnicodeError) as error:
            reason = f"{host} does not resolve: {error}"
            raise httpx.ConnectError(reason, request=request) from error
        if not addresses:
            raise httpx.ConnectError(f"{host} does not resolve", request=request)
        if not self.allow_private:
            refusal = first_refusal(host, addresses)
            if refusal is not None:
                logger.warning("webhook address refused", extra={"host": host, "reason": refusal})
                raise WebhookAddressRefused(refusal, request=request)
        pinned = addresses[0]
        if literal(host) is None:
            # The Host header was set from the URL already; TLS still checks the name.
            request.url = request.url.copy_with(host=str(pinned))
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
