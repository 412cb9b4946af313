"""Fitting the series linkage curves from linked and unlinked pairs (`heterdaad model fit`).

L2-regularised logistic regression whose parameters are the values of the hand-set curves at
their breakpoints (a piecewise-linear curve is linear in those values), pulled towards the
hand-set values: with few pairs the reasoned curves stand, with many the data decide. The
intercept is the prior log-odds of a link and is not penalised. docs/series-linkage.md.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize

from streams.series_model import (
    CURVES,
    RAW_VALUED,
    VETO,
    FitReport,
    SeriesModel,
    calibration_text,
    curve_input,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from heterdaad.thresholds.series import Curve, SeriesThresholds
    from schemas.alerts import EvidenceLink
    from streams.series_scoring import PairScore

logger = logging.getLogger(__name__)

# A false corroboration needs two weak links into one series: the support threshold may
# let through ten times the false links of the link threshold, and stays within the
# hand-set gap below it.
SUPPORT_RATE_FACTOR = 10.0


@dataclass(frozen=True)
class PairExample:
    """One pair of robberies: the x each feature's curve reads, the veto, and the truth."""

    inputs: dict[str, float]
    veto: float
    linked: bool
    group: str  # pairs of one group (a series, a judged alert) stay in one fold
    judged: bool = False


def example_of(score: PairScore, linked: bool, group: str) -> PairExample:
    return PairExample(
        inputs={f.feature: curve_input(f) for f in score.features if f.feature in CURVES},
        veto=sum(f.contribution for f in score.features if f.feature == VETO),
        linked=linked,
        group=group,
    )


def judged_example(link: EvidenceLink, confirmed: bool, group: str) -> PairExample | None:
    """A link of a judged series alert; None for a member's own entry (no pair)."""
    reasons = {reason.feature: reason for reason in link.reasons}
    if "linked_with" not in reasons:
        return None
    inputs: dict[str, float] = {}
    for feature in CURVES:
        if feature not in reasons:
            continue
        value = reasons[feature].value
        if feature in RAW_VALUED and isinstance(value, int | float):
            inputs[feature] = float(value)
        else:
            inputs[feature] = link.similarity.get(feature, 0.0)
    veto = reasons[VETO].contribution if VETO in reasons else 0.0
    return PairExample(inputs, veto, confirmed, group, judged=True)


# --- the design: one column per breakpoint ----------------------------------------------


def _hat(curve: Curve, x: float) -> list[float]:
    """Interpolation weights of x over the breakpoints (flat beyond the ends)."""
    xs = [point[0] for point in curve]
    weights = [0.0] * len(xs)
    if x <= xs[0]:
        weights[0] = 1.0
    elif x >= xs[-1]:
        weights[-1] = 1.0
    else:
        for k in range(len(xs) - 1):
            if xs[k] <= x <= xs[k + 1]:
                share = (x - xs[k]) / (xs[k + 1] - xs[k])
                weights[k], weights[k + 1] = 1.0 - share, share
                break
    return weights


@dataclass(frozen=True)
class Design:
    matrix: npt.NDArray[np.float64]  # column 0: the intercept
    veto: npt.NDArray[np.float64]
    linked: npt.NDArray[np.float64]
    prior: npt.NDArray[np.float64]  # hand-set curve values, in column order
    layout: list[tuple[str, int]]  # feature, number of breakpoints


def design(examples: Sequence[PairExample], hand_set: dict[str, Curve]) -> Design:
    layout = [(feature, len(hand_set[feature])) for feature in CURVES]
    offsets, column = {}, 1
    for feature, size in layout:
        offsets[feature] = column
        column += size
    matrix = np.zeros((len(examples), column))
    matrix[:, 0] = 1.0
    for row, example in enumerate(examples):
        for feature, x in example.inputs.items():
            start = offsets[feature]
            matrix[row, start : start + len(hand_set[feature])] = _hat(hand_set[feature], x)
    prior = np.array([y for feature, _ in layout for _, y in hand_set[feature]])
    return Design(
        matrix=matrix,
        veto=np.array([e.veto for e in examples]),
        linked=np.array([1.0 if e.linked else 0.0 for e in examples]),
        prior=prior,
        layout=layout,
    )


def fit_parameters(
    d: Design, rows: npt.NDArray[np.intp], l2: float, start_intercept: float
) -> npt.NDArray[np.float64]:
    """Maximum a posteriori curve values on the given rows (the hand-set curves as prior)."""
    x, veto, y = d.matrix[rows], d.veto[rows], d.linked[rows]

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        z = x @ theta + veto
        away = theta[1:] - d.prior
        value = float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * away @ away)
        gradient = x.T @ (_sigmoid(z) - y)
        gradient[1:] += l2 * away
        return value, gradient

    start = np.concatenate([[start_intercept], d.prior])
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    if not result.success:
        logger.warning("series model fit did not converge", extra={"reason": result.message})
    return np.asarray(result.x, dtype=np.float64)


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


def auc(linked: npt.NDArray[np.float64], unlinked: npt.NDArray[np.float64]) -> float:
    """Area under the ROC curve (Mann-Whitney U), ties counting half."""
    if len(linked) == 0 or len(unlinked) == 0:
        return math.nan
    scores = np.concatenate([linked, unlinked])
    order = scores.argsort(kind="mergesort")
    _, inverse, counts = np.unique(scores[order], return_inverse=True, return_counts=True)
    mean_rank = np.bincount(inverse, weights=np.arange(1, len(scores) + 1)) / counts
    ranks = np.empty(len(scores))
    ranks[order] = mean_rank[inverse]
    u = ranks[: len(linked)].sum() - len(linked) * (len(linked) + 1) / 2
    return float(u / (len(linked) * len(unlinked)))


def _fold(group: str, folds: int) -> int:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % folds


def false_link_rate_target(t: SeriesThresholds) -> float:
    """False links allowed per unlinked pair: a false link is (at most) one false series
    alert, and each robbery meets those of max_gap_days before it, so at national volume N a
    year there are (30 N / 365) (N max_gap_days / 365) pairs in 30 days."""
    n = t.national_robberies_per_year
    pairs = (30.0 * n / 365.0) * (n * t.max_gap_days / 365.0)
    return t.false_series_per_30_days / pairs


def threshold_at(unlinked: npt.NDArray[np.float64], rate: float) -> float:
    """The lowest score at which at most `rate` of the unlinked pairs score as high."""
    if len(unlinked) == 0:
        return math.inf
    ordered = np.sort(unlinked)[::-1]
    allowed = min(math.floor(rate * len(ordered)), len(ordered) - 1)
    return math.ceil((float(ordered[allowed]) + 1e-6) * 1000) / 1000


def fit(
    examples: Sequence[PairExample],
    t: SeriesThresholds,
    hand_set: SeriesModel,
    *,
    sources: list[str],
    folds: int = 5,
    l2: float = 1.0,
) -> SeriesModel:
    """Cross-validate, then fit on every pair; thresholds from the out-of-fold scores."""
    d = design(examples, hand_set.curves)
    groups = np.array([_fold(e.group, folds) for e in examples])
    out_of_fold = np.zeros(len(examples))
    for fold in range(folds):
        held = np.flatnonzero(groups == fold)
        if len(held) == 0:
            continue
        theta = fit_parameters(d, np.flatnonzero(groups != fold), l2, hand_set.intercept)
        out_of_fold[held] = d.matrix[held, 1:] @ theta[1:] + d.veto[held]
    theta = fit_parameters(d, np.arange(len(examples)), l2, hand_set.intercept)
    hand_scores = d.matrix[:, 1:] @ d.prior + d.veto
    linked = d.linked == 1.0
    rate = false_link_rate_target(t)
    link = max(threshold_at(out_of_fold[~linked], rate), -float(theta[0]))
    gap = hand_set.link_threshold - hand_set.support_threshold
    support = threshold_at(out_of_fold[~linked], rate * SUPPORT_RATE_FACTOR)
    support = min(link, max(support, link - gap))
    curves, column = {}, 1
    for feature, size in d.layout:
        xs = [x for x, _ in hand_set.curves[feature]]
        values = theta[column : column + size]
        curves[feature] = tuple((x, round(float(y), 4)) for x, y in zip(xs, values, strict=True))
        column += size
    report = FitReport(
        linked_pairs=int(linked.sum()),
        unlinked_pairs=int((~linked).sum()),
        judged_pairs=sum(e.judged for e in examples),
        sources=sources,
        folds=folds,
        l2=l2,
        cv_auc=round(auc(out_of_fold[linked], out_of_fold[~linked]), 6),
        hand_set_auc=round(auc(hand_scores[linked], hand_scores[~linked]), 6),
        target_false_link_rate=rate,
        false_link_rate_at_threshold=float(np.mean(out_of_fold[~linked] >= link)),
        true_link_rate_at_threshold=float(np.mean(out_of_fold[linked] >= link)),
    )
    return SeriesModel(
        version="unversioned",
        curves=curves,
        intercept=round(float(theta[0]), 4),
        link_threshold=round(link, 3),
        support_threshold=round(support, 3),
        calibrated_to=calibration_text(t),
        report=report,
    )
