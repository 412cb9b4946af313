"""The series stage's trade-off: found by the third robbery against false series alerts, over
a range of link thresholds, for one setting of the set-level rules.

`python -m bench.series_frontier --links 8.489 8.739 8.989 --set merge_linked_share=0.6`:
the evaluation's hardest default dials (bench/evaluation/grid.py), development seeds
2011-2030 by default, robberies in arrival order through `link_report` with the model
HETERDAAD_SERIES__MODEL_PATH names (or the hand-set curves), support = link - gap. A rule or
threshold is worth adopting when it moves this curve, not one point of it: lowering the
threshold alone trades false alerts for series along it (docs/series-linkage.md). Never the
held-out seeds 1001-1099.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from bench.evaluation.grid import BASE, END, GRID, HARDEST
from bench.evaluation.stages import configured_series_thresholds, replay_series
from heterdaad.thresholds.series import SeriesThresholds
from producers.simulator import SimulationConfig, generate
from schemas.events import IncidentReport

if TYPE_CHECKING:
    from collections.abc import Sequence

DEVELOPMENT_SEEDS = tuple(range(2011, 2031))


@functools.cache  # one scenario per seed and process, whatever the number of thresholds
def robberies(seed: int, days: float) -> list[tuple[IncidentReport, str | None]]:
    config = SimulationConfig(seed=seed, days=days, end=END, **BASE, **GRID[HARDEST])
    return [(e.model, e.truth.series_id) for e in generate(config).events
            if isinstance(e.model, IncidentReport)]  # fmt: skip


def point(
    cases: Sequence[list[tuple[IncidentReport, str | None]]], t: SeriesThresholds
) -> tuple[int, int, int, int]:
    """Found by the third robbery, planted series of three or more, alerts, false alerts."""
    results = [replay_series(case, t) for case in cases]
    found, planted, alerts, false = (sum(column) for column in zip(*results, strict=True))
    return found, planted, alerts, false


def _point(args: tuple[list[int], float, SeriesThresholds]) -> tuple[int, int, int, int]:
    seeds, days, t = args
    logging.disable(logging.WARNING)
    return point([robberies(seed, days) for seed in seeds], t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.series_frontier", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEVELOPMENT_SEEDS))
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument(
        "--links",
        type=float,
        nargs="+",
        default=None,
        help="link thresholds (default: the model's, and 0.25 either side)",
    )
    parser.add_argument(
        "--gap", type=float, default=None, help="support = link - gap (default: the model's gap)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a SeriesThresholds field, e.g. merge_linked_share=0.6",
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    assert not set(args.seeds) & set(range(1001, 1100)), "never choose on held-out seeds"
    logging.disable(logging.WARNING)
    t = configured_series_thresholds()
    update = {}
    for item in args.set:
        field, _, value = item.partition("=")
        update[field] = json.loads(value)
    t = t.model_copy(update=update)
    gap = args.gap if args.gap is not None else t.link_threshold - t.support_threshold
    links = args.links or [t.link_threshold - 0.25, t.link_threshold, t.link_threshold + 0.25]
    trials = [t.model_copy(update={"link_threshold": link, "support_threshold": link - gap})
              for link in links]  # fmt: skip
    days = args.days * len(args.seeds)
    print(f"seeds {args.seeds[0]}-{args.seeds[-1]} ({len(args.seeds)}), gap {gap:g}, "
          f"rules {update or 'as the model'}")  # fmt: skip
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        points = pool.map(_point, [(args.seeds, args.days, trial) for trial in trials])
        for link, (found, planted, alerts, false) in zip(links, points, strict=True):
            print(
                f"link {link:6.3f} / support {link - gap:6.3f}: found by the third "
                f"{found}/{planted} ({100 * found / planted:.0f} %), series alerts {alerts}, "
                f"false {false} ({30 * false / days:.2f} per 30 days)",
                flush=True,
            )


if __name__ == "__main__":
    main()
