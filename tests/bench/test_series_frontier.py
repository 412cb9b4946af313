"""The series replay the evaluation counts with (bench/evaluation/stages.py `replay_series`)
and the trade-off command built on it (bench/series_frontier.py)."""

from __future__ import annotations

import pytest

from bench.evaluation.grid import BASE, END, GRID, HARDEST
from bench.evaluation.stages import Counts, measure_series, replay_series
from bench.series_frontier import main, point, robberies
from heterdaad.thresholds.series import SeriesThresholds
from producers.simulator import SimulationConfig, generate
from tests.streams.test_link_series import crew_report, east


def test_a_planted_series_is_found_when_its_first_three_arrived_are_one_series() -> None:
    t = SeriesThresholds()
    a, b, c = (crew_report(east(3 * i), days_ago=9 - 3 * i) for i in range(3))
    assert replay_series([(a, "x"), (b, "x"), (c, "x")], t) == (1, 1, 2, 0)
    # The third robbery 100 km on, under an hour after the other two: no one could drive
    # there that fast (the travel veto), so the three are not one series.
    near, close = crew_report(east(0), days_ago=6.02), crew_report(east(3), days_ago=6.0)
    far = crew_report(east(100), days_ago=5.99)
    found, planted, _, false = replay_series([(near, "x"), (close, "x"), (far, "x")], t)
    assert (found, planted, false) == (0, 1, 0)
    # One crew's two and a stranger's: no planted series of three; the alert is still true.
    assert replay_series([(a, "x"), (b, "x"), (c, None)], t) == (0, 0, 2, 0)
    # Three robberies of no planted crew linked into a series: both alerts are false.
    assert replay_series([(a, None), (b, None), (c, None)], t) == (0, 0, 2, 2)


def test_a_point_of_the_curve_is_the_evaluations_series_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One development seed, the hand-set curves: the same found, planted, alerts and false
    # alerts as bench.evaluation's series measure on the same scenario.
    monkeypatch.delenv("HETERDAAD_SERIES__MODEL_PATH", raising=False)
    config = SimulationConfig(seed=2011, days=30, end=END, **BASE, **GRID[HARDEST])
    counts = Counts(days=30)
    measure_series(generate(config), counts)
    found, planted, alerts, false = point([robberies(2011, 30)], SeriesThresholds())
    assert planted > 0 and alerts > 0
    assert (found, planted, alerts, false) == (
        counts.series_found_by_third,
        counts.series_planted,
        counts.series_alerts,
        counts.series_false_alerts,
    )


def test_a_lower_threshold_never_raises_fewer_alerts() -> None:
    case = [robberies(2012, 30)]
    low = point([*case], SeriesThresholds(link_threshold=7.0, support_threshold=4.0))
    high = point([*case], SeriesThresholds(link_threshold=11.0, support_threshold=8.0))
    assert low[2] > high[2]


def test_the_held_out_seeds_are_refused() -> None:
    with pytest.raises(AssertionError, match="held-out"):
        main(["--seeds", "1003", "--links", "8"])
