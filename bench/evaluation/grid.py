"""The grid: every stage over the simulator's evaluation dials, each alone and all together.

Runs one scenario per (dials, seed) in worker processes and adds the counts up per dials.
The held-out seeds were never used to choose a threshold; tuning uses other seeds.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.evaluation.stages import Counts, measure
from producers.simulator import SimulationConfig, generate
from producers.simulator.dials import HARDEST_DIALS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# Never used to tune a threshold: the stage tests and docs use seeds 1-22; tuning must use
# seeds outside 1001-1099.
HELD_OUT_SEEDS = (1001, 1002, 1003, 1004, 1005)
# A second held-out set, declared on 2026-12-06 before any run on it: 35 series (the five
# seeds above) measure the series rate only to about +-14 points. Run once, with the model as
# it stood, and reported whatever it gave (docs/evaluation.md); never for choosing.
HELD_OUT_SECOND = tuple(range(1006, 1026))
DAYS = 60.0
END = datetime(2026, 3, 1, tzinfo=UTC)
# Enough planted patterns per scenario for rates worth a percentage: 5 crews (the series
# evaluation's 2023 rate), 6 scouted robberies, one hotspot in the last three days.
BASE: dict[str, Any] = {"series": 5, "recon_patterns": 6, "hotspots": 1}
HARDEST = "hardest default dials"
GRID: dict[str, dict[str, Any]] = {
    "dials off": {},
    **{f"{name} = {value}": {name: value} for name, value in HARDEST_DIALS.items()},
    HARDEST: dict(HARDEST_DIALS),
}
QUICK_GRID = ("dials off", HARDEST)


@dataclass(frozen=True)
class Cell:
    """One scenario of the grid."""

    dials_name: str
    dials: dict[str, Any]
    seed: int
    days: float


def run_cell(cell: Cell) -> tuple[Cell, Counts]:
    # Worker processes: the stages log each decision; the grid reports only the figures.
    logging.disable(logging.WARNING)
    config = SimulationConfig(seed=cell.seed, days=cell.days, end=END, **BASE, **cell.dials)
    return cell, measure(generate(config))


def run_grid(
    names: Sequence[str],
    seeds: Sequence[int],
    days: float,
    jobs: int,
    progress: Callable[[str], None],
) -> dict[str, Counts]:
    """Counts per dials setting, summed over the seeds, in the order of `names`."""
    cells = [Cell(name, GRID[name], seed, days) for name in names for seed in seeds]
    totals = {name: Counts() for name in names}
    began = time.monotonic()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_cell, cell) for cell in cells]
        for done, future in enumerate(as_completed(futures), start=1):
            cell, counts = future.result()
            totals[cell.dials_name] = totals[cell.dials_name] + counts
            progress(f"[{done}/{len(cells)}] {cell.dials_name}, seed {cell.seed} "
                     f"({time.monotonic() - began:.0f} s)")  # fmt: skip
    return totals
