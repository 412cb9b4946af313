"""The series linkage model: the LLR curves the stage scores with, hand-set or fitted, versioned.

A fitted model (`heterdaad model fit`, streams/series_fit.py) keeps the hand-set curves'
breakpoints and re-estimates their values, and chooses the link thresholds for a stated
false-series rate; docs/series-linkage.md ("Learning from the analysts").
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from heterdaad.thresholds.series import Curve, SeriesThresholds
from schemas.alerts import HAND_SET_VERSION, DetectionBasis

if TYPE_CHECKING:
    from pathlib import Path

    from streams.series_scoring import FeatureScore, SeriesState

logger = logging.getLogger(__name__)

# Feature name in the evidence -> the curve of SeriesThresholds that scores it.
CURVES: dict[str, str] = {
    "distance_km": "distance_llr",
    "time_gap_days": "time_gap_llr",
    "branch_type": "branch_type_llr",
    "chain": "chain_llr",
    "incident_type": "incident_type_llr",
    "modus_operandi": "modus_operandi_llr",
    "weapons": "weapons_llr",
    "offender_count": "offender_count_llr",
    "height": "height_llr",
    "build": "build_llr",
    "clothing": "clothing_llr",
    "face_covering": "face_covering_llr",
    "language": "language_llr",
    "plate": "plate_llr",
    "vehicle": "vehicle_llr",
    "getaway_mode": "getaway_mode_llr",
}
# The two features whose curve reads the observed value; every other reads its similarity.
RAW_VALUED = frozenset({"distance_km", "time_gap_days"})
# Not fitted: a physical impossibility, not a tendency to learn.
VETO = "travel_minutes"


class FitReport(BaseModel):
    """What the fit saw and how well the model separates held-back pairs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    linked_pairs: int
    unlinked_pairs: int
    judged_pairs: int
    sources: list[str]
    folds: int
    l2: float
    cv_auc: float = Field(description="Pooled out-of-fold AUC of the fitted curves.")
    hand_set_auc: float = Field(description="AUC of the hand-set curves on the same pairs.")
    target_false_link_rate: float = Field(description="False links per unlinked pair allowed.")
    false_link_rate_at_threshold: float = Field(description="Out-of-fold, at link_threshold.")
    true_link_rate_at_threshold: float


class SeriesModel(BaseModel):
    """The curves, the prior log-odds and thresholds the stage links with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    curves: dict[str, Curve]
    intercept: float = Field(description="Log-odds of a link before any evidence.")
    link_threshold: float
    support_threshold: float
    triangles: bool = Field(False, description="Weak triangles found series (SeriesThresholds).")
    path_continuation: bool = Field(
        False, description="A robbery where a series' path goes next joins it (SeriesThresholds)."
    )
    crew_consistency: bool = Field(
        False, description="Groups merge only as one crew's robberies (SeriesThresholds)."
    )
    calibrated_to: str
    report: FitReport | None = None

    def thresholds(self, base: SeriesThresholds) -> SeriesThresholds:
        """The stage's thresholds with this model's curves and link thresholds."""
        update: dict[str, object] = {CURVES[f]: curve for f, curve in self.curves.items()}
        update |= {"link_threshold": self.link_threshold,
                   "support_threshold": self.support_threshold,
                   "triangles": self.triangles,
                   "path_continuation": self.path_continuation,
                   "crew_consistency": self.crew_consistency}  # fmt: skip
        # Validated again: a hand-edited file must not bypass the settings' checks.
        return SeriesThresholds.model_validate(base.model_dump() | update)

    def probability(self, score: float) -> float:
        """P(one crew) of a pair with this LLR sum, at the prior the model was fitted with."""
        return 1.0 / (1.0 + math.exp(-(self.intercept + score)))


def calibration_text(t: SeriesThresholds) -> str:
    """The rate the link threshold is chosen for (consumers/alert_text.py reads it back)."""
    return (
        f"at most {t.false_series_per_30_days:g} false series alert(s) per 30 days at "
        f"{t.national_robberies_per_year:g} robberies a year"
    )


def hand_set_model(t: SeriesThresholds) -> SeriesModel:
    """The reasoned curves of the settings, as a model (used when no fitted one is loaded)."""
    return SeriesModel(
        version=HAND_SET_VERSION,
        curves={feature: getattr(t, name) for feature, name in CURVES.items()},
        intercept=t.prior_log_odds,
        link_threshold=t.link_threshold,
        support_threshold=t.support_threshold,
        calibrated_to=calibration_text(t),
    )


def versioned(model: SeriesModel, today: date) -> SeriesModel:
    """The model named by the hash of its content and the date it was fitted."""
    content = model.model_copy(update={"version": ""}).model_dump_json()
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    return model.model_copy(update={"version": f"series-{today:%Y%m%d}-{digest}"})


def save(model: SeriesModel, directory: Path) -> Path:
    """Write the model as <version>.json and point current.json at it (atomic rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(model.model_dump(mode="json"), indent=2) + "\n"
    path = directory / f"{model.version}.json"
    path.write_text(text, encoding="utf-8")
    staged = directory / "current.json.tmp"
    staged.write_text(text, encoding="utf-8")
    staged.replace(directory / "current.json")
    return path


def load(path: Path) -> SeriesModel:
    return SeriesModel.model_validate_json(path.read_bytes())


def series_model_dir(state_dir: Path) -> Path:
    """Where `heterdaad model fit` writes series models, one file per version."""
    return state_dir / "models" / "series"


def model_at_start(t: SeriesThresholds, default_dir: Path) -> SeriesModel:
    """The model the stage starts with: the configured file (must be valid), else the current
    fitted one in the state dir, else the hand-set curves."""
    if t.model_path is not None:
        return load(t.model_path)
    current = default_dir / "current.json"
    if current.exists():
        return load(current)
    return hand_set_model(t)


def curve_input(feature: FeatureScore) -> float:
    """The x the feature's curve was read at."""
    if feature.feature in RAW_VALUED:
        assert isinstance(feature.value, float | int)
        return float(feature.value)
    return feature.similarity


def series_basis(series: SeriesState, model: SeriesModel) -> DetectionBasis:
    """The series rests on its weakest link: its probability, from the model's prior."""
    weakest = min((link.score for link in series.links), default=model.link_threshold)
    return DetectionBasis(
        model_version=model.version,
        probability=round(model.probability(weakest), 4),
        calibrated_to=model.calibrated_to,
    )
