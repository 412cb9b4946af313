"""Set-level series evidence: a series' path predicts its next robbery, and groups merge only
as one crew's robberies (streams/series_paths.py, streams/series_groups.py)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from heterdaad.thresholds.series import SeriesThresholds
from schemas.common import BranchType, Location
from streams.series_groups import StoredReport, grown_group
from streams.series_model import SeriesModel, hand_set_model
from streams.series_paths import Stop, continues_path, extrapolate
from streams.series_scoring import SeriesLink
from tests.streams.test_link_series import KM_LON, LAT, crew_report

if TYPE_CHECKING:
    from schemas.events import IncidentReport

# Hand-set curves; link 8, support 5. The rules read only scores, places and times.
OFF = SeriesThresholds()
PATH = OFF.model_copy(update={"path_continuation": True})
CREW = OFF.model_copy(update={"crew_consistency": True})
KM_LAT = 1 / 110.574


def at(east_km: float, north_km: float = 0.0) -> Location:
    return Location(lat=round(LAT + north_km * KM_LAT, 6), lon=round(4.80 + east_km * KM_LON, 6))


def stop(where: Location, days_ago: float, kind: BranchType = BranchType.SUPERMARKET) -> Stop:
    return Stop(crew_report(where, days_ago).occurred_at, where, kind)


def test_the_path_goes_one_mean_step_on_within_a_step_and_a_half_or_three_km() -> None:
    target = extrapolate([at(0), at(2)], OFF)
    # Two km east, then two more: the centre is at 4 km east, radius max(3, 1.5 x 2).
    assert target.centre.lon == pytest.approx(at(4).lon, abs=1e-4)
    assert target.centre.lat == pytest.approx(LAT, abs=1e-4)
    assert target.mean_step_km == pytest.approx(2.0, rel=0.02)
    assert target.radius_km == pytest.approx(3.0, rel=0.02)
    # Longer steps widen the circle: 1.5 x 4 km.
    assert extrapolate([at(0), at(4), at(8)], OFF).radius_km == pytest.approx(6.0, rel=0.02)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        # Where the path goes next, two days after its last robbery: continues it.
        (stop(at(4), days_ago=6), True),
        # Inside the circle, off-centre by 2.5 km of 3: still continues (fraction 1).
        (stop(at(4, 2.5), days_ago=6), True),
        # Four km off the predicted centre, beyond the 3 km radius: no evidence.
        (stop(at(4, 4), days_ago=6), False),
        # Where the path goes, but before its last robbery: not its next one.
        (stop(at(4), days_ago=9), False),
        # Beyond the window after the last robbery: never linked.
        (stop(at(4), days_ago=8 - OFF.max_gap_days - 1), False),
        # Another kind of branch than the last robbery's.
        (stop(at(4), days_ago=6, kind=BranchType.PETROL_STATION), False),
    ],
)
def test_a_robbery_continues_a_path_only_after_it_where_it_goes_and_of_its_kind(
    candidate: Stop, expected: bool
) -> None:
    path = [stop(at(0), days_ago=10), stop(at(2), days_ago=8)]
    assert continues_path(path, candidate, OFF) is expected


def test_a_single_robbery_has_no_path_and_the_fraction_narrows_the_circle() -> None:
    assert not continues_path([stop(at(0), days_ago=10)], stop(at(2), days_ago=8), OFF)
    path = [stop(at(0), days_ago=10), stop(at(2), days_ago=8)]
    off_centre = stop(at(4, 2.5), days_ago=6)
    narrow = OFF.model_copy(update={"path_radius_fraction": 0.5})
    assert continues_path(path, off_centre, OFF)
    assert not continues_path(path, off_centre, narrow)


# --- the rules in the pair graph ---------------------------------------------------------


def kept_of(
    reports: dict[str, IncidentReport], links: dict[tuple[str, str], float],
    series: dict[str, str],
) -> dict[uuid.UUID, StoredReport]:
    """Stored reports with the given pair scores (later, earlier) and series labels."""
    by_id: dict[uuid.UUID, list[SeriesLink]] = {r.event_id: [] for r in reports.values()}
    for (later, earlier), score in links.items():
        link = SeriesLink(event_id=reports[later].event_id,
                          linked_with=reports[earlier].event_id, score=score,
                          distance_m=0.0, time_gap_s=0.0, similarity={}, reasons=[])
        by_id[link.event_id].append(link)
        by_id[link.linked_with].append(link)
    return {
        r.event_id: StoredReport(report=r, series_id=series.get(name), links=by_id[r.event_id])
        for name, r in reports.items()
    }


def names(group: set[uuid.UUID], reports: dict[str, IncidentReport]) -> set[str]:
    return {name for name, r in reports.items() if r.event_id in group}


def test_a_weakly_linked_robbery_joins_a_series_where_its_path_goes_next() -> None:
    reports = {"a": crew_report(at(0), days_ago=10), "b": crew_report(at(2), days_ago=8),
               "on": crew_report(at(4, 1), days_ago=6),
               "off": crew_report(at(4, 4), days_ago=6)}
    # a-b one strong link (a series); each newcomer one weak link to b, below the link
    # threshold and without a second one to corroborate it.
    links = {("b", "a"): 9.0, ("on", "b"): 6.0, ("off", "b"): 6.0}
    kept = kept_of(reports, links, {"a": "s", "b": "s"})
    assert names(grown_group(reports["on"].event_id, kept, PATH), reports) == {"a", "b", "on"}
    # Off the path: judged on its pair links alone, as without the rule.
    assert names(grown_group(reports["off"].event_id, kept, PATH), reports) == {"off"}
    assert names(grown_group(reports["on"].event_id, kept, OFF), reports) == {"on"}


def test_two_series_that_meet_through_one_pair_stay_two_crews() -> None:
    reports = {"x1": crew_report(at(0), days_ago=12), "x2": crew_report(at(2), days_ago=10),
               "y1": crew_report(at(3), days_ago=9), "y2": crew_report(at(5), days_ago=7)}
    # Two crews of two in one area and weeks; one strong link between them.
    links = {("x2", "x1"): 10.0, ("y2", "y1"): 10.0, ("y1", "x2"): 10.0}
    series = {"x1": "x", "x2": "x", "y1": "y", "y2": "y"}
    kept = kept_of(reports, links, series)
    start = reports["y1"].event_id
    # Single linkage merges them; the crew check asks half of their 4 pairs to be linked.
    assert names(grown_group(start, kept, OFF), reports) == set(reports)
    assert names(grown_group(start, kept, CREW), reports) == {"y1", "y2"}
    # One crew's two halves link through most of their pairs: merged.
    halves = kept_of(reports, links | {("y1", "x1"): 5.5, ("y2", "x2"): 6.0}, series)
    assert names(grown_group(start, halves, CREW), reports) == set(reports)


def test_a_new_robbery_linked_to_the_latest_of_a_series_still_joins_it() -> None:
    reports = {"a": crew_report(at(0), days_ago=10), "b": crew_report(at(2), days_ago=8),
               "c": crew_report(at(4), days_ago=6), "d": crew_report(at(6), days_ago=4)}
    # Each links strongly to the one before it only: 1 of 2 pairs for c (a share of 0.5)...
    chain = {("b", "a"): 9.0, ("c", "b"): 9.0}
    kept = kept_of(reports, chain, {"a": "s", "b": "s"})
    assert names(grown_group(reports["c"].event_id, kept, CREW), reports) == {"a", "b", "c"}
    # ... but 1 of 3 for d to a series of three: it stays out.
    kept = kept_of(reports, chain | {("d", "c"): 9.0}, {"a": "s", "b": "s", "c": "s"})
    assert names(grown_group(reports["d"].event_id, kept, CREW), reports) == {"d"}


def test_a_model_carries_the_set_level_rules_to_the_stage_and_old_files_load_without() -> None:
    model = hand_set_model(OFF)
    # A model file written before the rules existed has neither: both stay off.
    old = SeriesModel.model_validate(
        model.model_dump(exclude={"path_continuation", "crew_consistency"})
    )
    assert not old.thresholds(OFF).path_continuation
    assert not old.thresholds(OFF).crew_consistency
    on = model.model_copy(update={"path_continuation": True, "crew_consistency": True})
    assert on.thresholds(OFF).path_continuation and on.thresholds(OFF).crew_consistency
