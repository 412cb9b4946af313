"""What the digest says, computed from one snapshot of the database: pure, no I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from consumers.digest import alarms, found, incidents, patterns, reconnaissance
from consumers.digest.read import TREND_MONTHS
from consumers.reliability import bands

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from consumers.digest.alarms import CentreAlarms
    from consumers.digest.found import FoundHotspot
    from consumers.digest.incidents import Ambition, MonthCounts, TrendMonth
    from consumers.digest.patterns import Pattern
    from consumers.digest.period import Month
    from consumers.digest.read import Incident, Snapshot
    from consumers.digest.reconnaissance import ReconRow
    from consumers.reliability import Band
    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rules:
    """The windows the digest shares with the stream stages, from the same settings."""

    duplicate_window: timedelta  # two reports of one robbery (series.duplicate_minutes)
    episode_window: timedelta  # presses of one alarm episode (alarms.sequential_window_seconds)
    escalation_window: timedelta  # late evidence for an episode (alarms.episode_retention_hours)
    # The digest's own rules (settings.digest, heterdaad/thresholds/digest.py).
    recon_follow_up: timedelta  # a robbery this soon after a sighting followed it
    recon_follow_up_radius_m: float  # ... and this close to the spot sighted
    escalation_radius_m: float  # an escalation alert this close to an episode belongs to it
    escalation_lead: timedelta  # ... even this much before the episode's first press

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            duplicate_window=timedelta(minutes=settings.series.duplicate_minutes),
            episode_window=timedelta(seconds=settings.alarms.sequential_window_seconds),
            escalation_window=timedelta(hours=settings.alarms.episode_retention_hours),
            recon_follow_up=settings.digest.recon_follow_up,
            recon_follow_up_radius_m=settings.digest.recon_follow_up_radius_m,
            escalation_radius_m=settings.digest.alarm_escalation_radius_m,
            escalation_lead=settings.digest.alarm_escalation_lead,
        )


@dataclass(frozen=True)
class Digest:
    month: Month
    made_at: datetime
    incidents: tuple[Incident, ...]  # of the month, each incident once
    counts: MonthCounts
    trend: tuple[TrendMonth, ...]
    ambitions: tuple[Ambition, ...]
    recon: tuple[ReconRow, ...]
    recon_warnings: int
    alarms: tuple[CentreAlarms, ...]
    hotspots: tuple[Pattern, ...]
    series: tuple[Pattern, ...]
    # Stated chances against the analysts' verdicts, all judged by the month's end.
    reliability: tuple[Band, ...]
    judgements_in_month: int

    @property
    def provisional(self) -> bool:
        """True while the month (or the follow-up of its sightings) is not over."""
        return self.made_at < self.month.end

    @property
    def previous(self) -> TrendMonth:
        return self.trend[-2]

    @property
    def false_share(self) -> float | None:
        episodes = sum(row.episodes for row in self.alarms)
        false = sum(row.false_alarms for row in self.alarms)
        return false / episodes if episodes else None


def compose(
    snapshot: Snapshot, rules: Rules, found_hotspots: Sequence[FoundHotspot] = ()
) -> Digest:
    """Every number of the digest; `found_hotspots` are what the month's own hotspot scan
    found (consumers/digest/found.py): those no hotspot alert covers join the alerted ones."""
    month = snapshot.month
    alerted = patterns.patterns(snapshot.pattern_alerts, snapshot.pattern_incidents, "hotspot")
    later = patterns.found_patterns(
        found.afterwards(found_hotspots, snapshot.hotspot_evidence),
        snapshot.scan_incidents,
        first_number=len(alerted) + 1,
    )
    every_incident = incidents.deduplicate(snapshot.incidents, rules.duplicate_window)
    of_month = incidents.in_month(every_incident, month)
    counts = incidents.count_month(of_month)
    months = incidents.trend(every_incident, month, TREND_MONTHS, snapshot.data_since)
    return Digest(
        month=month,
        made_at=snapshot.read_at,
        incidents=tuple(of_month),
        counts=counts,
        trend=tuple(months),
        ambitions=tuple(incidents.ambitions(counts, months)),
        recon=tuple(
            reconnaissance.reconnaissance(
                snapshot.sightings,
                every_incident,
                snapshot.read_at,
                within=rules.recon_follow_up,
                radius_m=rules.recon_follow_up_radius_m,
            )
        ),
        recon_warnings=snapshot.recon_warnings,
        alarms=tuple(
            alarms.false_alarms_by_centre(
                snapshot.presses,
                snapshot.escalations,
                month,
                snapshot.centre_names,
                episode_window=rules.episode_window,
                escalation_window=rules.escalation_window,
                escalation_radius_m=rules.escalation_radius_m,
                escalation_lead=rules.escalation_lead,
            )
        ),
        hotspots=(*alerted, *later),
        series=tuple(
            patterns.patterns(snapshot.pattern_alerts, snapshot.pattern_incidents, "series")
        ),
        reliability=tuple(bands(snapshot.judged)),
        judgements_in_month=snapshot.judgements_in_month,
    )
