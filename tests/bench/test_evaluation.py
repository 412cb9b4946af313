"""The evaluation grid (bench/evaluation): the stages scored on truth, tables, the command."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from assembly.model_cli import CALIBRATION_SEEDS, SOLVED_SEEDS
from bench.evaluation.calibrate_recon import CALIBRATION_SEEDS as RECON_CALIBRATION_SEEDS
from bench.evaluation.grid import GRID, HARDEST, HELD_OUT_SECOND, HELD_OUT_SEEDS
from bench.evaluation.stages import Counts, measure
from bench.evaluation.tables import alarm_table, hotspot_table, recon_table, series_table
from bench.series_frontier import DEVELOPMENT_SEEDS
from producers.simulator import SimulationConfig, generate
from producers.simulator.dials import HARDEST_DIALS

ROOT = Path(__file__).resolve().parents[2]


def test_grid_has_each_dial_alone_and_all_together() -> None:
    assert GRID["dials off"] == {}
    alone = [dials for name, dials in GRID.items() if len(dials) == 1]
    assert sorted(name for dials in alone for name in dials) == sorted(HARDEST_DIALS)
    assert GRID[HARDEST] == HARDEST_DIALS
    # The held-out seeds are none of the seeds the stage tests tune and check on (1-22).
    assert min(HELD_OUT_SEEDS) > 1000


def test_no_seed_anything_was_chosen_on_is_held_out() -> None:
    held_out = set(HELD_OUT_SEEDS) | set(HELD_OUT_SECOND)
    assert len(held_out) == len(HELD_OUT_SEEDS) + len(HELD_OUT_SECOND)
    assert held_out <= set(range(1001, 1100))
    chosen_on = (
        set(SOLVED_SEEDS) | set(CALIBRATION_SEEDS) | set(RECON_CALIBRATION_SEEDS)
        | set(DEVELOPMENT_SEEDS) | set(range(1, 23))
    )  # fmt: skip
    assert not held_out & chosen_on


def test_a_scenario_is_scored_on_its_truth() -> None:
    config = SimulationConfig(seed=1001, days=14, end=datetime(2026, 3, 1, tzinfo=UTC),
                              series=3, recon_patterns=3, alarm_activations_per_day=30)  # fmt: skip
    scenario = generate(config)
    counts = measure(scenario)
    assert counts.series_planted == 3
    assert counts.recon_patterns == 3
    assert counts.recon_background_sightings == sum(
        e.truth.event_type == "recon_sighting" and e.truth.recon_pattern_id is None
        for e in scenario.events
    )
    presses = [e.truth for e in scenario.events if e.truth.alarm_role == "press"]
    assert counts.true_presses == sum(t.alarm == "true" for t in presses) > 0
    assert counts.false_presses == sum(t.alarm == "false" for t in presses) > 0
    # Counts of two seeds add up field by field.
    assert (counts + counts).series_planted == 6 and (counts + counts).days == 28


def test_tables_mark_a_missed_target() -> None:
    # Series: 3 of 4 found (75 %, under 80 %); reconnaissance: 7 of 10 warned, 2 false
    # warnings in 100 sightings (both on the line); alarms: one true hold-up missed.
    counts = Counts(days=30, series_planted=4, series_found_by_third=3, recon_patterns=10,
                    recon_warned_before=7, recon_background_sightings=100,
                    recon_false_warnings=2, true_presses=10, true_alerted=9, false_presses=100,
                    false_alerted=1)  # fmt: skip
    assert series_table({"x": counts})[2].endswith("| **no** |")
    assert recon_table({"x": counts})[2].endswith("| yes |")
    assert alarm_table({"x": counts})[2].endswith("| **no** |")


def test_hotspot_table_gives_chance_hotspots_per_100_days() -> None:
    # Five seeds of 60 days: 3 raised hotspots of no planted one in 300 days is 1 per 100.
    counts = Counts(days=300, hotspots_planted=5, hotspots_found=4, hotspots_raised=8,
                    hotspots_false=3)  # fmt: skip
    assert hotspot_table({"x": counts})[2] == "| x | 4/5 (80%) | 8 | 3 (1.00) |"


def test_quick_grid_command_writes_a_table_per_stage(tmp_path: Path) -> None:
    out = tmp_path / "grid.md"
    run = subprocess.run(
        [sys.executable, "-m", "bench.evaluation", "--quick", "--jobs", "1", "--days", "10",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    # Progress: a line per scenario, on stderr.
    assert "[2/2]" in run.stderr
    text = out.read_text(encoding="utf-8")
    for title in ("Series linkage", "Reconnaissance", "Hotspots", "Alarm verification"):
        assert f"#### {title}" in text
    assert text.count(f"| {HARDEST} |") == 4 and text.count("| dials off |") == 4
    assert "*≥ 70%*" in text and "seeds 1001" in text
