"""Reconnaissance reports of the month and how many a robbery followed.

The rule, which uses only the anonymous columns: a sighting is *followed by a robbery* when a
robbery (overval, poging or woningoverval) took place within `radius_m` of the spot sighted
(so at the very branch, or one nearby) after the sighting and at most `within` later; both
are settings (`digest.recon_follow_up_radius_m`, 1 km; `digest.recon_follow_up_days`, 14).
A sighting whose window had not closed when the digest was made and that nothing followed yet
counts as *open*. This is simpler than the stream's evidence links (which also weigh vehicles
and descriptions) and survives the purge of payloads; it counts coincidences too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumers.digest.incidents import ROBBERY_KINDS
from schemas.distance import metres_between

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta

    from consumers.digest.read import Incident, Sighting

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconRow:
    """Sightings of one branch type (or 'all'): how many, followed by a robbery, still open."""

    branch_type: str
    sightings: int
    followed: int
    open: int

    @property
    def followed_share(self) -> float | None:
        return self.followed / self.sightings if self.sightings else None


def followed_by_robbery(
    sighting: Sighting, incidents: Sequence[Incident], *, within: timedelta, radius_m: float
) -> bool:
    until = sighting.occurred_at + within
    return any(
        incident.kind in ROBBERY_KINDS
        and sighting.occurred_at < incident.occurred_at <= until
        and metres_between(sighting.lat, sighting.lon, incident.lat, incident.lon) <= radius_m
        for incident in incidents
    )


def reconnaissance(
    sightings: Sequence[Sighting],
    incidents: Sequence[Incident],
    now: datetime,
    *,
    within: timedelta,
    radius_m: float,
) -> list[ReconRow]:
    """Per branch type, most sightings first, with an 'all' row at the end."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for sighting in sightings:
        row = counts[sighting.branch_type or "unknown"]
        row[0] += 1
        if followed_by_robbery(sighting, incidents, within=within, radius_m=radius_m):
            row[1] += 1
        elif sighting.occurred_at + within > now:
            row[2] += 1
    rows = sorted(
        (ReconRow(kind, *values) for kind, values in counts.items()),
        key=lambda row: (-row.sightings, row.branch_type),
    )
    rows.append(
        ReconRow(
            "all",
            sum(r.sightings for r in rows),
            sum(r.followed for r in rows),
            sum(r.open for r in rows),
        )
    )
    return rows
