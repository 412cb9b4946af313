"""Hotspots of a month found at digest time, over every robbery stored for it, history too."""

from __future__ import annotations

import csv
import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from consumers.digest import Month, write_digest
from consumers.digest.found import FoundHotspot, ScanEvent, afterwards, found_hotspots
from consumers.digest.period import NL_TIME
from consumers.sink import store, store_many
from heterdaad.thresholds.hotspots import HotspotThresholds
from schemas.alerts import AlertKind, Area, EvidenceLink, Severity
from schemas.common import Location, PoliceUnit
from schemas.geography import police_unit_for
from streams.hotspot_tracking import HotspotState, HotspotTracker, Observation
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


def test_the_month_scan_finds_what_the_stage_raises_had_it_arrived_on_time() -> None:
    events = sorted([*background(120, 2, seed=3), *planted(seed=5)], key=lambda e: e.at)
    cluster = {e.event_id for e in planted(seed=5)}
    found = {
        month: found_hotspots(events, month, events[0].at, THRESHOLDS)
        for month in (FEBRUARY, MARCH)
    }
    # The stage, every event on time from February on, the history before it loaded.
    history = [_observation(e) for e in events if e.at < FEBRUARY.start]
    state = HotspotState(
        since=history[0].at, watermark=history[-1].at, observations=tuple(history)
    )
    tracker = HotspotTracker(THRESHOLDS)
    raised: dict[Month, list[str]] = {FEBRUARY: [], MARCH: []}
    for event in (e for e in events if FEBRUARY.start <= e.at < MARCH.end):
        state, changes = tracker.observe(state, _observation(event))
        for change in changes:
            if change.status == "raised":
                raised[Month.parse(change.scanned_at.astimezone(NL_TIME).date())].append(change.hotspot.hotspot_id)

    assert found[FEBRUARY] == [] and raised[FEBRUARY] == []
    assert [f.hotspot_id for f in found[MARCH]] == raised[MARCH]
    (hotspot,) = found[MARCH]
    assert cluster <= set(hotspot.event_ids) and len(hotspot.event_ids) <= len(cluster) + 1
    assert hotspot.recurrence_days >= THRESHOLDS.raise_recurrence_days
    assert hotspot.radius_m >= THRESHOLDS.min_area_radius_m
    assert hotspot.first_event.date() == datetime(2025, 3, 10).date()


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
            first_scan=NOW,
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
