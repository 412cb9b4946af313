"""The series model fit (streams/series_fit.py): learning the curves from judged pairs."""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pytest

from assembly.model_cli import solved_case_pairs
from heterdaad.thresholds.series import SeriesThresholds
from schemas.alerts import HAND_SET_VERSION
from streams.link_series import MemoryLinkage, link_report
from streams.series_fit import PairExample, auc, design, fit, threshold_at
from streams.series_model import (
    calibration_text,
    hand_set_model,
    load,
    model_at_start,
    save,
    versioned,
)
from streams.series_scoring import series_alert
from tests.streams.test_link_series import NOW, TIME, crew_report, east

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

    from streams.series_model import SeriesModel

DEFAULT = SeriesThresholds()
HAND_SET = hand_set_model(DEFAULT)
# Pairs the police would compare: far pairs are told apart by distance alone.
LOCAL_KM = 25.0


def scores(model: SeriesModel, examples: list[PairExample]) -> npt.NDArray[np.float64]:
    d = design(examples, HAND_SET.curves)
    values = np.array([y for feature, _ in d.layout for _, y in model.curves[feature]])
    return np.asarray(d.matrix[:, 1:] @ values + d.veto, dtype=np.float64)


def local_auc(model: SeriesModel, examples: list[PairExample]) -> float:
    near = [e for e in examples if e.inputs["distance_km"] <= LOCAL_KM]
    s = scores(model, near)
    linked = np.array([e.linked for e in near])
    return auc(s[linked], s[~linked])


@pytest.fixture(scope="module")
def judged() -> tuple[list[PairExample], list[PairExample]]:
    """Analysts' verdicts on simulated pairs (the simulator's truth, hardest dials): one
    scenario to learn from, another held back."""
    return (solved_case_pairs(61, 30, True, DEFAULT), solved_case_pairs(62, 30, True, DEFAULT))


def test_fitted_curves_link_held_back_robberies_better_than_the_hand_set(
    judged: tuple[list[PairExample], list[PairExample]],
) -> None:
    learn, held_back = judged
    model = fit(learn, DEFAULT, HAND_SET, sources=["simulator 61"])
    before, after = local_auc(HAND_SET, held_back), local_auc(model, held_back)
    assert after > before + 0.002, (before, after)
    assert model.report is not None and model.report.cv_auc > 0.9


def test_with_little_evidence_the_hand_set_curves_stand(
    judged: tuple[list[PairExample], list[PairExample]],
) -> None:
    # Three judged pairs cannot overturn the reasoned curves.
    few = judged[0][:2] + [e for e in judged[0] if e.linked][:1]
    model = fit(few, DEFAULT, HAND_SET, sources=["three"], folds=2, l2=10.0)
    for feature, curve in HAND_SET.curves.items():
        fitted = [y for _, y in model.curves[feature]]
        assert fitted == pytest.approx([y for _, y in curve], abs=0.5), feature


@pytest.mark.parametrize(
    ("unlinked", "rate", "expected"),
    [
        # No unlinked pair may score as high: just above the highest.
        ([1.0, 2.0, 3.0], 0.0, 3.001),
        # One in three may: just above the second highest.
        ([1.0, 2.0, 3.0], 0.34, 2.001),
    ],
)
def test_threshold_lets_through_at_most_the_target_rate(
    unlinked: list[float], rate: float, expected: float
) -> None:
    assert threshold_at(np.array(unlinked), rate) == pytest.approx(expected)


def test_a_model_is_versioned_by_its_content_and_loaded_at_start(tmp_path: Path) -> None:
    # No fitted model: the hand-set curves.
    assert model_at_start(DEFAULT, tmp_path).version == HAND_SET_VERSION
    model = versioned(HAND_SET.model_copy(update={"link_threshold": 9.0}), date(2026, 12, 5))
    other = versioned(HAND_SET.model_copy(update={"link_threshold": 9.5}), date(2026, 12, 5))
    assert model.version.startswith("series-20261205-") and model.version != other.version
    path = save(model, tmp_path)
    assert load(path) == model == model_at_start(DEFAULT, tmp_path)
    assert model.thresholds(DEFAULT).link_threshold == 9.0
    # A configured model that is missing stops the start rather than silently linking by hand.
    with pytest.raises(FileNotFoundError):
        model_at_start(DEFAULT.model_copy(update={"model_path": tmp_path / "gone.json"}), tmp_path)


def test_a_series_alert_names_the_model_and_the_probability_of_its_weakest_link() -> None:
    crew = [crew_report(east(km), days) for km, days in ((0, 3), (3, 2))]
    state = MemoryLinkage()
    for report in crew:
        decision = link_report(report, state, DEFAULT)
        state.apply(decision)
    series = decision.grown
    assert series is not None
    members = {r.event_id: r for r in crew}
    fitted = HAND_SET.model_copy(update={"version": "series-20261205-0123456789ab",
                                         "intercept": -7.0})  # fmt: skip
    by_hand = series_alert(series, members, crew[-1].occurred_at, DEFAULT, TIME, NOW).basis
    learnt = series_alert(series, members, crew[-1].occurred_at, DEFAULT, TIME, NOW, fitted).basis
    weakest = min(link.score for link in series.links)
    assert by_hand is not None and learnt is not None
    assert by_hand.model_version == HAND_SET_VERSION
    assert by_hand.probability == pytest.approx(1 / (1 + math.exp(5.5 - weakest)), abs=1e-4)
    assert learnt.model_version == "series-20261205-0123456789ab"
    assert learnt.probability == pytest.approx(1 / (1 + math.exp(7.0 - weakest)), abs=1e-4)
    assert learnt.calibrated_to == calibration_text(DEFAULT)
