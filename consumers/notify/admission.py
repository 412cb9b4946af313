"""What must hold before a subscription is stored, beyond its spec: a webhook that points
outside, and no more subscriptions per organisation than the cap. The API and the CLI ask."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumers.notify.addresses import storage_refusal

if TYPE_CHECKING:
    from consumers.notify.admin import Database
    from consumers.notify.subscriptions import SubscriptionSpec


async def webhook_refusal(spec: SubscriptionSpec) -> str | None:
    """Why the webhook points inside (by name, literal address or what it resolves to now)."""
    if spec.webhook_url is None:
        return None
    return await storage_refusal(str(spec.webhook_url))


async def cap_refusal(db: Database, organisation_id: str, cap: int) -> str | None:
    """Why the organisation may not add a subscription: it has `cap` already.

    Each subscription is another copy of every matching alert; an organisation needs a few.
    Counted before the insert, outside its transaction: two creations at the very same moment
    may pass one over the cap, which bounds nothing worse than one more copy.
    """
    count: int = await db.fetchval(
        "SELECT count(*) FROM subscription WHERE organisation_id = $1", organisation_id
    )
    if count < cap:
        return None
    return (
        f"organisation {organisation_id} has {count} subscriptions, the most allowed "
        f"(notify.max_subscriptions_per_organisation = {cap}): delete one first"
    )
