"""Thresholds of reconnaissance linkage (streams/link_reconnaissance.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import ReconBehaviour

# --- calibrated: written by `python -m bench.evaluation.calibrate_recon --write` -------------
# CALIBRATION_BEGIN
# `python -m bench.evaluation.calibrate_recon --seeds $(seq 2001 2010) --jobs 4 --write`:
# seeds 2001-2010, hardest default dials, 60 days, 10 background sightings a day (6000 in all);
# warn_score 6 gives 1.517 false warnings per 100 background sightings (target <= 2).
WARN_SCORE = 6.0
FALSE_RATE_TARGET_PER_100 = 2.0
FALSE_RATE_CURVE: tuple[tuple[float, float], ...] = (
    (0.5, 99.633),
    (1, 93.183),
    (1.5, 88.417),
    (2, 83.7),
    (2.5, 68.083),
    (3, 51.95),
    (3.5, 38.917),
    (4, 27.85),
    (4.5, 16.583),
    (5, 11.283),
    (5.5, 5.633),
    (6, 1.517),
    (6.5, 1.067),
    (7, 0.517),
    (7.5, 0.117),
    (8.5, 0.083),
    (9.5, 0.05),
    (10, 0.017),
)
# 60 planted patterns; share a robbery followed among the patterns scoring at least this:
PROBABILITY_CURVE: tuple[tuple[float, float], ...] = (
    (0.5, 0.01),
    (1, 0.011),
    (1.5, 0.011),
    (2, 0.012),
    (2.5, 0.014),
    (3, 0.019),
    (3.5, 0.025),
    (4, 0.031),
    (4.5, 0.051),
    (5, 0.074),
    (5.5, 0.133),
    (6, 0.341),
    (6.5, 0.423),
    (7, 0.587),
    (7.5, 0.844),
    (8.5, 0.875),
    (9.5, 0.9),
    (10, 0.963),
)
# CALIBRATION_END


class ReconWeights(BaseModel):
    """What each feature adds to a link score, as a log-likelihood ratio (natural log).

    A positive weight is the log of how much likelier the observation is when two reports are
    of one crew than when they are of strangers; a negative one is evidence against. The
    defaults are rough: matching plate pseudonyms are near-certain, a matching make and colour
    is about 1 in 60 by chance, a matching height band, build or language about 1 in 3.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    plate_match: float = Field(
        6.0, ge=0, description="Both plates noted and their pseudonyms equal."
    )
    plate_mismatch: float = Field(
        -4.0, le=0, description="Both plates noted (same key) and different: another car."
    )
    vehicle_match: float = Field(2.5, ge=0, description="Same vehicle make and colour.")
    vehicle_mismatch: float = Field(
        -2.0, le=0, description="Make or colour noted on both sides and different."
    )
    person_attribute_match: float = Field(
        0.75,
        ge=0,
        description="Per equal height band, build, language or face covering of the "
        "best-matching pair of persons.",
    )
    person_attribute_mismatch: float = Field(
        -1.0, le=0, description="Per such attribute noted on both sides and different."
    )
    clothing: float = Field(
        1.5,
        ge=0,
        description="Times the clothing overlap (Jaccard, 0 to 1) of that pair; "
        "sightings only, robbers change clothes.",
    )
    behaviours: float = Field(
        1.5,
        ge=0,
        description="Times the overlap (Jaccard) of the behaviours of two sightings.",
    )
    same_branch: float = Field(3.0, ge=0, description="A robbery at the very branch sighted.")
    nearby_branch: float = Field(
        1.5, ge=0, description="A robbery at a branch of the sighted kind within the link radius."
    )
    warned_pattern: float = Field(
        1.5,
        ge=0,
        description="The sighting belongs to a pattern already warned of: a crew at work, not "
        "one odd customer.",
    )


# Behaviours that only make sense when choosing a target (cash, closing time, cameras,
# entrances, returning without buying) weigh more than loitering or waiting in a car, which
# many innocent customers do.
STRONG_BEHAVIOURS = frozenset({
    ReconBehaviour.ASKS_ABOUT_CASH,
    ReconBehaviour.ASKS_CLOSING_TIME,
    ReconBehaviour.FILMS_ENTRANCE,
    ReconBehaviour.FILMS_CAMERAS,
    ReconBehaviour.REPEATED_VISITS_NO_PURCHASE,
    ReconBehaviour.WATCHES_STAFF_ENTRANCE,
})  # fmt: skip


class ReconEvidence(BaseModel):
    """What each kind of evidence adds to a pattern's warning score (log-likelihood ratios).

    Rough priors, none negative: evidence that was not reported is not evidence against. The
    threshold they are compared with is calibrated, not these (issue 15 item 5 fits them).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strong_behaviour: float = Field(
        2.0, ge=0, description="Per distinct behaviour asking about cash or closing time, "
        "filming the entrance or cameras, returning without buying or watching the staff door."
    )
    weak_behaviour: float = Field(
        0.5, ge=0, description="Per other behaviour (loitering, waiting in a vehicle)."
    )
    behaviours_cap: float = Field(
        6.0, ge=0, description="Most the behaviours of one pattern add together."
    )
    several_behaviours: float = Field(
        2.5, ge=0, description="At least `several_behaviours_from` distinct behaviours noted at "
        "one visit: one person doing several things that matter only when choosing a target, "
        "which a single sighting before a robbery often shows and a chance customer seldom."
    )
    several_behaviours_from: int = Field(
        3, ge=2, le=9, description="Distinct behaviours at one visit that count as several."
    )
    companions: float = Field(
        0.5, ge=0, description="Two or more persons described at one visit: scouts come in "
        "pairs; a lone customer is the common innocent case."
    )
    vehicle_noted: float = Field(
        1.0, ge=0, description="A vehicle noted (make, colour or plate): scouts come by car."
    )
    repeat_visit: float = Field(
        2.0, ge=0, description="Per further sighting at a branch the pattern already holds."
    )
    linked_branch: float = Field(
        3.0, ge=0, description="Per further branch linked into the pattern (one crew, two shops)."
    )
    nearby_sighting: float = Field(
        1.5, ge=0, description="Per other branch of the same kind with an unlinked sighting "
        "within cluster_radius_m and window_days."
    )
    max_counted: int = Field(
        3, ge=1, le=20, description="Repeats, branches or nearby sightings counted at most."
    )

    def behaviour_weight(self, behaviour: ReconBehaviour) -> float:
        return self.strong_behaviour if behaviour in STRONG_BEHAVIOURS else self.weak_behaviour


class ReconThresholds(BaseModel):
    """When sightings form a pattern, when a pattern is warned of, when a robbery is linked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: float = Field(
        7, gt=0, le=60, description="Sightings within this many days can form one pattern."
    )
    cluster_radius_m: float = Field(
        10_000,
        gt=0,
        le=50_000,
        description="Sightings further apart are never linked; a crew scouts one town or region.",
    )
    link_score: float = Field(
        5.0, description="Two sightings with at least this score belong to one pattern."
    )
    warn_score: float = Field(
        WARN_SCORE,
        description="A pattern (one sighting or more) whose warning score reaches this is "
        "warned of. Calibrated to false_rate_target_per_100 (see the calibration block above).",
    )
    false_rate_target_per_100: float = Field(
        FALSE_RATE_TARGET_PER_100, gt=0, le=100,
        description="False warnings per 100 background sightings warn_score was calibrated to.",
    )  # fmt: skip
    false_rate_curve: tuple[tuple[float, float], ...] = Field(
        FALSE_RATE_CURVE,
        description="(score, false warnings per 100 background sightings at that threshold), "
        "ascending: each warning states the rate at its own score.",
    )
    probability_curve: tuple[tuple[float, float], ...] = Field(
        PROBABILITY_CURVE,
        description="(score, share of the calibration's patterns scoring at least this that a "
        "robbery followed), ascending: each warning states the probability at its own score.",
    )
    min_branches: int = Field(
        2, ge=2, le=20, description="Different branches linked into one pattern that raise a "
        "warning whatever its score (one crew seen at two shops)."
    )
    high_severity_branches: int = Field(
        3, ge=2, le=50, description="From this many branches on, a warning is high, else medium."
    )
    area_margin_m: float = Field(
        2_000, ge=0, le=20_000, description="Warned area: around the sighted branches plus this."
    )
    robbery_link_days: float = Field(
        14, gt=0, le=60, description="A robbery this many days after a sighting can be linked."
    )
    robbery_link_radius_m: float = Field(
        3_000, gt=0, le=20_000, description="A robbery at a branch of the sighted kind this near."
    )
    robbery_link_score: float = Field(
        5.0, description="A robbery and a sighting with at least this score are linked."
    )
    max_tracked_sightings: int = Field(
        1_000,
        ge=10,
        le=5_000,
        description="Most sightings kept in state (oldest go first); the state is one table "
        "value, so this bounds it below Kafka's 1 MB record limit.",
    )
    weights: ReconWeights = ReconWeights()
    evidence: ReconEvidence = ReconEvidence()

    @model_validator(mode="after")
    def _high_after_warning(self) -> ReconThresholds:
        if self.high_severity_branches < self.min_branches:
            raise ValueError("high_severity_branches must be at least min_branches")
        return self

    @property
    def reach_days(self) -> float:
        """How far apart in event time a sighting and what it may link to can lie."""
        return max(self.window_days, self.robbery_link_days)
