"""Thresholds of reconnaissance linkage (streams/link_reconnaissance.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    min_branches: int = Field(
        2, ge=2, le=20, description="Different branches a pattern must span to raise a warning."
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

    @model_validator(mode="after")
    def _high_after_warning(self) -> ReconThresholds:
        if self.high_severity_branches < self.min_branches:
            raise ValueError("high_severity_branches must be at least min_branches")
        return self

    @property
    def reach_days(self) -> float:
        """How far apart in event time a sighting and what it may link to can lie."""
        return max(self.window_days, self.robbery_link_days)
