"""The series trade-off command (bench/series_frontier.py) counts as the evaluation does."""

from __future__ import annotations

import pytest

from bench.evaluation.grid import BASE, END, GRID, HARDEST
from bench.evaluation.stages import Counts, measure_series
from bench.series_frontier import main, point, robberies
from heterdaad.thresholds.series import SeriesThresholds
from producers.simulator import SimulationConfig, generate


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
