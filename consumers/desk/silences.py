"""The silence that muted an alert for the unit's desk, as the desk names it: what it mutes, who
set it and until when; its id is only a reference (docs/desk.md).

Notify writes `muted_by = 'silence <id>'` on the desk row (docs/notify.md); the silence's row
says the rest. Its matchers are read here as stored (name, op, value), with the branches of the
alarm sites and the names of the organisations they name; its author is named by their
organisation when the author is one (an organisation id) or a desk user (their unit's police).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from uuid import UUID

from consumers.desk.places import BranchFacts, branches_of_sites

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import asyncpg

    from consumers.desk.alerts import AlertCard

logger = logging.getLogger(__name__)

SILENCE_PREFIX = "silence "
# Notify's other reason for a muted desk row: another alert covers it (docs/notify.md).
INHIBITED_PREFIX = "inhibited by "


@dataclass(frozen=True)
class SilenceMatcher:
    name: str
    op: str
    value: str


@dataclass(frozen=True)
class SilenceFacts:
    """A silence as the desk says it: what it mutes, why, who set it, until when."""

    silence_id: UUID
    matchers: tuple[SilenceMatcher, ...]
    ends_at: datetime
    author: str
    # The author's organisation's name when the author is an organisation (its id)...
    organisation: str | None
    # ... or, when the author is a desk user, the name of their unit's police organisation.
    employer: str | None
    reason: str
    # The branches of the alarm sites and the names of the organisations the matchers name.
    sites: tuple[tuple[str, BranchFacts], ...] = ()
    organisations: tuple[tuple[str, str], ...] = ()

    def site(self, site_id: str) -> BranchFacts | None:
        return dict(self.sites).get(site_id)

    def organisation_named(self, organisation_id: str) -> str | None:
        return dict(self.organisations).get(organisation_id)


def silence_id_of(muted_by: str | None) -> UUID | None:
    """The id in 'silence <id>'; None for another reason or a malformed one."""
    if not muted_by or not muted_by.startswith(SILENCE_PREFIX):
        return None
    try:
        return UUID(muted_by.removeprefix(SILENCE_PREFIX))
    except ValueError:
        return None


def inhibitor_key_of(muted_by: str | None) -> str | None:
    """The dedup key in 'inhibited by <key>'; None for another reason."""
    if not muted_by or not muted_by.startswith(INHIBITED_PREFIX):
        return None
    return muted_by.removeprefix(INHIBITED_PREFIX) or None


_SILENCES = """
SELECT s.silence_id, s.matchers, s.ends_at, s.author, s.reason, o.name AS organisation,
       (SELECT p.name FROM desk_user u
        JOIN organisation p ON p.police_unit = u.police_unit AND p.role = 'police'
        WHERE u.username = s.author ORDER BY p.organisation_id LIMIT 1) AS employer
FROM silence s LEFT JOIN organisation o ON o.organisation_id = s.author
WHERE s.silence_id = ANY($1::uuid[])
"""


def _matchers(raw: str | list[object]) -> tuple[SilenceMatcher, ...]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    matchers = []
    for item in items:
        if isinstance(item, dict) and {"name", "value"} <= item.keys():
            matchers.append(
                SilenceMatcher(str(item["name"]), str(item.get("op", "=")), str(item["value"]))
            )
    return tuple(matchers)


async def with_silences(pool: asyncpg.Pool, cards: Sequence[AlertCard]) -> list[AlertCard]:
    """The silenced cards with their silence, in at most three queries for the whole list."""
    wanted = {found for card in cards if (found := silence_id_of(card.muted_by))}
    if not wanted:
        return list(cards)
    rows = await pool.fetch(_SILENCES, sorted(wanted))
    read = {row["silence_id"]: (row, _matchers(row["matchers"])) for row in rows}
    named = [m for _, matchers in read.values() for m in matchers if m.op == "="]
    site_ids = sorted({m.value for m in named if m.name == "site_id"})
    organisation_ids = sorted({m.value for m in named if m.name == "organisation_id"})
    sites = await branches_of_sites(pool, site_ids) if site_ids else {}
    organisations: dict[str, str] = {}
    if organisation_ids:
        organisations = dict(await pool.fetch(
            "SELECT organisation_id, name FROM organisation "
            "WHERE organisation_id = ANY($1::text[])", organisation_ids,
        ))  # fmt: skip
    silences = {}
    for silence_id, (row, matchers) in read.items():
        silences[silence_id] = SilenceFacts(
            silence_id=silence_id, matchers=matchers, ends_at=row["ends_at"],
            author=row["author"], organisation=row["organisation"], employer=row["employer"],
            reason=row["reason"],
            sites=tuple((m.value, sites[m.value]) for m in matchers
                        if m.op == "=" and m.name == "site_id" and m.value in sites),
            organisations=tuple((m.value, organisations[m.value]) for m in matchers
                                if m.op == "=" and m.name == "organisation_id"
                                and m.value in organisations),
        )  # fmt: skip
    return [
        replace(card, silence=silences.get(found)) if (found := silence_id_of(card.muted_by))
        else card
        for card in cards
    ]
