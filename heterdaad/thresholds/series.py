"""Thresholds of robbery series linkage (streams/link_series.py, streams/series_scoring.py).

Each feature of a pair of robberies adds a log-likelihood ratio (LLR), log P(x | same crew) /
P(x | different crews), read off a piecewise-linear curve of breakpoints (x, llr): between two
breakpoints the LLR is interpolated, beyond the ends it stays at the end value. The defaults
are reasoned from base rates (the branch mix of §6.2, the spread of robberies over the
country) and from the behavioural consistency the linkage literature finds (Burrell, Bull &
Bond 2012; Tonkin et al. 2011; Porter 2016), not fitted to the simulator; docs/series-linkage.md
explains them and gives the measured accuracy.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _ascending(curve: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    xs = [x for x, _ in curve]
    if any(later <= earlier for earlier, later in itertools.pairwise(xs)):
        raise ValueError("breakpoints must have strictly increasing x")
    return curve


Curve = Annotated[tuple[tuple[float, float], ...], Field(min_length=1), AfterValidator(_ascending)]
"""Breakpoints (x, llr) of a piecewise-linear log-likelihood ratio."""


def _curve(*points: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    return points


class SeriesThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- windows -------------------------------------------------------------------------
    max_gap_days: float = Field(
        21, gt=0, le=365, description="Robberies further apart in time are never linked."
    )
    duplicate_minutes: float = Field(
        120,
        ge=0,
        le=24 * 60,
        description="Two reports of one branch this close in time are the same robbery "
        "reported twice (by the shop and the trade association), not a series. The digest "
        "takes them for one robbery only when two sources (organisation and channel) sent "
        "them; the series stage sees no channel (docs/series-linkage.md).",
    )

    # --- decision ------------------------------------------------------------------------
    link_threshold: float = Field(
        8.0,
        description="Sum of LLRs from which two robberies are linked. About one pair in 250 "
        "within the window is linked (prior log-odds about -5.5), and naive Bayes overcounts "
        "correlated features (one crew's height, build and mask): 8 leaves a margin so that a "
        "false series is rare (docs/series-linkage.md).",
    )

    support_threshold: float = Field(
        5.0,
        description="Sum of LLRs from which a weaker link counts when corroborated: a report "
        "with such links to two members of one series joins it.",
    )

    triangles: bool = Field(
        False,
        description="Three reports each weakly linked (at least support_threshold) to both "
        "others found a series when their three scores sum to at least link_threshold + 2 x "
        "support_threshold: as much evidence as the least a strong link and its corroboration "
        "need. Off for the hand-set curves; a fitted model turns it on after its replay check "
        "(docs/series-linkage.md).",
    )

    path_continuation: bool = Field(
        False,
        description="A later robbery of the same kind with a weak link (at least "
        "support_threshold) to a series of two or more joins it when it lies where the "
        "series' path predicts the next one: within path_radius_fraction of the predicted "
        "circle's radius from its centre (streams/series_paths.py). Off for the hand-set "
        "curves; a fitted model turns it on after its replay check (docs/series-linkage.md).",
    )
    path_radius_fraction: float = Field(
        1.0,
        gt=0,
        le=2,
        description="How close to the predicted next target (a fraction of the warned "
        "circle's radius) a robbery must lie to continue a series' path.",
    )

    crew_consistency: bool = Field(
        False,
        description="A robbery joins a series, or two series merge, only when at least "
        "merge_linked_share of their pairs within max_gap_days are linked (at least "
        "support_threshold): two crews in one area meet through a pair or two, one crew's "
        "robberies through most. Off for the hand-set curves; a fitted model turns it on "
        "after its replay check (docs/series-linkage.md).",
    )
    merge_linked_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="The share of linked pairs crew_consistency asks of two groups that merge.",
    )

    prior_log_odds: float = Field(
        -5.5,
        description="Log-odds that a pair of robberies within the window is one crew's, "
        "before any evidence (about one pair in 250): turns the hand-set LLR sum into the "
        "probability an alert names. A fitted model brings its own.",
    )

    # --- the model and what its thresholds are calibrated to --------------------------------
    model_path: Path | None = Field(
        None,
        description="A fitted model (`heterdaad model fit`) to link with; it must load. None: "
        "<state_dir>/models/series/current.json when present, else the hand-set curves below.",
    )
    false_series_per_30_days: float = Field(
        1.0,
        gt=0,
        description="The false series alerts per 30 days, nationally, that `heterdaad model "
        "fit` chooses the link threshold for (issue 15: at most one).",
    )
    national_robberies_per_year: float = Field(
        1000,
        gt=0,
        description="The national volume the false-series rate is stated at (676 in 2021, "
        "the 2023 ambition 900: 1000 leaves a margin).",
    )

    # --- where and when ------------------------------------------------------------------
    distance_llr: Curve = Field(
        _curve((0, 2.5), (3, 2.5), (10, 1.5), (25, 0.0), (50, -2.0), (100, -4.0)),
        description="LLR by distance between the branches (km): crews strike a few km on, "
        "unrelated robberies lie anywhere in the country.",
    )
    time_gap_llr: Curve = Field(
        _curve((0, 0.8), (7, 0.5), (14, 0.0), (21, -1.0)),
        description="LLR by time between the robberies (days).",
    )
    travel_speed_kmh: float = Field(
        80, gt=0, description="Fastest plausible average speed between two robberies by road."
    )
    road_detour_factor: float = Field(
        1.3, ge=1, description="Road distance over straight-line distance."
    )
    time_uncertainty_minutes: float = Field(
        15,
        ge=0,
        le=240,
        description="Reported robbery times are estimates: two robberies count as unreachable "
        "only when even this much extra time would not have been enough.",
    )
    unreachable_llr: float = Field(
        -20.0,
        le=0,
        description="LLR when the second robbery happened sooner than the crew could have "
        "driven there from the first: a veto, whatever else matches (a cloned plate is "
        "then the likelier story).",
    )

    # --- target --------------------------------------------------------------------------
    branch_type_llr: Curve = Field(
        _curve((0, -1.5), (1, 1.5)),
        description="LLR by same kind of branch (1) or not (0); a supermarket is one of about "
        "six kinds that take most robberies, crews tend to stay with what worked.",
    )
    chain_llr: Curve = Field(
        _curve((0, -0.2), (1, 0.3)),
        description="LLR by same chain (1) or another chain (0); independents are no evidence.",
    )
    incident_type_llr: Curve = Field(
        _curve((0, -3.0), (1, 0.2)),
        description="LLR by same kind of crime (hold-up, ram raid or ATM attack, street, "
        "home robbery) (1) or not (0).",
    )

    # --- what they did -------------------------------------------------------------------
    modus_operandi_llr: Curve = Field(
        _curve((0, -1.0), (0.3, 0.0), (0.6, 1.0), (1, 1.5)),
        description="LLR by Jaccard similarity of the modus operandi.",
    )
    weapons_llr: Curve = Field(
        _curve((0, -1.5), (0.5, 0.3), (1, 1.2)),
        description="LLR by Jaccard similarity of the weapons seen.",
    )
    offender_count_llr: Curve = Field(
        _curve((0, -1.5), (0.5, 0.0), (1, 0.8)),
        description="LLR by offender count: 1 equal, 0.5 one apart, 0 further apart.",
    )

    # --- who (matched person to person) --------------------------------------------------
    height_llr: Curve = Field(
        _curve((0, -1.0), (0.5, -0.2), (1, 0.6)),
        description="LLR by mean height agreement of matched offenders (adjacent band: 0.5).",
    )
    build_llr: Curve = Field(
        _curve((0, -0.8), (1, 0.6)), description="LLR by mean build agreement."
    )
    clothing_llr: Curve = Field(
        _curve((0, -0.3), (0.5, 0.4), (1, 1.0)),
        description="LLR by mean Jaccard similarity of clothing (crews change clothes, so weak).",
    )
    face_covering_llr: Curve = Field(
        _curve((0, -0.6), (1, 0.8)), description="LLR by mean face covering agreement."
    )
    language_llr: Curve = Field(
        _curve((0, -0.6), (1, 0.6)), description="LLR by mean language agreement."
    )

    # --- how they left -------------------------------------------------------------------
    plate_llr: Curve = Field(
        _curve((0, -1.0), (1, 7.0)),
        description="LLR by same plate pseudonym (1) or another (0): a match is strong "
        "evidence (stolen plates, shared cars keep it short of proof), a mismatch weak "
        "(crews switch cars).",
    )
    vehicle_llr: Curve = Field(
        _curve((0, -0.5), (0.5, 0.0), (1, 1.5)),
        description="LLR by vehicle make and colour: 1 both agree, 0.5 one, 0 neither.",
    )
    getaway_mode_llr: Curve = Field(
        _curve((0, -0.6), (1, 0.4)),
        description="LLR by same getaway mode (on foot, scooter, car...) (1) or not (0).",
    )

    # --- the alert -----------------------------------------------------------------------
    path_steps: int = Field(
        2, ge=1, le=10, description="Latest steps of a series averaged to extrapolate its path."
    )
    min_target_radius_km: float = Field(
        3, gt=0, le=100, description="Smallest radius of the area warned around the next target."
    )
    target_radius_factor: float = Field(
        1.5,
        gt=0,
        le=10,
        description="Radius of the warned area as a multiple of the series' mean step.",
    )
    urgent_days: float = Field(
        3,
        gt=0,
        le=60,
        description="A series alert is high severity when its newest robbery is this recent "
        "(event time), medium when a late report links robberies of longer ago.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SeriesThresholds:
        if self.support_threshold > self.link_threshold:
            raise ValueError("support_threshold must not exceed link_threshold")
        # A time-gap curve that ends before the window would silently extend its last value.
        if self.time_gap_llr[-1][0] < self.max_gap_days:
            raise ValueError("time_gap_llr must reach max_gap_days")
        return self
