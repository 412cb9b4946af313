"""What a simulation is asked to produce: period, world size, rates and planted patterns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class SimulationConfig(BaseModel):
    """Every knob of the simulator; the defaults give a realistic national month.

    The same seed gives the same events, ids included. With `end` unset the period ends at the
    moment of generation, so only the times shift between runs; set `end` to replay exactly.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(1, description="Seed of every random choice.")
    days: float = Field(30.0, gt=0, le=3650, description="Length of the simulated period.")
    end: AwareDatetime | None = Field(
        None, description="End of the period; None: now. Never in the future."
    )
    branches: int = Field(2000, ge=50, le=200_000, description="Branches in the world.")
    robberies_per_year: float = Field(
        900.0,
        ge=0,
        description="Background robberies (incl. attempts) nationwide; the 2023 ceiling of the "
        "action programme is 900, 2021 saw 676.",
    )
    attempt_share: float = Field(
        0.25, ge=0, le=1, description="Share of robberies where nothing was taken (poging)."
    )
    ram_raids_per_year: float = Field(
        40.0, ge=0, description="Ram raids and ATM explosive attacks (20 to 103 a year, §2)."
    )
    metro_robbery_share: float = Field(
        0.46,
        ge=0,
        le=1,
        description="Share of background robberies in the police units Amsterdam and "
        "Rotterdam (more than 40%, §6.1).",
    )
    alarm_activations_per_day: float = Field(
        120.0, ge=0, description="Panic/hold-up presses per day nationwide (first presses)."
    )
    false_alarm_share: float = Field(
        0.99, ge=0, le=1, description="Share of presses with no robbery behind them."
    )
    one_episode_per_site: bool = Field(
        False,
        description="Every alarm episode at a site of its own (while sites last): for a period "
        "far shorter than the days between two presses at one site, such as a live tick "
        "carrying a compressed national volume. Off, sites are drawn by jumpiness with "
        "repetition, as over a month.",
    )
    alarm_coverage: float = Field(
        0.7, ge=0, le=1, description="Share of branches connected to a private alarm centre."
    )
    restore_share: float = Field(
        0.6, ge=0, le=1, description="Share of false presses followed by a restore or cancel."
    )
    test_signals_per_day: float = Field(
        30.0, ge=0, description="Test and link-test signals per day nationwide."
    )
    series: int = Field(3, ge=0, le=100, description="Planted robbery series (one crew each).")
    recon_patterns: int = Field(
        3, ge=0, le=100, description="Planted reconnaissance-then-robbery patterns."
    )
    background_sightings_per_day: float = Field(
        1.0, ge=0, description="Lone reconnaissance sightings that lead nowhere."
    )
    hotspots: int = Field(
        0,
        ge=0,
        le=20,
        description="Planted hotspots: five robberies of unrelated offenders around one town "
        "centre within the period's last three days (a space-time cluster, not a crew).",
    )
    alarm_days: float | None = Field(
        None,
        gt=0,
        description="Alarm traffic only in the period's last this many days; None: the whole "
        "period. A year of robberies for the hotspot baseline need not carry a year of presses.",
    )
    late_entry_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of incident reports and sightings entered late (a retailer, a "
        "monthly CBL upload): sent `late_entry_days` after they would have been.",
    )
    late_entry_days: tuple[float, float] = Field(
        (1.0, 30.0),
        description="Range (min, max) of the extra delay of a late entry, drawn uniformly. "
        "Entries that would come after the period's end are sent at its end.",
    )
    # Evaluation dials (docs/evaluation.md): each off by default and drawn from its own random
    # stream, so that a scenario without them replays event for event.
    sparse_reports: bool = Field(
        False,
        description="Reports as sparse as real ones: modus operandi, descriptions, vehicle and "
        "plate often missing, a plate known for only some crews (rates in dials.py).",
    )
    witness_noise: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance that a witness gets each detail wrong: colour, make, clothing, "
        "offender count, height, build.",
    )
    crew_changes: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance that a series crew changes its car, weapon, clothing or branch "
        "type before each robbery after its first (kept afterwards).",
    )
    shared_area_crews: int = Field(
        0,
        ge=0,
        le=50,
        description="Extra crews, each robbing the same kind of branch in the area and weeks "
        "of a planted series: two crews in one area at once.",
    )
    copycats: int = Field(
        0,
        ge=0,
        le=20,
        description="Copycat robberies per planted series: other offenders imitating the "
        "crew's modus operandi and weapons nearby, days after one of its robberies.",
    )
    single_sighting_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of planted reconnaissance patterns with a single sighting before "
        "the robbery instead of two to four.",
    )
    rate: float | None = Field(
        None, gt=0, description="Events per second when driving; None: as fast as possible."
    )
    truth_path: Path | None = Field(
        None, description="Where `simulate` writes the ground truth (JSON lines); None: nowhere."
    )

    @model_validator(mode="after")
    def _late_range_ordered(self) -> SimulationConfig:
        low, high = self.late_entry_days
        if not 0 <= low <= high:
            raise ValueError("late_entry_days must be (min, max) with 0 <= min <= max")
        return self

    @model_validator(mode="after")
    def _end_not_in_future(self) -> SimulationConfig:
        if self.end is not None and self.end > datetime.now(UTC) + timedelta(seconds=60):
            raise ValueError("end lies in the future; events may not be")
        return self

    def period(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """(start, end) of the simulated period, in UTC."""
        end = (self.end or now or datetime.now(UTC)).astimezone(UTC)
        return end - timedelta(days=self.days), end
