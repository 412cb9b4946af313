"""Who may post what: role and key scope per kind, and ownership of alarm sites and branches.

Decisions:
- alarm centres post alarm activations only as themselves and only for sites registered to
  them under the subscriber account given;
- retailers post incident reports and sightings only as themselves and only for their own
  branches; a sighting must name one of them;
- a trade association (the CBL) posts as itself for its own branches and for every branch of
  its member organisations (table association_member), and may report a sighting by location
  alone, as its tool collects reports from shops that are not registered one by one;
- police and admin organisations post nothing here: police read alerts elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.events import AlarmActivation, IncidentReport, ReconSighting

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from heterdaad.auth import Caller
    from producers.api.kinds import EventKind
    from schemas.common import Contract


def kind_refusal(caller: Caller, kind: EventKind) -> str | None:
    """Why this caller may not post this kind at all, or None."""
    if caller.role == "police":
        return "police organisations may read alerts but not post events"
    if caller.role not in kind.roles:
        return f"an organisation with role {caller.role} may not post {kind.title}"
    if kind.scope not in caller.scopes:
        return f"this key lacks the scope {kind.scope}"
    return None


async def ownership_refusals(
    connection: asyncpg.Connection, caller: Caller, events: Sequence[Contract]
) -> list[str | None]:
    """For each event, why the caller may not post it (it is not theirs), or None."""
    activations = [event for event in events if isinstance(event, AlarmActivation)]
    sites = await _sites(connection, activations)
    branch_events = [event for event in events if not isinstance(event, AlarmActivation)]
    branches = await _branch_owners(connection, branch_events)
    members = await _members(connection, caller)
    refusals: list[str | None] = []
    for event in events:
        if isinstance(event, AlarmActivation):
            refusals.append(_alarm_refusal(caller, event, sites))
        elif isinstance(event, IncidentReport):
            refusals.append(
                _branch_refusal(
                    caller, event.reporting_org, event.branch.branch_id, branches, members
                )
            )
        elif isinstance(event, ReconSighting):
            refusals.append(_sighting_refusal(caller, event, branches, members))
        else:
            refusals.append(f"{type(event).__name__} is not taken in here")
    return refusals


def _alarm_refusal(
    caller: Caller, activation: AlarmActivation, sites: dict[str, tuple[str, str]]
) -> str | None:
    if activation.alarm_centre != caller.organisation_id:
        return f"alarm_centre {activation.alarm_centre} is not your organisation"
    site_id = activation.site.site_id
    registered = sites.get(site_id)
    # A site of another centre is reported as unknown: callers learn nothing of others' sites.
    if registered is None or registered[0] != caller.organisation_id:
        return f"site {site_id} is not registered to your alarm centre"
    if registered[1] != activation.subscriber_account:
        return f"site {site_id} is registered under another subscriber account"
    return None


def _sighting_refusal(
    caller: Caller,
    sighting: ReconSighting,
    branches: dict[str, str],
    members: set[str],
) -> str | None:
    if sighting.branch is not None:
        return _branch_refusal(
            caller, sighting.reporter_org, sighting.branch.branch_id, branches, members
        )
    if sighting.reporter_org != caller.organisation_id:
        return f"reporter_org {sighting.reporter_org} is not your organisation"
    if caller.role != "trade_association":
        return "name one of your branches: a retailer reports sightings at its own branches"
    return None


def _branch_refusal(
    caller: Caller, reporting_org: str, branch_id: str, branches: dict[str, str], members: set[str]
) -> str | None:
    if reporting_org != caller.organisation_id:
        return f"reporting organisation {reporting_org} is not your organisation"
    owner = branches.get(branch_id)
    if owner == caller.organisation_id or (owner is not None and owner in members):
        return None
    if caller.role == "trade_association":
        return f"branch {branch_id} is not a branch of yours or of your member organisations"
    return f"branch {branch_id} is not one of your branches"


async def _sites(
    connection: asyncpg.Connection, activations: Sequence[AlarmActivation]
) -> dict[str, tuple[str, str]]:
    if not activations:
        return {}
    rows = await connection.fetch(
        "SELECT site_id, alarm_centre, subscriber_account FROM alarm_site "
        "WHERE site_id = ANY($1::text[])",
        sorted({activation.site.site_id for activation in activations}),
    )
    return {row["site_id"]: (row["alarm_centre"], row["subscriber_account"]) for row in rows}


async def _branch_owners(
    connection: asyncpg.Connection, events: Sequence[Contract]
) -> dict[str, str]:
    branch_ids = set()
    for event in events:
        branch = event.branch if isinstance(event, IncidentReport | ReconSighting) else None
        if branch is not None:
            branch_ids.add(branch.branch_id)
    if not branch_ids:
        return {}
    rows = await connection.fetch(
        "SELECT branch_id, organisation_id FROM branch WHERE branch_id = ANY($1::text[])",
        sorted(branch_ids),
    )
    return {row["branch_id"]: row["organisation_id"] for row in rows}


async def _members(connection: asyncpg.Connection, caller: Caller) -> set[str]:
    if caller.role != "trade_association":
        return set()
    rows = await connection.fetch(
        "SELECT member_id FROM association_member WHERE association_id = $1",
        caller.organisation_id,
    )
    return {row["member_id"] for row in rows}
