"""Thresholds of prospective hotspot detection (streams/detect_hotspots.py, docs/hotspots.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HotspotThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    monte_carlo_replications: int = Field(
        999,
        ge=999,
        le=99_999,
        description="Permutations for the significance of a cluster. The smallest p-value is "
        "1/(R+1), so R bounds the longest recurrence interval a scan can show.",
    )
    seed: int = Field(
        4, description="Seed of the permutations; with the scan's data it fixes every p-value."
    )
    study_days: float = Field(
        365,
        ge=28,
        le=730,
        description="Baseline: events this far back before the newest event are scanned. The "
        "permutation model takes the expected count of a place from this period, so a short "
        "one cannot tell a new cluster from a place where robbery is always common.",
    )
    max_window_days: int = Field(
        7,
        ge=1,
        le=28,
        description="Longest time window of a cluster; windows of 1, 2, ... days all end at the "
        "newest event's time (prospective scan).",
    )
    max_radius_m: float = Field(
        3000, ge=250, le=20_000, description="Largest circle of a cluster (a city district)."
    )
    max_share: float = Field(
        0.5, gt=0, le=0.5, description="A circle holds at most this share of all events."
    )
    min_observed: int = Field(
        3, ge=2, le=20, description="Fewest events in a cluster's circle and window."
    )
    raise_recurrence_days: float = Field(
        100,
        gt=0,
        description="A new hotspot is raised when a cluster this unusual would arise by chance "
        "at most once in this many days anywhere in the country.",
    )
    keep_recurrence_days: float = Field(
        20,
        gt=0,
        description="An open hotspot stays open while a cluster with one of its events is at "
        "least this unusual; lower than the raise threshold so it does not flap.",
    )
    baseline_gap_days: float = Field(
        7,
        ge=2,
        le=60,
        description="A span longer than this without a single event in the country is data "
        "missing (a patchy history), not a quiet time: it is not counted in the days a scan's "
        "study period covers, which would make chance clusters look rarer.",
    )
    max_clusters_per_scan: int = Field(
        3, ge=1, le=20, description="Most new hotspots one scan may raise."
    )
    include_sightings: bool = Field(
        True, description="Scan reconnaissance sightings together with reported robberies."
    )
    max_events: int = Field(
        4000,
        ge=100,
        le=4500,
        description="Most events kept (the oldest go first): bounds a scan's cost and the state, "
        "about 205 bytes an event in one changelog record, under Kafka's 1 MB record limit.",
    )
    min_area_radius_m: float = Field(
        500,
        gt=0,
        le=5000,
        description="Smallest radius of an alert's area (a cluster at one branch has radius 0).",
    )

    batch_max: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Most observations taken in one batch: a burst of late ones (a history "
        "import) replays the scans once per batch instead of once per observation.",
    )
    batch_wait_seconds: float = Field(
        0.5, gt=0, le=10, description="Longest wait for a batch to fill."
    )

    @model_validator(mode="after")
    def _consistent(self) -> HotspotThresholds:
        if self.keep_recurrence_days > self.raise_recurrence_days:
            raise ValueError("keep_recurrence_days must not exceed raise_recurrence_days")
        if self.max_window_days * 2 > self.study_days:
            raise ValueError("max_window_days must be at most half of study_days")
        return self

    @property
    def window_days(self) -> tuple[float, ...]:
        """The time windows of the scan: 1, 2, ..., max_window_days days."""
        return tuple(float(d) for d in range(1, self.max_window_days + 1))
