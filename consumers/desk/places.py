"""Which branch an alert is about and, for a series, its robberies: read from the registry.

An alert names a site (a hold-up) or links events (reports, sightings); the coordinator needs
the branch, its chain and street address, not coordinates. The registry (`branch`, joined from
`alarm_site` or from the event's `branch_id`) is the truth; an event whose branch was never
registered (a CBL import of an unregistered shop) still carries its branch in its payload until
that is purged, so that is the fallback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from uuid import UUID

from schemas.alerts import HOLD_UP_KINDS, AlertKind
from schemas.common import BranchType
from schemas.distance import metres_between

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import asyncpg

    from consumers.desk.alerts import AlertCard

logger = logging.getLogger(__name__)
# Liveview is for watching while it happens: a hold-up alarm, verified or not (docs/cameras.md).
LIVEVIEW_KINDS = HOLD_UP_KINDS

# An event's branch is the alert's own when it lies this close to the alert's centre: a robbery
# report's alert is centred on its branch, a series' alert is not on any one of them.
SAME_PLACE_M = 100.0


@dataclass(frozen=True)
class BranchFacts:
    """A branch as the desk names it: chain, type, street address and place."""

    branch_id: str | None
    chain: str | None
    branch_type: BranchType | None
    street: str | None
    postcode: str | None
    city: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class Member:
    """One linked event (a series' robbery, an alert's evidence): when, where and what."""

    event_id: UUID
    event_type: str
    occurred_at: datetime
    branch: BranchFacts
    # The event's own kind: a report's incident type, an activation's signal.
    kind: str | None = None


def _branch_type(text: str | None) -> BranchType | None:
    try:
        return BranchType(text) if text else None
    except ValueError:
        return None


def _facts(row: asyncpg.Record) -> BranchFacts:
    return BranchFacts(
        branch_id=row["branch_id"], chain=row["chain"],
        branch_type=_branch_type(row["branch_type"]), street=row["street"],
        postcode=row["postcode"], city=row["city"], lat=row["lat"], lon=row["lon"],
    )  # fmt: skip


_SITES = """
SELECT s.site_id, b.branch_id, b.chain, b.branch_type, b.street, b.postcode, b.city, b.lat, b.lon
FROM alarm_site s JOIN branch b USING (branch_id) WHERE s.site_id = ANY($1::text[])
"""

# The registered branch first (an activation's through its alarm site); the event's own copy
# (registered when it was accepted) after.
_EVENTS = """
SELECT e.event_id, e.event_type, e.occurred_at, e.kind,
       coalesce(b.lat, e.lat) AS lat, coalesce(b.lon, e.lon) AS lon,
       coalesce(b.branch_id, e.branch_id, e.payload#>>'{site,site_id}') AS branch_id,
       coalesce(b.chain, e.payload#>>'{branch,chain}', e.payload#>>'{site,chain}') AS chain,
       coalesce(b.branch_type, e.branch_type) AS branch_type,
       coalesce(b.street, e.payload#>>'{branch,address,street}',
                e.payload#>>'{site,address,street}') AS street,
       coalesce(b.postcode, e.payload#>>'{branch,address,postcode}',
                e.payload#>>'{site,address,postcode}') AS postcode,
       coalesce(b.city, e.payload#>>'{branch,address,city}',
                e.payload#>>'{site,address,city}') AS city
FROM event e
LEFT JOIN alarm_site s ON s.site_id = e.payload#>>'{site,site_id}'
LEFT JOIN branch b ON b.branch_id = coalesce(e.branch_id, s.branch_id)
WHERE e.event_id = ANY($1::uuid[])
"""


async def with_places(pool: asyncpg.Pool, cards: Sequence[AlertCard]) -> list[AlertCard]:
    """The cards with their branch and series members, in two queries for the whole list."""
    site_ids = sorted({c.alert.site_id for c in cards if c.alert and c.alert.site_id})
    event_ids = sorted({event_id for card in cards for event_id in _linked(card)})
    sites = await branches_of_sites(pool, site_ids) if site_ids else {}
    events: dict[UUID, asyncpg.Record] = {}
    if event_ids:
        events = {row["event_id"]: row for row in await pool.fetch(_EVENTS, event_ids)}
    placed = [_placed(card, sites, events) for card in cards]
    return await with_liveview(pool, placed)


async def branches_of_sites(pool: asyncpg.Pool, site_ids: Sequence[str]) -> dict[str, BranchFacts]:
    """The registered branch of each alarm site (those registered), by site id."""
    return {row["site_id"]: _facts(row) for row in await pool.fetch(_SITES, list(site_ids))}


async def with_liveview(pool: asyncpg.Pool, cards: Sequence[AlertCard]) -> list[AlertCard]:
    """Hold-up cards at an alarm site with Liveview get its link, in one query for the list;
    not a historical one (a backlog, a replay): the camera shows now, not then."""
    holdups = {site for card in cards if (site := _live_site(card))}
    if not holdups:
        return list(cards)
    links = dict(await pool.fetch(
        "SELECT site_id, liveview_url FROM alarm_site "
        "WHERE site_id = ANY($1::text[]) AND liveview_url IS NOT NULL", sorted(holdups),
    ))  # fmt: skip
    return [
        replace(card, liveview_url=links.get(site)) if (site := _live_site(card)) else card
        for card in cards
    ]


def _live_site(card: AlertCard) -> str | None:
    """The alarm site of a hold-up happening now, whose camera is worth watching."""
    alert = card.alert
    if card.kind not in LIVEVIEW_KINDS or alert is None or alert.historical:
        return None
    return alert.site_id


def _linked(card: AlertCard) -> list[UUID]:
    """The events an alert links: its evidence and, for a series, each link's other member (a
    series' first robbery is only ever the one the second was linked with)."""
    if card.alert is None:
        return []
    ids = [link.event_id for link in card.alert.evidence]
    if card.alert.kind is AlertKind.SERIES:
        for link in card.alert.evidence:
            for reason in link.reasons:
                if reason.feature == "linked_with" and isinstance(reason.value, str):
                    try:
                        ids.append(UUID(reason.value))
                    except ValueError:
                        logger.warning("malformed series link", extra={"value": reason.value})
    return list(dict.fromkeys(ids))


def _placed(
    card: AlertCard, sites: dict[str, BranchFacts], events: dict[UUID, asyncpg.Record]
) -> AlertCard:
    alert = card.alert
    if alert is None:
        return card
    linked = [events[event_id] for event_id in _linked(card) if event_id in events]
    branch = sites.get(alert.site_id) if alert.site_id else None
    if branch is None and alert.kind is not AlertKind.SERIES:
        nearby = [
            _facts(row) for row in linked
            if metres_between(row["lat"], row["lon"], card.lat, card.lon) <= SAME_PLACE_M
        ]  # fmt: skip
        branch = nearby[0] if nearby else None
    members: tuple[Member, ...] = ()
    if alert.kind is AlertKind.SERIES:
        robberies = [row for row in linked if row["event_type"] == "incident_report"]
        members = tuple(_member(row) for row in sorted(robberies, key=lambda r: r["occurred_at"]))
    branches = {row["branch_id"]: _facts(row) for row in linked if row["branch_id"]}
    return replace(
        card, branch=branch, members=members, linked_branches=tuple(branches.values()),
        linked_events=tuple(_member(row) for row in linked),
    )  # fmt: skip


def _member(row: asyncpg.Record) -> Member:
    return Member(row["event_id"], row["event_type"], row["occurred_at"], _facts(row), row["kind"])
