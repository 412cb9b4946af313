"""Hotspots of a month found at digest time, over every robbery stored for it, history too."""

from __future__ import annotations

import csv
import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from consumers.digest import Month, write_digest
from consumers.digest.found import (
    FoundHotspot,
    ScanEvent,
    afterwards,
    found_hotspots,
    scan_span,
)
from consumers.sink import store, store_many
from heterdaad.thresholds.hotspots import HotspotThresholds
from schemas.alerts import AlertKind, Area, EvidenceLink, Severity
from schemas.common import Location, PoliceUnit
from schemas.geography import police_unit_for
from streams.hotspot_tracking import HotspotChange, HotspotState, HotspotTracker, Observation
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

THRESHOLDS = HotspotThresholds()
# Places about 50-150 km apart: a background without space-time clusters.
TOWNS = [
    (53.2194, 6.5665), (52.5168, 6.0830), (51.9851, 5.8987), (52.1601, 4.4970),
    (51.4416, 5.4697), (50.8514, 5.6910), (51.4988, 3.6136), (52.6324, 4.7534),
    (52.5200, 5.4700), (51.5719, 4.7683), (52.2215, 6.8937), (53.2012, 5.7999),
]  # fmt: skip
UTRECHT = (52.0907, 5.1214)
START = datetime(2025, 1, 1, tzinfo=UTC)
FEBRUARY, MARCH = Month(2025, 2), Month(2025, 3)
# Long after: all of it arrives as history, more than late_bound_days behind.
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _near(lat: float, lon: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    north = metres * math.cos(math.radians(bearing_deg)) / 111_195
    east = metres * math.sin(math.radians(bearing_deg)) / (111_195 * math.cos(math.radians(lat)))
    return lat + north, lon + east


def _event(rng: random.Random, at: datetime, lat: float, lon: float) -> ScanEvent:
    unit = police_unit_for(Location(lat=lat, lon=lon)).value
    return ScanEvent(uuid.UUID(int=rng.getrandbits(128), version=4), at, lat, lon, unit)


def background(days: int, per_day: int, seed: int) -> list[ScanEvent]:
    """Robberies a few km around the TOWNS at random times from START: no interaction."""
    rng = random.Random(seed)
    events = []
    for _ in range(days * per_day):
        lat, lon = _near(*rng.choice(TOWNS), rng.uniform(0, 4000), rng.uniform(0, 360))
        events.append(_event(rng, START + timedelta(days=rng.uniform(0, days)), lat, lon))
    return events


def planted(seed: int) -> list[ScanEvent]:
    """Five robberies within a kilometre in Utrecht in two days of March 2025."""
    rng = random.Random(seed)
    first = datetime(2025, 3, 10, 20, tzinfo=UTC)
    return [
        _event(rng, first + timedelta(hours=8 * k + rng.uniform(0, 2)),
               *_near(*UTRECHT, rng.uniform(0, 1000), rng.uniform(0, 360)))
        for k in range(5)
    ]  # fmt: skip


def _observation(event: ScanEvent) -> Observation:
    return Observation(
        event_id=event.event_id, event_type="incident_report", at=event.at, lat=event.lat,
        lon=event.lon, police_unit=PoliceUnit(event.police_unit or "midden-nederland"),
    )  # fmt: skip


def _as_the_stage_sends_them(events: list[ScanEvent], month: Month) -> list[FoundHotspot]:
    """The hotspot alerts the stage sends with every event on time from the first, as the
    digest of `month` would list them: those with an alert made in it or an event of it."""
    tracker, state = HotspotTracker(THRESHOLDS), HotspotState()
    changes: dict[str, list[HotspotChange]] = {}
    for event in events:
        state, new = tracker.observe(state, _observation(event))
        for change in new:
            changes.setdefault(change.hotspot.hotspot_id, []).append(change)
    by_id = {e.event_id: e for e in events}
    sent = []
    for hotspot_id, made in changes.items():
        named = sorted({o.event_id for c in made for o in c.events},
                       key=lambda i: (by_id[i].at, str(i)))  # fmt: skip
        if not any(month.start <= c.scanned_at < month.end for c in made) and not any(
            month.start <= by_id[i].at < month.end for i in named
        ):
            continue
        (raised,) = [c for c in made if c.status == "raised"]
        closed = [c.scanned_at for c in made if c.status == "closed"]
        latest = [c.hotspot for c in made][-1]
        centre = by_id[latest.centre]
        sent.append(FoundHotspot(
            hotspot_id=hotspot_id, event_ids=tuple(named), first_event=by_id[named[0]].at,
            last_event=by_id[named[-1]].at, police_unit=centre.police_unit, lat=centre.lat,
            lon=centre.lon, radius_m=max(latest.radius_m, THRESHOLDS.min_area_radius_m),
            window_days=latest.window_days, observed=latest.observed, expected=latest.expected,
            recurrence_days=latest.recurrence_days, opened_at=raised.scanned_at,
            closed_at=closed[0] if closed else None, versions=latest.version,
        ))  # fmt: skip
    return sent


def _digest_scans(events: list[ScanEvent], month: Month) -> list[FoundHotspot]:
    """The month's scans over what the digest reads for it."""
    start, end = scan_span(month, THRESHOLDS)
    stored = [e for e in events if start <= e.at < end]
    return found_hotspots(stored, month, events[0].at, THRESHOLDS)


def test_the_month_scan_finds_what_the_stage_raises_had_it_arrived_on_time() -> None:
    # Every event on time from the first: the digest's found hotspots are the stage's alerts,
    # with the same ids, the same events named, opened and closed at the same scans.
    events = sorted([*background(120, 2, seed=3), *planted(seed=5)], key=lambda e: e.at)
    cluster = {e.event_id for e in planted(seed=5)}
    found = {month: _digest_scans(events, month) for month in (FEBRUARY, MARCH)}

    assert found[FEBRUARY] == _as_the_stage_sends_them(events, FEBRUARY) == []
    assert found[MARCH] == _as_the_stage_sends_them(events, MARCH)
    (hotspot,) = found[MARCH]
    assert cluster <= set(hotspot.event_ids) and len(hotspot.event_ids) <= len(cluster) + 1
    assert hotspot.radius_m >= THRESHOLDS.min_area_radius_m
    assert hotspot.first_event.date() == datetime(2025, 3, 10).date()
    assert hotspot.opened_at <= hotspot.last_event < (hotspot.closed_at or NOW)


def bridged(seed: int) -> list[ScanEvent]:
    """Robberies within 700 m in Utrecht: four on 20 February 2025, one every day and a half
    to the end of February, four on 2 March. The stage raises a hotspot in February and
    closes it, raises another on 2 March at the raise threshold and grows it at the keep
    threshold with robberies before its own: the clusters of March's scans at the raise
    threshold hold only four of its eight."""
    rng = random.Random(seed)
    first = datetime(2025, 2, 20, 10, tzinfo=UTC)
    hours = [0, 3, 6, 9, 40, 76, 112, 148, 184, 220, 234, 236, 238, 240]
    return [
        _event(rng, first + timedelta(hours=h),
               *_near(*UTRECHT, rng.uniform(0, 700), rng.uniform(0, 360)))
        for h in hours
    ]  # fmt: skip


def test_a_hotspot_grown_at_the_keep_threshold_lists_every_event_its_alerts_name() -> None:
    events = sorted([*background(120, 2, seed=3), *bridged(seed=7)], key=lambda e: e.at)
    stage = {month: _as_the_stage_sends_them(events, month) for month in (FEBRUARY, MARCH)}
    found = {month: _digest_scans(events, month) for month in (FEBRUARY, MARCH)}

    def named(hotspots: list[FoundHotspot]) -> dict[str, tuple[uuid.UUID, ...]]:
        return {h.hotspot_id: h.event_ids for h in hotspots}

    # The clusters at the raise threshold alone named four of March's eight.
    assert named(found[MARCH]) == named(stage[MARCH])
    assert found == stage
    (february, also_february), (march,) = found[FEBRUARY], found[MARCH]
    assert february.closed_at is not None and february.closed_at < MARCH.start
    # March's names robberies of February: in February's digest too, as an alert would be.
    assert also_february == march
    assert MARCH.start <= march.opened_at < (march.closed_at or NOW)
    assert len(march.event_ids) == 8 and march.versions > 1


def test_a_month_without_events_is_not_scanned() -> None:
    events = background(40, 2, seed=3)  # January and a bit of February
    assert found_hotspots(events, MARCH, events[0].at, THRESHOLDS) == []
    assert found_hotspots([], MARCH, None, THRESHOLDS) == []


def test_a_found_cluster_sharing_an_event_with_an_alert_is_that_alerts() -> None:
    ids = [uuid.uuid4() for _ in range(6)]

    def hotspot(*members: uuid.UUID) -> FoundHotspot:
        return FoundHotspot(
            hotspot_id=f"hs-{members[0].hex}", event_ids=members, first_event=NOW,
            last_event=NOW, police_unit="midden-nederland", lat=52.0, lon=5.0, radius_m=500,
            window_days=1.0, observed=len(members), expected=0.1, recurrence_days=500,
            opened_at=NOW, closed_at=None,
        )  # fmt: skip

    covered, alone = hotspot(*ids[:3]), hotspot(*ids[3:])
    assert afterwards([covered, alone], [frozenset({ids[2], uuid.uuid4()})]) == [alone]
    assert afterwards([covered, alone], []) == [covered, alone]


# --- through PostgreSQL ----------------------------------------------------------------------


def read_csv(directory: Path, month: str, name: str) -> list[dict[str, str]]:
    path = directory / f"digest-{month}-nl-{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


async def _load_as_history(db: asyncpg.Connection, events: list[ScanEvent]) -> None:
    """The robberies stored as a CBL import leaves them: long after they happened."""
    reports = [
        factories.incident_report(
            event_id=e.event_id,
            occurred_at=e.at,
            branch=factories.branch(
                branch_id=f"cbl-{e.event_id.hex[:8]}", location=Location(lat=e.lat, lon=e.lon)
            ),
        )
        for e in events
    ]
    async with db.transaction():
        assert await store_many(db, reports) == []


async def test_a_cluster_in_history_loaded_later_is_in_its_months_digest_as_found_afterwards(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # A year of CBL exports loaded at once: the stage takes it as baseline and raises nothing
    # (docs/hotspots.md), so the digest of March 2025 listed no hotspot.
    cluster = planted(seed=5)
    await _load_as_history(db, [*background(120, 2, seed=3), *cluster])
    steps: list[str] = []
    await write_digest(settings, "2025-03", tmp_path, now=NOW,
                       progress=lambda step, *_: steps.append(step))  # fmt: skip

    (row,) = read_csv(tmp_path, "2025-03", "hotspots")
    assert (row["found"], row["found_label"]) == ("afterwards", "achteraf gevonden")
    assert (row["label"], row["alerts"], row["incidents"]) == ("H1", "0", "5")
    assert row["police_units"] == "midden-nederland"
    assert row["first"].startswith("2025-03-10") and row["last"].startswith("2025-03-12")
    page = (tmp_path / "digest-2025-03-nl.html").read_text(encoding="utf-8")
    assert '<td class="">achteraf gevonden</td>' in page
    assert steps[:3] == ["reading data", "scanning for hotspots", "counting"]
    # February: the same background, no cluster: none.
    await write_digest(settings, "2025-02", tmp_path, now=NOW)
    assert read_csv(tmp_path, "2025-02", "hotspots") == []

    # Where a hotspot alert names one of its robberies, the digest shows the alert instead.
    centre = Location(lat=cluster[0].lat, lon=cluster[0].lon)
    await store(db, factories.alert(
        kind=AlertKind.HOTSPOT, severity=Severity.MEDIUM, dedup_key="hotspot:hs-live:v1",
        hotspot_id="hs-live", area=Area(center=centre, radius_m=800),
        police_unit=PoliceUnit.MIDDEN_NEDERLAND, vehicles=[], persons=[],
        created_at=NOW, occurred_at=cluster[2].at, historical=True,
        evidence=[EvidenceLink(event_id=e.event_id, event_type="incident_report",
                               occurred_at=e.at, distance_m=0.0, time_gap_s=0.0, reasons=[])
                  for e in cluster[:3]],
    ))  # fmt: skip
    await write_digest(settings, "2025-03", tmp_path, now=NOW, language="en")
    path = tmp_path / "digest-2025-03-en-hotspots.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["pattern_id"], row["found"], row["found_label"]) == ("hs-live", "live", "alert")
