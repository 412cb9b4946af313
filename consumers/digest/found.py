"""Hotspots of the month found at digest time, over every robbery stored for it.

The hotspot stage scans an event when it arrives; history older than `late_bound_days` (a
year of CBL exports loaded at once) is only its baseline, and no scan is run for it
(docs/hotspots.md). So the digest runs the stage's own scan (heterdaad.hotspot_scan.scan_at:
the same study period, seed and significance, from the same thresholds) as of every event
time of the month, over the robberies and sightings stored for the month and the study
period before it, as the stage would have had every event arrived on time. A cluster it
finds that shares no event with a hotspot alert is shown as found afterwards
(docs/digest.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from heterdaad.hotspot_scan import hotspot_id_for, parameters_of, scan_at

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from uuid import UUID

    from consumers.digest.period import Month
    from heterdaad.thresholds.hotspots import HotspotThresholds

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """A stored robbery or sighting as the scan sees it: when and where."""

    event_id: UUID
    at: datetime
    lat: float
    lon: float
    police_unit: str | None = None


@dataclass(frozen=True)
class FoundHotspot:
    """Clusters the month's scans found that share events, as one hotspot.

    The stage would not raise a second hotspot for a cluster sharing an event with an open
    one, so those clusters are one hotspot here too. Its id is the one the stage would have
    given it (its first cluster's events); centre and radius are those of its most unusual
    cluster.
    """

    hotspot_id: str
    event_ids: tuple[UUID, ...]  # every event of its clusters, in time order
    first_event: datetime
    last_event: datetime
    police_unit: str | None  # of its centre
    lat: float
    lon: float
    radius_m: float  # at least min_area_radius_m, as an alert's area
    window_days: float
    observed: int
    expected: float
    recurrence_days: float
    first_scan: datetime  # the event time of the first scan that found it


def found_hotspots(
    events: Sequence[ScanEvent],
    month: Month,
    since: datetime | None,
    thresholds: HotspotThresholds,
) -> list[FoundHotspot]:
    """The hotspots the stage's scan finds as of every event time of the month.

    `events`: every stored robbery (and sighting, if the stage scans them) from `study_days`
    before the month to its end; `since`: the oldest one stored, where the stage's history
    begins. A cluster counts when it is as unusual as the stage requires to raise a hotspot
    (`raise_recurrence_days`), of at most `max_clusters_per_scan` per scan. A month of 150
    events over a year of 2,000 takes about 45 s on a busy 2-core machine: the log says how
    far it got every 25 scans.
    """
    ordered = sorted(events, key=lambda e: (e.at, str(e.event_id)))
    times = sorted({e.at for e in ordered if month.start <= e.at < month.end})
    if not times or since is None:
        return []
    parameters = parameters_of(thresholds)
    by_id = {e.event_id: e for e in ordered}
    groups: list[_Group] = []
    for done, at in enumerate(times, start=1):
        scan = scan_at(
            ordered, at, since, thresholds,
            recurrence_threshold_days=thresholds.raise_recurrence_days, parameters=parameters,
        )  # fmt: skip
        for cluster in scan.result.clusters(thresholds.max_clusters_per_scan):
            recurrence = scan.recurrence_days(cluster)
            if recurrence < thresholds.raise_recurrence_days:
                continue
            members = [scan.events[i].event_id for i in cluster.members]
            centre = scan.events[cluster.centre]
            group = _Group(
                first_ids=tuple(members), first_scan=at, event_ids=set(members),
                best=(recurrence, centre.event_id, cluster.radius_m, cluster.window_days,
                      cluster.observed, cluster.expected),
            )  # fmt: skip
            groups = _joined(groups, group)
        if done % 25 == 0:
            logger.info("digest.found_hotspots month=%s scanned=%d/%d", month, done, len(times))
    found = [
        group.hotspot(by_id, thresholds.min_area_radius_m)
        for group in sorted(groups, key=lambda g: g.first_scan)
    ]
    logger.info(
        "digest.found_hotspots month=%s scans=%d events=%d found=%d",
        month, len(times), len(ordered), len(found),
    )  # fmt: skip
    return found


def afterwards(
    found: Iterable[FoundHotspot], alerted: Iterable[frozenset[UUID]]
) -> list[FoundHotspot]:
    """The found hotspots no hotspot alert covers: the same cluster is one that shares an
    event with an alert's evidence, as the stage counts a cluster sharing an event with an
    open hotspot as that hotspot."""
    named = frozenset().union(*alerted)
    return [hotspot for hotspot in found if named.isdisjoint(hotspot.event_ids)]


@dataclass
class _Group:
    first_ids: tuple[UUID, ...]
    first_scan: datetime
    event_ids: set[UUID]
    # (recurrence, centre, radius, window, observed, expected) of its most unusual cluster
    best: tuple[float, UUID, float, float, int, float]

    def hotspot(self, by_id: dict[UUID, ScanEvent], min_radius_m: float) -> FoundHotspot:
        recurrence, centre, radius, window, observed, expected = self.best
        ordered = sorted(self.event_ids, key=lambda i: (by_id[i].at, str(i)))
        return FoundHotspot(
            hotspot_id=hotspot_id_for(self.first_ids), event_ids=tuple(ordered),
            first_event=by_id[ordered[0]].at, last_event=by_id[ordered[-1]].at,
            police_unit=by_id[centre].police_unit, lat=by_id[centre].lat, lon=by_id[centre].lon,
            radius_m=max(radius, min_radius_m), window_days=window, observed=observed,
            expected=expected, recurrence_days=recurrence, first_scan=self.first_scan,
        )  # fmt: skip


def _joined(groups: list[_Group], new: _Group) -> list[_Group]:
    """The groups with `new` added, merged with every group it shares an event with."""
    touching = [g for g in groups if not g.event_ids.isdisjoint(new.event_ids)]
    if not touching:
        return [*groups, new]
    first = min([*touching, new], key=lambda g: g.first_scan)
    merged = _Group(
        first_ids=first.first_ids,
        first_scan=first.first_scan,
        event_ids=set().union(*(g.event_ids for g in touching), new.event_ids),
        best=max([*touching, new], key=lambda g: g.best[0]).best,
    )
    joined = {id(g) for g in touching}
    return [*(g for g in groups if id(g) not in joined), merged]
