"""`python -m bench.evaluation.calibrate_recon`: choose the reconnaissance warning threshold.

Replays simulated scenarios (the evaluation's hardest default dials, calibration seeds that
are neither the held-out seeds nor the stage tests') through the linker with warnings off,
records the highest warning score every pattern of background sightings only ever reached,
and picks the lowest `warn_score` at which at most the target rate of false warnings per 100
background sightings would be raised. Patterns that warn whatever their score (linked at
`min_branches` branches) use up the budget first. The same replays record the highest score
every planted pattern reached before its robbery, which gives the probability a warning states:
of the patterns that scored at least this high, the share a robbery followed (at the
calibration's mix of scouted robberies and background sightings). `--write` puts the result
into heterdaad/thresholds/reconnaissance.py.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.evaluation.grid import BASE, END, HELD_OUT_SEEDS
from heterdaad.thresholds.reconnaissance import ReconThresholds
from producers.simulator import SimulationConfig, generate
from producers.simulator.dials import HARDEST_DIALS
from schemas.events import IncidentReport, ReconSighting
from streams.recon_linkage import ReconLinker

logger = logging.getLogger(__name__)

# Outside the held-out 1001-1099 and the stage tests' 1-22.
CALIBRATION_SEEDS = tuple(range(2001, 2021))
DAYS = 60.0
TARGET_PER_100 = 2.0
# National volume: a few thousand sightings a year (docs/reconnaissance.md). The rate per
# sighting grows with density (more unlinked neighbours), so calibrating here is the safe side
# for the evaluation's one a day.
BACKGROUND_PER_DAY = 10.0
THRESHOLDS_FILE = Path(__file__).resolve().parents[2] / "heterdaad/thresholds/reconnaissance.py"


@dataclass
class BackgroundScores:
    """What one or more scenarios show of background sightings' patterns."""

    background_sightings: int = 0
    forced: int = 0  # background patterns warned whatever their score
    scores: list[float] = field(default_factory=list)  # each other background pattern's best
    # Each planted pattern's best score before its robbery (infinity: warned whatever it scored).
    planted: list[float] = field(default_factory=list)

    def __add__(self, other: BackgroundScores) -> BackgroundScores:
        return BackgroundScores(
            self.background_sightings + other.background_sightings,
            self.forced + other.forced,
            self.scores + other.scores,
            self.planted + other.planted,
        )


@dataclass(frozen=True)
class Calibration:
    warn_score: float
    target_per_100: float
    achieved_per_100: float
    curve: tuple[tuple[float, float], ...]
    background_sightings: int
    probability: tuple[tuple[float, float], ...] = ()
    planted: int = 0


def background_scores(
    seed: int, days: float = DAYS, per_day: float = BACKGROUND_PER_DAY
) -> BackgroundScores:
    """Every background pattern's highest warning score in one scenario, warnings off."""
    logging.disable(logging.WARNING)
    config = SimulationConfig(seed=seed, days=days, end=END, **BASE, **HARDEST_DIALS,
                              background_sightings_per_day=per_day)  # fmt: skip
    scenario = generate(config)
    planted = {e.truth.event_id for e in scenario.events if e.truth.recon_pattern_id}
    pattern_of = {e.truth.event_id: e.truth.recon_pattern_id for e in scenario.events}
    silent = ReconThresholds().model_copy(update={"warn_score": math.inf})
    linker = ReconLinker(silent)
    best: dict[str, float] = {}
    forced: set[str] = set()
    before: dict[str, float] = {p.pattern_id: -math.inf for p in scenario.recon}
    robbed: set[str] = set()
    for event in scenario.events:
        if not isinstance(event.model, ReconSighting | IncidentReport):
            continue
        if event.truth.recon_role == "robbery" and event.truth.recon_pattern_id:
            robbed.add(event.truth.recon_pattern_id)
        for scored in linker.observe(event.model).scored:
            if planted & {*scored.member_ids, *scored.score.nearby_ids}:
                for label in {pattern_of[m] for m in scored.member_ids} - {None} - robbed:
                    assert label is not None
                    reached = math.inf if scored.warned else scored.score.total
                    before[label] = max(before[label], reached)
                continue
            if scored.warned:
                forced.add(scored.pattern_id)
            best[scored.pattern_id] = max(best.get(scored.pattern_id, 0.0), scored.score.total)
    background = sum(
        isinstance(e.model, ReconSighting) and e.truth.recon_pattern_id is None
        for e in scenario.events
    )
    return BackgroundScores(
        background, len(forced), [v for k, v in best.items() if k not in forced],
        list(before.values()),
    )  # fmt: skip


def choose(totals: BackgroundScores, target_per_100: float) -> Calibration:
    """The lowest score level at which the false-warning rate stays at or under the target."""
    n = max(1, totals.background_sightings)
    levels = sorted(set(totals.scores))

    def rate(level: float) -> float:
        return 100 * (totals.forced + sum(s >= level for s in totals.scores)) / n

    curve = tuple((level, round(rate(level), 3)) for level in levels)
    fitting = [level for level in levels if rate(level) <= target_per_100]
    warn_score = fitting[0] if fitting else (levels[-1] + 0.5 if levels else 0.0)
    return Calibration(warn_score, target_per_100, round(rate(warn_score), 3), curve, n,
                       probability_curve(totals, levels), len(totals.planted))  # fmt: skip


def probability_curve(
    totals: BackgroundScores, levels: list[float]
) -> tuple[tuple[float, float], ...]:
    """(score, share of the patterns scoring at least this that a robbery followed).

    Read as steps like the false-rate curve. Background patterns warned whatever their score
    count at every level, as planted ones do.
    """
    curve = []
    for level in levels:
        true = sum(s >= level for s in totals.planted)
        false = totals.forced + sum(s >= level for s in totals.scores)
        if true + false:
            curve.append((level, round(true / (true + false), 3)))
    return tuple(curve)


def calibrate(
    seeds: tuple[int, ...] = CALIBRATION_SEEDS,
    target_per_100: float = TARGET_PER_100,
    days: float = DAYS,
    per_day: float = BACKGROUND_PER_DAY,
    jobs: int = 2,
) -> Calibration:
    assert not set(seeds) & set(range(1001, 1100)), "never calibrate on held-out seeds"
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        parts = list(
            pool.map(background_scores, seeds, [days] * len(seeds), [per_day] * len(seeds))
        )
    return choose(sum(parts, BackgroundScores()), target_per_100)


def _seeds(seeds: tuple[int, ...]) -> str:
    ordered = sorted(seeds)
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered))


def write(
    calibration: Calibration,
    command: str,
    *,
    seeds: tuple[int, ...],
    days: float,
    per_day: float,
    path: Path = THRESHOLDS_FILE,
) -> None:
    """Replace the calibration block of the thresholds module."""
    curve = "".join(f"\n    ({s:g}, {r:g})," for s, r in calibration.curve)
    probability = "".join(f"\n    ({s:g}, {r:g})," for s, r in calibration.probability)
    block = (
        "# CALIBRATION_BEGIN\n"
        f"# `{command}`:\n# seeds {_seeds(seeds)}, hardest default dials, {days:g} days, "
        f"{per_day:g} background sightings a day ({calibration.background_sightings} in all);\n"
        f"# warn_score {calibration.warn_score:g} gives {calibration.achieved_per_100:g} false "
        f"warnings per 100 background sightings (target <= {calibration.target_per_100:g}).\n"
        f"WARN_SCORE = {calibration.warn_score!r}\n"
        f"FALSE_RATE_TARGET_PER_100 = {calibration.target_per_100!r}\n"
        f"FALSE_RATE_CURVE: tuple[tuple[float, float], ...] = ({curve}\n)\n"
        f"# {calibration.planted} planted patterns; share a robbery followed "
        "among the patterns scoring at least this:\n"
        f"PROBABILITY_CURVE: tuple[tuple[float, float], ...] = ({probability}\n)\n"
        "# CALIBRATION_END"
    )
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"# CALIBRATION_BEGIN.*?# CALIBRATION_END", block, text, flags=re.S)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluation.calibrate_recon",
                                     description=__doc__)  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=list(CALIBRATION_SEEDS))
    parser.add_argument("--target", type=float, default=TARGET_PER_100,
                        help="false warnings per 100 background sightings")  # fmt: skip
    parser.add_argument("--days", type=float, default=DAYS)
    parser.add_argument("--background-per-day", type=float, default=BACKGROUND_PER_DAY)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write into the thresholds module")
    args = parser.parse_args(argv)
    assert not set(args.seeds) & set(HELD_OUT_SEEDS)
    calibration = calibrate(
        tuple(args.seeds), args.target, args.days, args.background_per_day, args.jobs
    )
    words = list(argv if argv is not None else sys.argv[1:])
    if "--seeds" in words:  # a run of seeds as $(seq a b): the comment stays within a line
        first = words.index("--seeds") + 1
        last = next((i for i in range(first, len(words)) if words[i].startswith("--")), len(words))
        seeds = sorted(args.seeds)
        if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
            words[first:last] = [f"$(seq {seeds[0]} {seeds[-1]})"]
    command = "python -m bench.evaluation.calibrate_recon " + " ".join(words)
    sys.stdout.write(
        f"warn_score {calibration.warn_score:g}: {calibration.achieved_per_100:g} false warnings"
        f" per 100 of {calibration.background_sightings} background sightings (target "
        f"{calibration.target_per_100:g})\n"
    )
    if args.write:
        write(calibration, command.strip(), seeds=tuple(args.seeds), days=args.days,
              per_day=args.background_per_day)  # fmt: skip


if __name__ == "__main__":
    main()
