"""Hotspots and series of the month, from the alerts the stream stages raised about them.

One pattern usually has several alerts (a series grows, a hotspot is re-confirmed); they are
grouped by series or hotspot id, or by dedup key where the payload has been purged. A
pattern's incidents are every member its alerts name, each with when it happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.alerts import Severity

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from consumers.digest.found import FoundHotspot
    from consumers.digest.read import Incident, PatternAlert

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pattern:
    """A hotspot or series: where, since when, how serious, and the incidents behind it."""

    kind: str
    label: str  # H1, H2... and S1, S2...: what the map and table show
    pattern_id: str
    alerts: int
    severity: str
    police_unit: str
    lat: float
    lon: float
    radius_m: float | None
    # When its alerts' events happened (not when they were raised): for a pattern whose
    # incidents are not at hand, as for sightings only.
    first_event: datetime
    last_event: datetime
    branch_types: tuple[str, ...]
    incidents: tuple[Incident, ...]  # in time order
    # A hotspot no alert was raised about: found by the digest's own scan over every robbery
    # stored for the month, history loaded later too (consumers/digest/found.py).
    found_afterwards: bool = False

    @property
    def police_units(self) -> tuple[str, ...]:
        """Units of its incidents (a series may cross a border), else the alert's unit."""
        units = sorted({i.police_unit for i in self.incidents if i.police_unit})
        return tuple(units) or (self.police_unit,)

    @property
    def first_incident(self) -> datetime | None:
        return self.incidents[0].occurred_at if self.incidents else None

    @property
    def last_incident(self) -> datetime | None:
        return self.incidents[-1].occurred_at if self.incidents else None


def patterns(
    alerts: Sequence[PatternAlert], incidents: Mapping[UUID, Incident], kind: str
) -> list[Pattern]:
    """The month's patterns of one kind ('hotspot' or 'series'), numbered by first alert."""
    groups: dict[str, list[PatternAlert]] = {}
    for alert in alerts:
        if alert.kind == kind:
            groups.setdefault(alert.pattern_id, []).append(alert)
    if kind == "series":
        groups = _relabelled_series_joined(groups)
    prefix = "H" if kind == "hotspot" else "S"
    found = []
    ordered = sorted(groups.values(), key=lambda group: min(a.created_at for a in group))
    for number, group in enumerate(ordered, start=1):
        found.append(_pattern(f"{prefix}{number}", group, incidents))
    logger.info("digest.patterns kind=%s count=%d", kind, len(found))
    return found


def found_patterns(
    found: Sequence[FoundHotspot], incidents: Mapping[UUID, Incident], *, first_number: int
) -> list[Pattern]:
    """Hotspots found at digest time only, numbered on from the alerted ones (H3, H4...): no
    alert, the severity a raised hotspot's alert has, the area of its latest cluster."""
    found_list = []
    for number, hotspot in enumerate(found, start=first_number):
        members = sorted(
            (incidents[i] for i in hotspot.event_ids if i in incidents),
            key=lambda i: (i.occurred_at, i.event_id),
        )
        found_list.append(
            Pattern(
                kind="hotspot",
                label=f"H{number}",
                pattern_id=hotspot.hotspot_id,
                alerts=0,
                severity=Severity.MEDIUM.value,
                police_unit=hotspot.police_unit or "",
                lat=hotspot.lat,
                lon=hotspot.lon,
                radius_m=hotspot.radius_m,
                first_event=hotspot.first_event,
                last_event=hotspot.last_event,
                branch_types=tuple(sorted({i.branch_type for i in members if i.branch_type})),
                incidents=tuple(members),
                found_afterwards=True,
            )
        )
    logger.info("digest.patterns kind=hotspot found_afterwards=%d", len(found_list))
    return found_list


def _relabelled_series_joined(
    groups: Mapping[str, list[PatternAlert]],
) -> dict[str, list[PatternAlert]]:
    """Groups of one series under two ids joined: those that name a robbery in common.

    A late report of a robbery before a series' first one re-labels the series (its id is its
    earliest robbery, docs/series-linkage.md), and the alerts raised before keep the old id. A
    robbery stays in the series it joined (a series only grows or merges), so two ids that
    name one robbery are one series, counted once under the id of its newest alert.
    """
    owner: dict[str, str] = {pattern_id: pattern_id for pattern_id in groups}

    def root(pattern_id: str) -> str:
        while owner[pattern_id] != pattern_id:
            pattern_id = owner[pattern_id]
        return pattern_id

    first_named: dict[UUID, str] = {}
    for pattern_id, group in groups.items():
        for member in (m for alert in group for m in alert.member_ids):
            other = first_named.setdefault(member, pattern_id)
            owner[root(pattern_id)] = root(other)
    joined: dict[str, list[PatternAlert]] = {}
    for pattern_id, group in groups.items():
        joined.setdefault(root(pattern_id), []).extend(group)
    return joined


def _pattern(
    label: str, group: Sequence[PatternAlert], incidents: Mapping[UUID, Incident]
) -> Pattern:
    group = sorted(group, key=lambda a: a.created_at)
    latest = group[-1]
    # Membership from the series itself: every member any of its alerts names (a link names
    # the member that joined and the one it joined), not only the joiners.
    members = {i for alert in group for i in alert.member_ids if i in incidents}
    linked = sorted((incidents[i] for i in members), key=lambda i: (i.occurred_at, i.event_id))
    branch_types = {t for alert in group for t in alert.branch_types}
    branch_types |= {i.branch_type for i in linked if i.branch_type}
    return Pattern(
        kind=latest.kind,
        label=label,
        pattern_id=latest.pattern_id,
        alerts=len(group),
        severity=min((Severity(a.severity) for a in group), key=lambda s: s.rank).value,
        police_unit=latest.police_unit,
        lat=latest.lat,
        lon=latest.lon,
        radius_m=latest.radius_m,
        first_event=min(a.occurred_at for a in group),
        last_event=max(a.occurred_at for a in group),
        branch_types=tuple(sorted(branch_types)),
        incidents=tuple(linked),
    )
