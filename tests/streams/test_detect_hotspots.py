"""Hotspots: the scan's statistics, the hotspot lifecycle, the false-alarm rate and detection."""

from __future__ import annotations

import functools
import math
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from pydantic import ValidationError

from heterdaad.hotspot_scan import (
    ScanParameters,
    Status,
    glr_tables,
    neighbourhood,
    recurrence_days,
    scan,
    study_period,
)
from heterdaad.thresholds.hotspots import HotspotThresholds
from producers.simulator import SimulationConfig, generate
from schemas.alerts import Alert, AlertKind, Severity
from schemas.common import BranchType, Location, PoliceUnit
from schemas.distance import metres_between_many
from schemas.events import IncidentReport, ReconBehaviour, ReconSighting
from schemas.geography import police_unit_for
from schemas.topics import ALERTS
from schemas.wire import decode_as
from streams.detect_hotspots import hotspot_alert
from streams.hotspot_tracking import (
    HotspotChange,
    HotspotState,
    HotspotTracker,
    Observation,
    observation_of,
    reported_twice,
)
from tests import factories
from tests.kafka_helpers import publish_all, read_topic
from tests.processes import running

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from heterdaad.settings import Settings

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
UTRECHT = (52.0907, 5.1214)
PARAMETERS = ScanParameters(
    max_radius_m=3000, max_share=0.5, window_days=(1.0, 2.0, 3.0), min_observed=3, replications=999
)
# Places spread over the country (about 50-150 km apart) for a background without clusters.
TOWNS = [
    (53.2194, 6.5665), (52.5168, 6.0830), (51.9851, 5.8987), (52.1601, 4.4970),
    (51.4416, 5.4697), (50.8514, 5.6910), (51.4988, 3.6136), (52.6324, 4.7534),
    (52.5200, 5.4700), (51.5719, 4.7683), (52.2215, 6.8937), (53.2012, 5.7999),
]  # fmt: skip


def observation(at: datetime, lat: float, lon: float, **overrides: Any) -> Observation:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "event_type": "incident_report",
        "at": at,
        "lat": lat,
        "lon": lon,
        "police_unit": PoliceUnit.MIDDEN_NEDERLAND,
        "branch_type": BranchType.SUPERMARKET,
    }
    return Observation(**(fields | overrides))


def near(lat: float, lon: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    """The point `metres` from (lat, lon) in direction `bearing_deg` (flat-earth, < 5 km)."""
    north = metres * math.cos(math.radians(bearing_deg)) / 111_195
    east = metres * math.sin(math.radians(bearing_deg)) / (111_195 * math.cos(math.radians(lat)))
    return lat + north, lon + east


def background(days: int, per_day: int, *, end: datetime, seed: int) -> list[Observation]:
    """Events at the TOWNS, a few km around each, at random times: no space-time interaction."""
    rng = random.Random(seed)
    events = [observation(end, *TOWNS[0])]
    for _ in range(days * per_day - 1):
        lat, lon = near(*rng.choice(TOWNS), rng.uniform(0, 4000), rng.uniform(0, 360))
        events.append(observation(end - timedelta(days=rng.uniform(0, days)), lat, lon))
    return sorted(events, key=lambda o: o.at)


def loaded(history: Iterable[Observation]) -> HotspotState:
    """A state that has seen the history, without a scan after each event."""
    kept = sorted(history, key=lambda o: o.at)
    return HotspotState(since=kept[0].at, watermark=kept[-1].at, observations=tuple(kept))


@functools.cache
def simulated(seed: int, days: int) -> tuple[Observation, ...]:
    """The simulator's robberies and sightings of a period; alarms are not scanned."""
    config = SimulationConfig(
        seed=seed, days=days, alarm_activations_per_day=0, test_signals_per_day=0
    )
    events = generate(config).events
    models = [e.model for e in events if isinstance(e.model, IncidentReport | ReconSighting)]
    return tuple(sorted((observation_of(m) for m in models), key=lambda o: o.at))


def shuffled_times(events: Iterable[Observation], seed: int) -> list[Observation]:
    """The same places and the same times, dealt out at random: no space-time interaction."""
    events = list(events)
    times = [o.at for o in events]
    random.Random(seed).shuffle(times)
    dealt = [o.model_copy(update={"at": t}) for o, t in zip(events, times, strict=True)]
    return sorted(dealt, key=lambda o: o.at)


def replay(
    tracker: HotspotTracker, state: HotspotState, events: Iterable[Observation]
) -> tuple[HotspotState, list[HotspotChange]]:
    changes: list[HotspotChange] = []
    for event in events:
        state, new = tracker.observe(state, event)
        changes += new
    return state, changes


# --- the statistic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "circle", "expected"),
    [
        (5, 5, 5 * math.log(5 / 0.5) + 95 * math.log(95 / 99.5)),  # mu = 5*10/100 = 0.5
        (2, 5, 0.0),  # fewer than min_observed = 3: never a cluster
        (3, 40, 0.0),  # mu = 4 > 3 observed: fewer than expected is no cluster
        (3, 51, 0.0),  # the circle holds more than half of all events
    ],
)
def test_glr_of_a_cylinder(count: int, circle: int, expected: float) -> None:
    tables = glr_tables(np.array([10]), total=100, min_observed=3, max_share=0.5, largest=60)
    assert tables[0, count, circle] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("p_value", "scans_per_day", "days", "raised"),
    [
        # The smallest p of 999 permutations at 4 scans a day: once in 250 days, raised at N=100.
        (0.001, 4.0, 250.0, True),
        # The paced replay, about 4.5 events a day: p 0.002 is once in 111 days.
        (0.002, 4.5, 1 / 0.009, True),
        # p 0.003 at 4.5 a day: once in 74 days, more often than N = 100 allows.
        (0.003, 4.5, 1 / 0.0135, False),
        # Above 10 events a day even the smallest p cannot reach N = 100 with 999 permutations.
        (0.001, 12.0, 1 / 0.012, False),
        # No scans, or p 0: never by chance.
        (0.0, 4.0, math.inf, True),
    ],
)
def test_recurrence_interval_against_the_national_threshold(
    p_value: float, scans_per_day: float, days: float, raised: bool
) -> None:
    interval = recurrence_days(p_value, scans_per_day)
    assert interval == pytest.approx(days)
    assert (interval >= HotspotThresholds().raise_recurrence_days) is raised


@pytest.mark.parametrize(
    "points",
    [
        [(52.0, 5.0)] * 4,  # one branch robbed four times: every pair at distance 0
        [(52.0, 5.0), (52.01, 5.0), (52.02, 5.0), (52.03, 5.0)],  # a line, 1.1 km steps
        [(52.0, 5.0), (52.0, 5.05), (53.0, 6.0), (51.0, 4.0)],  # two far beyond the radius
        [(52.0, 5.0), (52.0, 5.0), (52.02, 5.0), (51.99, 5.01)],  # ties and a mix
    ],
)
def test_neighbourhood_matches_brute_force(points: list[tuple[float, float]]) -> None:
    lat, lon = (np.array(axis) for axis in zip(*points, strict=True))
    pairs = neighbourhood(lat, lon, 3000.0)
    n = len(points)
    centre, edge = np.divmod(np.arange(n * n), n)
    distance = metres_between_many(lat[centre], lon[centre], lat[edge], lon[edge]).reshape(n, n)
    radii, sizes = pairs.lookup(centre.reshape(n, n), edge.reshape(n, n))
    within = distance <= 3000.0
    assert np.array_equal(np.isfinite(radii), within)
    assert np.allclose(radii[within], distance[within])
    brute = (distance[:, None, :] <= distance[:, :, None]).sum(axis=2)
    assert np.array_equal(sizes[within], brute[within])


def _scan_of(events: list[Observation], seed: int = 1) -> tuple[list[Observation], Any]:
    now = max(o.at for o in events)
    result = scan(
        [o.lat for o in events],
        [o.lon for o in events],
        [(now - o.at) / timedelta(days=1) for o in events],
        PARAMETERS,
        np.random.default_rng(seed),
        alpha=0.002,  # about a 100-day recurrence interval at 5 scans a day
    )
    return events, result


def _cluster_at_utrecht(count: int, days: float) -> list[Observation]:
    return [
        observation(T0 - timedelta(days=days * i / count), *near(*UTRECHT, 300.0 * i, 40.0 * i))
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("recent", "found", "p_value"),
    [
        ([], False, None),  # nothing in the last three days: no cylinder to scan
        (_cluster_at_utrecht(2, 1), False, None),  # two robberies: fewer than min_observed
        (_cluster_at_utrecht(5, 2), True, 1 / 1000),  # five within 1.5 km in two days
    ],
)
def test_scan_finds_a_cluster_only_where_there_is_one(
    recent: list[Observation], found: bool, p_value: float | None
) -> None:
    history = background(90, 2, end=T0 - timedelta(days=4), seed=5)
    events, result = _scan_of(history + recent)
    clusters = result.clusters(1)
    assert bool(clusters) is found
    if found:
        members = {events[i].event_id for i in clusters[0].members}
        assert members == {o.event_id for o in recent}
        assert clusters[0].p_value == pytest.approx(p_value)
        assert clusters[0].observed == 5
        assert clusters[0].expected < 1.0
        assert result.complete


def test_scan_stops_early_when_nothing_is_unusual_and_is_reproducible() -> None:
    events = background(90, 4, end=T0, seed=7)
    _, first = _scan_of(events, seed=3)
    _, again = _scan_of(events, seed=3)
    # The background's best cylinder is ordinary: a few permutations settle that.
    assert not first.complete
    assert first.candidates[0].p_value > 0.002
    assert np.array_equal(first.null_maxima, again.null_maxima)


# --- the hotspot lifecycle -----------------------------------------------------------------


def test_hotspot_is_raised_updated_and_closed_as_events_arrive() -> None:
    tracker = HotspotTracker(HotspotThresholds())
    state = loaded(background(300, 3, end=T0 - timedelta(days=3), seed=7))
    spot = [observation(T0 - timedelta(hours=60 - 12 * i), *near(*UTRECHT, 250, 72 * i))
            for i in range(5)]  # fmt: skip
    far = observation(T0 + timedelta(days=9), *TOWNS[0])
    timeline: list[tuple[Observation, list[str]]] = [
        (spot[0], []),  # one robbery in Utrecht: nothing unusual yet
        (spot[1], []),  # two: still fewer than a cluster needs
        (spot[2], ["raised"]),  # three within 500 m in a day: far beyond chance
        (spot[2], []),  # the same event redelivered: ignored
        (spot[3], ["updated"]),  # a fourth joins the hotspot: a new version
        (far, ["closed"]),  # nine days on, the cluster has left every window
    ]
    statuses = []
    for event, expected in timeline:
        state, changes = tracker.observe(state, event)
        statuses.append([change.status for change in changes])
        assert statuses[-1] == expected, statuses
    assert not state.hotspots


def test_a_robbery_reported_twice_counts_once() -> None:
    # The shop and its trade association both report one robbery, minutes apart under two
    # event ids: one event, as in the series stage. Counted twice, it and one more robbery
    # made the three a hotspot needs.
    tracker = HotspotTracker(HotspotThresholds())
    state = loaded(background(300, 3, end=T0 - timedelta(days=3), seed=7))
    spot = [observation(T0 - timedelta(hours=60 - 12 * i), *near(*UTRECHT, 250, 72 * i),
                        branch_id=f"shop-{i}") for i in range(3)]  # fmt: skip
    copy = spot[0].model_copy(update={"event_id": uuid.uuid4(), "at": spot[0].at + MINUTE * 20})
    timeline: list[tuple[Observation, list[str]]] = [
        (spot[0], []),
        (copy, []),  # the same robbery again: not an event of its own
        (spot[1], []),  # two robberies: fewer than a cluster needs
        (spot[2], ["raised"]),  # three
    ]
    for event, expected in timeline:
        state, changes = tracker.observe(state, event)
        assert [change.status for change in changes] == expected
    assert copy.event_id not in {o.event_id for o in state.observations}
    assert observation_of(factories.incident_report()).branch_id is not None


def test_a_replay_raises_the_same_hotspot_with_the_same_figures() -> None:
    tracker = HotspotTracker(HotspotThresholds())
    history = loaded(background(200, 3, end=T0 - timedelta(days=3), seed=8))
    spot = [observation(T0 - timedelta(hours=30 - 10 * i), *near(*UTRECHT, 200, 90 * i))
            for i in range(3)]  # fmt: skip
    _, first = replay(tracker, history, spot)
    _, second = replay(tracker, history, spot)
    assert [c.hotspot for c in first] == [c.hotspot for c in second]
    assert [c.status for c in first] == ["raised"]


@pytest.mark.parametrize(
    ("age_days", "kept"),
    [
        (10, True),  # inside the year of baseline: kept, scanned
        (400, False),  # older than the study period: nothing to learn from it
    ],
)
def test_late_events_within_the_study_period_are_kept(age_days: int, kept: bool) -> None:
    tracker = HotspotTracker(HotspotThresholds())
    state = loaded(background(30, 2, end=T0, seed=9))
    late = observation(T0 - timedelta(days=age_days), *TOWNS[3])
    after, _ = tracker.observe(state, late)
    assert (late in after.observations) is kept
    assert after.watermark == T0


# --- arrival order -------------------------------------------------------------------------


def _scenario() -> tuple[list[Observation], list[Observation], list[Observation]]:
    """Sixty days of background, a cluster at Utrecht 35 days back and one at Groningen
    in the last two days."""
    history = background(60, 3, end=T0, seed=21)
    old = [observation(T0 - timedelta(days=35, hours=-8 * i), *near(*UTRECHT, 250, 72 * i))
           for i in range(5)]  # fmt: skip
    new = [observation(T0 - timedelta(hours=40 - 10 * i), *near(*TOWNS[0], 250, 90 * i))
           for i in range(4)]  # fmt: skip
    return history, old, new


def _ever_open(state: HotspotState) -> set[tuple[str, frozenset[uuid.UUID]]]:
    return {(h.hotspot_id, frozenset(h.event_ids)) for e in state.evaluations for h in e.hotspots}


def test_the_same_hotspots_whatever_the_arrival_order() -> None:
    tracker = HotspotTracker(HotspotThresholds())
    history, old, new = _scenario()
    everything = sorted([*history, *old, *new], key=lambda o: (o.at, str(o.event_id)))
    # (i) In event-time order, one at a time.
    in_order, _ = replay(tracker, HotspotState(), everything)
    # (ii) A third of them, and the old cluster, 1 to 28 days late, one at a time.
    rng = random.Random(3)
    delay = {o.event_id: timedelta(days=rng.uniform(1, 28)) if rng.random() < 1 / 3
             else timedelta(0) for o in everything}  # fmt: skip
    delay |= {o.event_id: timedelta(days=28) for o in old}
    late, _ = replay(tracker, HotspotState(),
                     sorted(everything, key=lambda o: o.at + delay[o.event_id]))  # fmt: skip
    # (iii) All at once, newest first, as one bulk import.
    bulk, _ = tracker.observe_many(HotspotState(), everything[::-1])
    expected = _ever_open(in_order)
    # Both clusters were hotspots (in event-time order: the old one raised and closed).
    for cluster in (old, new):
        assert any(len(members & {o.event_id for o in cluster}) >= 3 for _, members in expected)
    for state in (late, bulk):
        assert _ever_open(state) == expected
        assert state.evaluations == in_order.evaluations
        assert state.hotspots == in_order.hotspots


def test_a_late_cluster_is_raised_once_as_history(bare_settings: Settings) -> None:
    tracker = HotspotTracker(HotspotThresholds())
    history, old, _ = _scenario()
    state, _ = replay(tracker, HotspotState(), history)
    # The old cluster, 35 days back, entered today: its scans are replayed.
    state, changes = replay(tracker, state, old)
    raised = [c for c in changes if c.status == "raised"]
    assert len(raised) == 1 and set(raised[0].hotspot.event_ids) <= {o.event_id for o in old}
    # Raised, grown and closed again, all in the past: each change sent once.
    assert [c.status for c in changes] == ["raised", "updated", "closed"]
    alert = hotspot_alert(raised[0], bare_settings, T0)
    assert alert.historical and alert.occurred_at == max(o.at for o in raised[0].events)
    assert all(e.occurred_at is not None for e in alert.evidence)
    # The same events again, or the whole batch replayed: nothing is sent twice.
    _, again = tracker.observe_many(state, old)
    assert again == []


def test_an_observation_beyond_the_bound_is_baseline_only() -> None:
    # Beyond the bound (30 days here) but within study_days: kept for the scans to come, no
    # scan replayed; older than study_days: left out and counted.
    tracker = HotspotTracker(HotspotThresholds(), late_bound_days=30)
    state, _ = tracker.observe_many(HotspotState(), background(30, 2, end=T0, seed=9)[::-1])
    history = observation(T0 - timedelta(days=31), *TOWNS[3])
    after, changes = tracker.observe(state, history)
    assert history in after.observations and changes == []
    assert (after.evaluations, after.hotspots, after.too_late) == (state.evaluations, (), 0)
    assert after.since == history.at
    after, changes = tracker.observe(after, observation(T0 - timedelta(days=400), *TOWNS[3]))
    assert (changes, after.too_late) == ([], 1)


def test_a_kind_read_behind_the_other_is_not_too_late() -> None:
    """A backlog read from two topics at two speeds: the sightings have been read up to now
    while the robberies are still 70 days back. The robberies still count; measured against
    the newest event of either kind, they came too late (streams/watermarks.py)."""
    tracker = HotspotTracker(HotspotThresholds(), late_bound_days=30)
    state, _ = tracker.observe_many(HotspotState(), background(10, 2, end=T0 - timedelta(days=70),
                                                               seed=9))  # fmt: skip
    state, _ = tracker.observe(state, observation(T0, *TOWNS[1], event_type="recon_sighting"))
    behind = observation(T0 - timedelta(days=69), *TOWNS[3])
    state, _ = tracker.observe(state, behind)
    assert behind in state.observations and state.too_late == 0
    # Beyond the bound against the robberies' own newest: baseline only, no scan at its time.
    older = observation(T0 - timedelta(days=100), *TOWNS[3])
    state, _ = tracker.observe(state, older)
    assert older in state.observations and state.too_late == 0
    assert older.at not in {e.at for e in state.evaluations}


# --- history beyond the bound: baseline only -----------------------------------------------


def _monthly_files(events: Iterable[Observation]) -> list[list[Observation]]:
    """Events as a CBL export gives them: one file a calendar month, oldest month first."""
    months: dict[tuple[int, int], list[Observation]] = {}
    for o in sorted(events, key=lambda o: o.at):
        months.setdefault((o.at.year, o.at.month), []).append(o)
    return list(months.values())


def _as_the_worker_takes(
    tracker: HotspotTracker, state: HotspotState, files: Iterable[list[Observation]]
) -> tuple[HotspotState, list[HotspotChange]]:
    """Each file in batches of `batch_max`, as the worker takes a burst."""
    size, changes = tracker.thresholds.batch_max, []
    for file in files:
        for i in range(0, len(file), size):
            state, new = tracker.observe_many(state, file[i : i + size])
            changes += new
    return state, changes


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The scans the tracker runs from now on (how many events each)."""
    import heterdaad.hotspot_scan as scanning

    counted: list[int] = []

    def counting(lat: Any, *args: Any, **kwargs: Any) -> Any:
        counted.append(len(lat))
        return scan(lat, *args, **kwargs)

    monkeypatch.setattr(scanning, "scan", counting)
    return counted


def test_a_year_of_history_beyond_the_bound_replays_no_scan(scans: list[int]) -> None:
    # Sixty live days, then the year before them as monthly files, in batches, newest file
    # first or in a shuffled order: every event of it within study_days is kept, no scan is
    # run for it, nothing is raised, and the state is the same whatever the order.
    tracker = HotspotTracker(HotspotThresholds())
    year = simulated(21, 380)
    newest = year[-1].at
    live = [o for o in year if o.at >= newest - timedelta(days=60)]
    state, _ = tracker.observe(loaded(live[:-1]), live[-1])
    # Beyond the bound behind the slower kind (the sightings' newest, here).
    history = [o for o in year if o.at < min(state.newest.values()) - tracker.late_bound]
    files = _monthly_files(history)
    shuffled = random.Random(4).sample(files, len(files))
    scans.clear()
    after = []
    for order in (files[::-1], shuffled):
        loaded_state, changes = _as_the_worker_takes(tracker, state, order)
        assert (scans, changes) == ([], [])
        after.append(loaded_state)
    assert after[0] == after[1]
    study = timedelta(days=tracker.thresholds.study_days)
    baseline = {o.event_id for o in history if o.at >= newest - study}
    # One simulated branch is robbed twice within the hour: the second is taken for the
    # same robbery reported again, as the series stage takes it (docs/series-linkage.md).
    twice = {c.event_id for o in history for c in history
             if o.at < c.at and reported_twice(o, c, tracker.duplicate_window)}  # fmt: skip
    assert baseline - twice <= {o.event_id for o in after[0].observations}
    assert after[0].evaluations == state.evaluations
    # The next live event scans once, over the year: every event of its own study period
    # (an hour later than `baseline`'s: the simulated period ends at the time of day the test
    # runs, so an event of the year's first hour may fall out of it) and itself.
    at = newest + timedelta(hours=1)
    _, _ = tracker.observe(after[0], observation(at, *TOWNS[2]))
    in_study = [o for o in (*live, *history) if o.at >= at - study and o.event_id not in twice]
    assert scans == [len(in_study) + 1]


@pytest.mark.parametrize("order", ["no history", "oldest month first", "months shuffled"])
def test_a_year_of_history_loaded_after_live_days_raises_a_cluster_a_month_misses(
    order: str,
) -> None:
    # A deployment live for a month loads the year before it (docs/hotspots.md, "Where
    # power is lower": a short baseline finds 8 of 40 planted clusters, a year 33 of 40).
    # Five robberies in three days near Den Haag centre (robbery is common there) after it:
    # the month alone calls them ordinary; with the year as baseline the third raises a
    # hotspot. Most of the year lies beyond the lateness bound, so it only counts as baseline.
    tracker = HotspotTracker(HotspotThresholds())
    year = simulated(21, 380)
    start = _planted_from(year)
    month = timedelta(days=30)
    state = loaded(o for o in year if start - month <= o.at < start)
    files = _monthly_files(o for o in year if o.at < start - month)
    if order == "months shuffled":
        files = random.Random(7).sample(files, len(files))
    if order != "no history":
        state, _ = _as_the_worker_takes(tracker, state, files)
    found = _robberies_to_detection(year, (52.062184, 4.305369), random.Random(11), state=state)
    assert found == (None if order == "no history" else 3)


def test_a_week_without_any_event_is_not_counted_as_covered() -> None:
    # Thirty days, ten without a single event (data missing: an outage, a patchy history),
    # thirty more: the study period keeps every event and covers sixty days, not seventy.
    thresholds = HotspotThresholds()
    events = [*background(30, 3, end=T0 - timedelta(days=40), seed=3),
              *background(30, 3, end=T0, seed=4)]  # fmt: skip
    kept, covered = study_period(events, T0, events[0].at, thresholds)
    assert kept == events and covered == pytest.approx(60, abs=1)
    # Without such a span, the days from the first event (as before).
    kept, covered = study_period(events[90:], T0, events[90].at, thresholds)
    assert covered == pytest.approx((T0 - events[90].at) / timedelta(days=1))


@pytest.mark.parametrize("arrival", ["before the live days", "amid the live days"])
def test_a_patchy_history_raises_no_hotspot_in_the_live_period(arrival: str) -> None:
    # Sixty live days and two months of last year (300 days back, far beyond the bound), the
    # first with a cluster at Utrecht. Counted as if data ran unbroken since last year, the
    # live scans took the events for fewer a day than they are and raised chance clusters
    # of the live background (two loaded before, one amid). The days a study period covers
    # leave out every week with no event at all in the country.
    tracker = HotspotTracker(HotspotThresholds())
    live = background(60, 3, end=T0, seed=21)
    back = T0 - timedelta(days=300)
    spot = [observation(back - timedelta(hours=72 - 8 * i), *near(*UTRECHT, 250, 72 * i))
            for i in range(4)]  # fmt: skip
    months = [
        [*background(30, 3, end=back, seed=22), *spot],
        background(30, 3, end=back + timedelta(days=30), seed=23),
    ]
    if arrival == "before the live days":
        state, changes = _as_the_worker_takes(tracker, HotspotState(), months)
        state, live_changes = replay(tracker, state, live)
    else:
        cut = T0 - timedelta(days=40)
        state, changes = replay(tracker, HotspotState(), [o for o in live if o.at < cut])
        state, _ = _as_the_worker_takes(tracker, state, months)
        assert {o.event_id for m in months for o in m} <= {o.event_id for o in state.observations}
        state, live_changes = replay(tracker, state, [o for o in live if o.at >= cut])
    assert [c for c in [*changes, *live_changes] if c.scanned_at >= live[0].at] == []


# --- alerts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "severity", "suffix"),
    [
        ("raised", Severity.MEDIUM, ":v1"),  # new hotspot: version 1
        ("closed", Severity.INFO, ":closed"),  # closing notice, its own dedup key
    ],
)
def test_hotspot_alert_names_area_counts_and_significance(
    bare_settings: Settings, status: Status, severity: Severity, suffix: str
) -> None:
    tracker = HotspotTracker(HotspotThresholds())
    history = loaded(background(200, 3, end=T0 - timedelta(days=3), seed=10))
    spot = [observation(T0 - timedelta(hours=30 - 10 * i), *near(*UTRECHT, 200, 90 * i))
            for i in range(3)]  # fmt: skip
    _, [raised] = replay(tracker, history, spot)
    change = HotspotChange(status, raised.hotspot, raised.events, raised.scanned_at)
    alert = hotspot_alert(change, bare_settings, datetime.now(UTC))
    assert alert.kind is AlertKind.HOTSPOT
    assert alert.severity is severity
    assert alert.dedup_key == f"hotspot:{raised.hotspot.hotspot_id}{suffix}"
    assert alert.hotspot_id == raised.hotspot.hotspot_id
    assert alert.police_unit is PoliceUnit.MIDDEN_NEDERLAND
    assert alert.area.radius_m is not None and alert.area.radius_m >= 500
    assert {link.event_id for link in alert.evidence} == {o.event_id for o in spot}
    reasons = {r.feature: r.value for r in alert.evidence[0].reasons}
    assert reasons["status"] == status
    assert reasons["observed"] == 3.0
    assert isinstance(reasons["expected"], float) and reasons["expected"] < 0.5
    assert reasons["p_value"] == pytest.approx(1 / 1000)
    assert isinstance(reasons["recurrence_days"], float) and reasons["recurrence_days"] >= 100
    # The basis names the rule and the interval the threshold was set to (issue 15 item 4).
    assert alert.basis is not None
    assert alert.basis.model_version == "hotspot-scan/1"
    assert alert.basis.recurrence_days == pytest.approx(reasons["recurrence_days"])
    recurrence = alert.basis.recurrence_days
    assert recurrence is not None and recurrence >= HotspotThresholds().raise_recurrence_days
    assert alert.basis.calibrated_to == "at most 1 chance hotspot per 100 days nationally"


@pytest.mark.parametrize(
    ("event", "event_type", "branch_type"),
    [
        (factories.incident_report(), "incident_report", BranchType.SUPERMARKET),  # at a branch
        (
            factories.recon_sighting(branch=None, location=factories.DAM_SQUARE),
            "recon_sighting",
            None,
        ),  # seen in the street: the reported location, no branch type
    ],
)
def test_observation_keeps_only_what_the_scan_needs(
    event: IncidentReport | ReconSighting, event_type: str, branch_type: BranchType | None
) -> None:
    seen = observation_of(event)
    assert (seen.event_type, seen.branch_type) == (event_type, branch_type)
    assert (seen.lat, seen.lon) == (factories.DAM_SQUARE.lat, factories.DAM_SQUARE.lon)
    assert seen.police_unit is PoliceUnit.AMSTERDAM


@pytest.mark.parametrize(
    "overrides",
    [
        {"monte_carlo_replications": 99},  # fewer than 999 permutations
        {"keep_recurrence_days": 200},  # keeping stricter than raising would flap
        {"max_window_days": 20, "study_days": 30},  # a window longer than half the baseline
    ],
)
def test_thresholds_refuse_inconsistent_settings(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HotspotThresholds(**overrides)


# --- evaluation ----------------------------------------------------------------------------

FALSE_RATE_SEEDS = (1, 2, 3, 4)
UNITS = len(PoliceUnit)


def _false_hotspots(months: Iterable[list[Observation]], tracker: HotspotTracker) -> Counter[str]:
    """Hotspots raised per police unit while replaying each month from a fresh state."""
    raised: Counter[str] = Counter()
    for month in months:
        _, changes = replay(tracker, HotspotState(), month)
        raised.update(c.events[0].police_unit.value for c in changes if c.status == "raised")
    return raised


def test_shuffled_time_months_raise_at_most_one_false_hotspot_per_100_days_per_unit() -> None:
    # 4 seeds x 30 days = 120 days replayed, each month from a fresh state (a new deployment).
    tracker = HotspotTracker(HotspotThresholds())
    months = [shuffled_times(simulated(seed, 30), seed) for seed in FALSE_RATE_SEEDS]
    days = 30 * len(months)
    raised = _false_hotspots(months, tracker)
    print(f"shuffled months from a fresh state: {days} days, raised {dict(raised)}")
    assert sum(raised.values()) * 100 / (days * UNITS) <= 1.0, raised
    assert max(raised.values(), default=0) <= max(1, days // 100), raised


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_shuffled_time_months_after_a_year_of_baseline() -> None:
    # 12 seeds x 30 days = 360 days replayed, each after a year of (shuffled) baseline.
    tracker = HotspotTracker(HotspotThresholds())
    raised: Counter[str] = Counter()
    for seed in range(1, 13):
        events = shuffled_times(simulated(seed, 395), seed)
        cut = events[-1].at - timedelta(days=30)
        state = loaded(o for o in events if o.at < cut)
        _, changes = replay(tracker, state, [o for o in events if o.at >= cut])
        raised.update(c.events[0].police_unit.value for c in changes if c.status == "raised")
    print(f"shuffled months after a year: 360 days, raised {dict(raised)}")
    assert sum(raised.values()) * 100 / (360 * UNITS) <= 1.0, raised
    assert max(raised.values(), default=0) <= 3, raised


def _planted_from(year: Sequence[Observation]) -> datetime:
    """When the planted robberies of `_robberies_to_detection` begin."""
    return year[-1].at - timedelta(days=4)


def _robberies_to_detection(
    year: tuple[Observation, ...],
    place: tuple[float, float],
    rng: random.Random,
    study_days: float = 365,
    state: HotspotState | None = None,
) -> int | None:
    """How many of five robberies within 1 km of `place` over three days, interleaved with
    the last days of `year` after the rest of it (or what `state` holds) as baseline, it takes
    to raise a hotspot holding at least three of them; None when the fifth passes without one."""
    start = _planted_from(year)
    planted = [
        observation(
            start + timedelta(days=0.75 * i, hours=rng.uniform(0, 3)),
            *near(*place, 1000 * math.sqrt(rng.random()), rng.uniform(0, 360)),
            police_unit=police_unit_for(Location(lat=place[0], lon=place[1])),
        )
        for i in range(5)
    ]
    planted_ids = {o.event_id for o in planted}
    later = sorted([o for o in year if o.at >= start] + planted, key=lambda o: o.at)
    if state is None:
        state = loaded(o for o in year if start - timedelta(days=study_days) <= o.at < start)
    tracker = HotspotTracker(HotspotThresholds(study_days=study_days))
    seen = 0
    for event in later:
        seen += event.event_id in planted_ids
        state, changes = tracker.observe(state, event)
        if any(c.status == "raised" and len(planted_ids & set(c.hotspot.event_ids)) >= 3
               for c in changes):  # fmt: skip
            return seen
    return None


@pytest.mark.parametrize(
    "place",
    [
        (52.0907, 5.1214),  # Utrecht centre
        (52.0705, 4.3007),  # Den Haag centre, 12 robberies a year within 1.5 km
        (53.2194, 6.5665),  # Groningen
        (51.4416, 5.4697),  # Eindhoven
    ],
)
def test_five_robberies_within_2_km_in_3_days_raise_a_hotspot(place: tuple[float, float]) -> None:
    # A year of the simulator's robberies and sightings as baseline, then five robberies
    # within 1 km of `place` (so within 2 km of each other) over three days.
    assert _robberies_to_detection(simulated(21, 380), place, random.Random(11)) is not None


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_detection_rate_at_places_where_robbery_happens_needs_a_long_baseline() -> None:
    # 4 seeds x 10 places drawn like the simulator's events (so mostly in the busy metro
    # units), after 28, 180 and 365 days of baseline; recorded in docs/hotspots.md.
    rates = {}
    for study_days in (28, 180, 365):
        delays: list[int | None] = []
        for seed in (31, 32, 33, 34):
            year = simulated(seed, 380)
            rng = random.Random(seed)
            for _ in range(10):
                anchor = rng.choice(year)
                place = (anchor.lat, anchor.lon)
                delays.append(_robberies_to_detection(year, place, rng, study_days))
        found = sorted(d for d in delays if d is not None)
        rates[study_days] = len(found) / len(delays)
        print(f"baseline {study_days} days: detected {len(found)} of {len(delays)}; "
              f"robberies needed: {dict(Counter(found))}")  # fmt: skip
    assert rates[365] >= 0.8
    assert rates[28] < rates[180] <= rates[365]


# --- through Kafka -------------------------------------------------------------------------


def _cluster_reports(now: datetime) -> list[IncidentReport]:
    """Six robberies within 500 m of Utrecht centre over the last two days."""
    return [
        factories.incident_report(
            branch=factories.branch(
                branch_id=f"utrecht-{i}",
                location=Location(lat=lat, lon=lon),
                branch_type=BranchType.TELECOM_SHOP,
            ),
            occurred_at=now - timedelta(hours=48 - 9 * i),
        )
        for i, (lat, lon) in enumerate(near(*UTRECHT, 80 * i, 60 * i) for i in range(6))
    ]


def _background_sightings(now: datetime) -> list[ReconSighting]:
    """A sighting every 18 hours for 90 days at the TOWNS, none near Utrecht."""
    rng = random.Random(12)
    sightings = []
    for i in range(1, 120):
        lat, lon = near(*rng.choice(TOWNS), rng.uniform(0, 3000), rng.uniform(0, 360))
        where = factories.branch(branch_id=f"bg-{i}", location=Location(lat=lat, lon=lon))
        sightings.append(
            factories.recon_sighting(
                branch=where,
                observed_at=now - timedelta(hours=18 * i + 1),
                behaviours=[ReconBehaviour.FILMS_ENTRANCE],
            )
        )
    return sightings


async def _alerts_until_hotspot(
    settings: Settings, worker: Any, at_least: int, holding: uuid.UUID | None = None
) -> list[Alert]:
    """Alerts read until one is a hotspot (holding the event `holding`, if given); other
    stages may add alerts."""
    count = at_least
    while True:
        records = await read_topic(
            settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), count=count,
            timeout=120, while_alive=worker,
        )  # fmt: skip
        alerts = [decode_as(Alert, ALERTS, r.value, list(r.headers)) for r in records]
        hotspots = [a for a in alerts if a.kind is AlertKind.HOTSPOT]
        if any(a.dedup_key.endswith(":v1") if holding is None
               else holding in {e.event_id for e in a.evidence} for a in hotspots):  # fmt: skip
            return alerts
        count = len(records) + 1


@pytest.mark.integration
async def test_worker_raises_a_hotspot_and_updates_it_after_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    first, last = _cluster_reports(now)[:5], _cluster_reports(now)[5]
    await publish_all(settings, *_background_sightings(now), *first)

    with running(settings, "worker", log=tmp_path / "worker.log") as worker:
        alerts = await _alerts_until_hotspot(settings, worker, len(first) + 1)
    [raised] = [a for a in alerts if a.kind is AlertKind.HOTSPOT and a.dedup_key.endswith(":v1")]
    assert raised.police_unit is PoliceUnit.MIDDEN_NEDERLAND
    assert raised.area.center.lat == pytest.approx(UTRECHT[0], abs=0.01)
    assert len({link.event_id for link in raised.evidence} & {r.event_id for r in first}) >= 3
    features = {reason.feature for reason in raised.evidence[0].reasons}
    assert {"observed", "expected", "p_value", "recurrence_days"} <= features

    # The open hotspot lives in the table: a restarted worker recovers it from the changelog
    # and the sixth robbery updates the same hotspot instead of raising a new one.
    await publish_all(settings, last)
    with running(settings, "worker", log=tmp_path / "worker-2.log") as worker:
        alerts = await _alerts_until_hotspot(settings, worker, len(alerts) + 2, last.event_id)
    # Which open hotspot takes it depends on the order the first worker met the sightings and
    # reports (the cluster may have opened two, CI run of 2026-12-06): what must hold is that
    # it is one raised before the restart, updated, never raised anew.
    hotspots = [a for a in alerts if a.kind is AlertKind.HOTSPOT]
    holding = [a for a in hotspots if last.event_id in {link.event_id for link in a.evidence}]
    raised_before = {
        a.hotspot_id for a in hotspots
        if a.dedup_key.endswith(":v1") and last.event_id not in {e.event_id for e in a.evidence}
    }
    assert holding and {a.hotspot_id for a in holding} <= raised_before, holding
    assert not any(a.dedup_key.endswith(":v1") for a in holding)
    updated = [a for a in hotspots if a.hotspot_id in {h.hotspot_id for h in holding}]
    # Each change sent once: no repeat after the restart.
    keys = [a.dedup_key for a in alerts if a.kind is AlertKind.HOTSPOT]
    assert len(keys) == len(set(keys)), keys
    assert all(a.occurred_at is not None and not a.historical for a in updated)
