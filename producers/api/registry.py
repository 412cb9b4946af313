"""The registry is the truth: a report's branch and an activation's site as they are registered.

Ownership (permissions.py) is checked by branch_id and site_id; the stages then act on the
location, type and chain. Those are therefore never taken from the body: every edge that
publishes a report, sighting or activation (the API and /meld through the intake, the CBL import)
passes its events through `as_registered`, which replaces them with the registered values. A
caller cannot move its own Amsterdam branch to Rotterdam or make it a jeweller, nor give a
sighting at it a location of its own. The SIA receiver builds its activations from the
registered site already (producers/sia/accounts.py).

Replaced rather than refused: a caller's copy of its own branch may be stale (a moved shop, a
new chain name) and the report is still true; what matters is that the stages act on the
registry. An alarm site that is not tied to a branch has no registered location: its
activations are refused (the SIA receiver refuses them as well).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schemas.common import Address, Branch, BranchType, Location
from schemas.events import AlarmActivation, AlarmSite, IncidentReport, ReconSighting

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from schemas.common import Contract


@dataclass(frozen=True)
class Unregistered:
    """Why an event cannot be published as registered: the field and the reason."""

    field: str
    reason: str


async def as_registered(
    connection: asyncpg.Connection, events: Sequence[Contract]
) -> list[Contract | Unregistered]:
    """Each event with its branch or site as registered (one query each for branches, sites).

    A branch or site that is not registered at all is left as it is: ownership refuses it.
    """
    branches = await _branches(connection, _branch_ids(events))
    site_ids = sorted({e.site.site_id for e in events if isinstance(e, AlarmActivation)})
    sites = await _sites(connection, site_ids)
    return [_registered(event, branches, sites) for event in events]


def _registered(
    event: Contract, branches: dict[str, Branch], sites: dict[str, AlarmSite | None]
) -> Contract | Unregistered:
    if isinstance(event, IncidentReport) or (
        isinstance(event, ReconSighting) and event.branch is not None
    ):
        assert event.branch is not None
        registered = branches.get(event.branch.branch_id)
        if registered is None:
            return event
        if isinstance(event, ReconSighting):
            # A location is for a sighting that is not at a branch: beside a branch it could
            # only contradict the registry, and a reader of the topic might take it.
            return event.model_copy(update={"branch": registered, "location": None})
        return event.model_copy(update={"branch": registered})
    if isinstance(event, AlarmActivation):
        site_id = event.site.site_id
        if site_id not in sites:
            return event
        site = sites[site_id]
        if site is None:
            return Unregistered(
                "site.location",
                f"site {site_id} has no registered location: its alarm centre must tie it to a "
                "branch (heterdaad org alarm-site --branch-id)",
            )
        return event.model_copy(update={"site": site})
    return event


def _branch_ids(events: Sequence[Contract]) -> list[str]:
    ids = set()
    for event in events:
        if isinstance(event, IncidentReport | ReconSighting) and event.branch is not None:
            ids.add(event.branch.branch_id)
    return sorted(ids)


_BRANCH_COLUMNS = "b.branch_id, b.chain, b.branch_type, b.lat, b.lon, b.street, b.postcode, b.city"


def _branch(row: asyncpg.Record) -> Branch:
    address = None
    if row["street"] and row["postcode"] and row["city"]:
        address = Address(street=row["street"], postcode=row["postcode"], city=row["city"])
    fields: dict[str, Any] = {
        "branch_id": row["branch_id"],
        "chain": row["chain"],
        "branch_type": BranchType(row["branch_type"]),
        "location": Location(lat=row["lat"], lon=row["lon"]),
        "address": address,
    }
    return Branch(**fields)


async def _branches(connection: asyncpg.Connection, branch_ids: list[str]) -> dict[str, Branch]:
    if not branch_ids:
        return {}
    rows = await connection.fetch(
        f"SELECT {_BRANCH_COLUMNS} FROM branch b WHERE b.branch_id = ANY($1::text[])",
        branch_ids,
    )
    return {row["branch_id"]: _branch(row) for row in rows}


async def _sites(
    connection: asyncpg.Connection, site_ids: list[str]
) -> dict[str, AlarmSite | None]:
    """Registered sites by id; None for a site without a branch, hence without a location."""
    if not site_ids:
        return {}
    rows = await connection.fetch(
        f"SELECT s.site_id, {_BRANCH_COLUMNS} FROM alarm_site s "
        "LEFT JOIN branch b USING (branch_id) WHERE s.site_id = ANY($1::text[])",
        site_ids,
    )
    sites: dict[str, AlarmSite | None] = {}
    for row in rows:
        if row["branch_id"] is None:
            sites[row["site_id"]] = None
            continue
        branch = _branch(row)
        sites[row["site_id"]] = AlarmSite(
            site_id=row["site_id"],
            location=branch.location,
            branch_type=branch.branch_type,
            chain=branch.chain,
            address=branch.address,
        )
    return sites
