"""Hotspots of the month found at digest time, over every robbery stored for it.

The hotspot stage scans an event when it arrives; history older than `late_bound_days` (a
year of CBL exports loaded at once) is only its baseline, and no scan is run for it
(docs/hotspots.md). So the digest runs the stage's own scans (heterdaad.hotspot_scan.step_at:
the same study period, seed and significance, from the same thresholds, and the same rules to
raise, keep, grow and close a hotspot) as of every event time of the month, over the
robberies and sightings stored for the month and the study period before it, as the stage
would have had every event arrived on time. A hotspot it finds that shares no event with a
hotspot alert is shown as found afterwards (docs/digest.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from heterdaad.hotspot_scan import Hotspot, parameters_of, scan_at, step_at

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from uuid import UUID

    from consumers.digest.period import Month
    from heterdaad.hotspot_scan import ScanAt
    from heterdaad.thresholds.hotspots import HotspotThresholds

logger = logging.getLogger(__name__)

# The month's scans reach this many longest windows beyond it: back to a scan after which no
# hotspot can be open (the stage's state is then known), on until the month's hotspots close.
REACH_WINDOWS = 4
# The log says how far the scans got every this many.
LOG_EVERY = 25


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
    """A hotspot as the stage would have raised, grown and closed it had every event arrived
    on time: its id (its first cluster's events), every event that ever supported it (what
    its alerts name) and the figures of its latest cluster (what its latest alert shows)."""

    hotspot_id: str
    event_ids: tuple[UUID, ...]  # in time order
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
    opened_at: datetime  # the event time of the scan that raised it
    closed_at: datetime | None  # of the scan that closed it; None: open at the last scan
    versions: int = 1


def scan_reach(thresholds: HotspotThresholds) -> timedelta:
    """How far before and after the month its scans may run."""
    return timedelta(days=REACH_WINDOWS * thresholds.max_window_days)


def scan_span(month: Month, thresholds: HotspotThresholds) -> tuple[datetime, datetime]:
    """The events the month's scans need: from the study period of the earliest scan before
    the month to the latest one after it."""
    reach = scan_reach(thresholds)
    return month.start - reach - timedelta(days=thresholds.study_days), month.end + reach


def found_hotspots(
    events: Sequence[ScanEvent],
    month: Month,
    since: datetime | None,
    thresholds: HotspotThresholds,
) -> list[FoundHotspot]:
    """The hotspots the stage's scans raise, grow or close as of the event times of the
    month, or that name an event of it, in the order they were raised.

    `events`: every stored robbery (and sighting, if the stage scans them) of scan_span;
    `since`: the oldest one stored, where the stage's history begins. The scans start at the
    last event time before the month after which no hotspot can be open, whatever was open
    before (no cluster is as unusual as `keep_recurrence_days`), so the hotspots open at the
    month's start and their ids are the stage's; and they go on after the month until its
    hotspots have closed (at most scan_reach either way). A month of 150 events over a year
    of 2,000 takes about 45 s on a busy 2-core machine: the log says how far it got every
    25 scans.
    """
    ordered = sorted(events, key=lambda e: (e.at, str(e.event_id)))
    times = sorted({e.at for e in ordered})
    in_month = [t for t in times if month.start <= t < month.end]
    if not in_month or since is None:
        return []
    parameters = parameters_of(thresholds)
    reach = scan_reach(thresholds)
    of_month = {e.event_id for e in ordered if month.start <= e.at < month.end}
    before = [t for t in times if month.start - reach <= t < month.start]
    after = [t for t in times if month.end <= t < month.end + reach]
    scans = 0

    def counted() -> None:
        nonlocal scans
        scans += 1
        if scans % LOG_EVERY == 0:
            logger.info(
                "digest.found_hotspots month=%s scanned=%d of the month's %d and up to %d "
                "around it", month, scans, len(in_month), len(before) + len(after),
            )  # fmt: skip

    start = 0
    for index in range(len(before) - 1, -1, -1):
        scanned = scan_at(
            ordered, before[index], since, thresholds,
            recurrence_threshold_days=thresholds.keep_recurrence_days, parameters=parameters,
        )  # fmt: skip
        counted()
        if _nothing_kept(scanned, thresholds):
            start = index + 1
            break
    else:
        if before:
            logger.info(
                "digest.found_hotspots month=%s no quiet scan within %s before it: scanned "
                "from %s as if no hotspot were open", month, reach, before[0].isoformat(),
            )  # fmt: skip
    tracks: dict[str, _Track] = {}
    open_now: tuple[Hotspot, ...] = ()
    window = timedelta(days=thresholds.max_window_days)
    for at in (*before[start:], *in_month, *after):
        if at >= month.end + window and not any(
            tracks[h.hotspot_id].of_month for h in open_now
        ):
            break  # no later scan can find a cluster with an event of the month
        step = step_at(ordered, at, since, open_now, thresholds, parameters=parameters)
        counted()
        for status, hotspot in step.changes:
            track = tracks.setdefault(hotspot.hotspot_id, _Track(latest=hotspot))
            track.latest = hotspot
            if status == "closed":
                track.closed_at = at
            track.of_month |= month.start <= at < month.end
        open_now = step.open
        for hotspot in open_now:  # the latest figures, also where no new version came
            tracks[hotspot.hotspot_id].latest = hotspot
            tracks[hotspot.hotspot_id].of_month |= not of_month.isdisjoint(hotspot.event_ids)
    by_id = {e.event_id: e for e in ordered}
    found = [
        track.found(by_id, thresholds.min_area_radius_m)
        for track in tracks.values()
        if track.of_month or not of_month.isdisjoint(track.latest.event_ids)
    ]
    logger.info(
        "digest.found_hotspots month=%s scans=%d events=%d found=%d",
        month, scans, len(ordered), len(found),
    )  # fmt: skip
    return found


def _nothing_kept(scanned: ScanAt[ScanEvent], thresholds: HotspotThresholds) -> bool:
    """No cluster of the scan is as unusual as keeping a hotspot open takes: after it none
    is open, whatever was before (and none is raised, the raise threshold being higher)."""
    candidates = scanned.result.candidates  # the most likely, and so the most unusual, first
    return (
        not candidates
        or scanned.recurrence_days(candidates[0]) < thresholds.keep_recurrence_days
    )


def afterwards(
    found: Iterable[FoundHotspot], alerted: Iterable[frozenset[UUID]]
) -> list[FoundHotspot]:
    """The found hotspots no hotspot alert covers: the same cluster is one that shares an
    event with an alert's evidence, as the stage counts a cluster sharing an event with an
    open hotspot as that hotspot."""
    named = frozenset().union(*alerted)
    return [hotspot for hotspot in found if named.isdisjoint(hotspot.event_ids)]


@dataclass
class _Track:
    """A hotspot as the scans went: its latest version, when it closed, whether of the month."""

    latest: Hotspot
    closed_at: datetime | None = None
    of_month: bool = field(default=False)

    def found(self, by_id: dict[UUID, ScanEvent], min_radius_m: float) -> FoundHotspot:
        hotspot = self.latest
        ordered = sorted(hotspot.event_ids, key=lambda i: (by_id[i].at, str(i)))
        centre = by_id[hotspot.centre]
        return FoundHotspot(
            hotspot_id=hotspot.hotspot_id, event_ids=tuple(ordered),
            first_event=by_id[ordered[0]].at, last_event=by_id[ordered[-1]].at,
            police_unit=centre.police_unit, lat=centre.lat, lon=centre.lon,
            radius_m=max(hotspot.radius_m, min_radius_m), window_days=hotspot.window_days,
            observed=hotspot.observed, expected=hotspot.expected,
            recurrence_days=hotspot.recurrence_days, opened_at=hotspot.opened_at,
            closed_at=self.closed_at, versions=hotspot.version,
        )  # fmt: skip
