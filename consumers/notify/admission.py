"""What must hold before a subscription is stored, beyond its spec: a webhook that points
outside. The API and the CLI ask (the cap per organisation is kept by create_subscription)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumers.notify.addresses import storage_refusal

if TYPE_CHECKING:
    from consumers.notify.subscriptions import SubscriptionSpec


async def webhook_refusal(spec: SubscriptionSpec) -> str | None:
    """Why the webhook points inside (by name, literal address or what it resolves to now)."""
    if spec.webhook_url is None:
        return None
    return await storage_refusal(str(spec.webhook_url))
