"""Why planted series are missed by their third robbery: the pair scores that block the link.

`python -m bench.series_misses --seeds 2001 2002`: the evaluation's hardest default dials
(bench/evaluation/grid.py), robberies in arrival order through `link_report`, the model
HETERDAAD_SERIES__MODEL_PATH names (or the hand-set curves). For every planted series not
found by its third robbery it prints the three pairs' scores and what pulls each below the
link threshold; then the counts per cause over all missed series. Development seeds only:
never the held-out 1001-1005 for choosing anything (docs/series-linkage.md).
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections import Counter
from typing import TYPE_CHECKING

from bench.evaluation.stages import configured_series_thresholds
from bench.series_frontier import robberies
from heterdaad.thresholds.series import SeriesThresholds
from schemas.events import IncidentReport
from streams.link_series import MemoryLinkage, link_report
from streams.series_calibrate import is_false_series
from streams.series_scoring import score_pair

if TYPE_CHECKING:
    from streams.series_scoring import PairScore


def _why(score: PairScore, t: SeriesThresholds) -> list[str]:
    """Each feature pulling the pair down, most negative first: the blocking evidence."""
    if any(f.feature == "travel_minutes" for f in score.features):
        return ["veto(travel)"]
    against = [f for f in score.features if f.contribution < 0]
    against.sort(key=lambda f: f.contribution)
    return [f"{f.feature}={f.value}:{f.contribution:+.1f}" for f in against]


def diagnose(seed: int, days: float, t: SeriesThresholds, causes: Counter[str]) -> tuple[int, int]:
    events = robberies(seed, days)
    crew_of = {report.event_id: crew for report, crew in events}
    sizes = Counter(crew for _, crew in events if crew)
    state = MemoryLinkage()
    arrived: dict[str, list[IncidentReport]] = {}
    planted = found = 0
    for report, crew in events:
        decision = link_report(report, state, t)
        state.apply(decision)
        if decision.grown is not None:
            causes["series alerts"] += 1
            causes["false series alerts"] += is_false_series(decision.grown, crew_of)
        if not crew or sizes[crew] < 3:
            continue
        seen = arrived.setdefault(crew, [])
        seen.append(report)
        if len(seen) != 3:
            continue
        planted += 1
        ids = {state.reports[r.event_id].series_id if r.event_id in state.reports else None
               for r in seen}  # fmt: skip
        if len(ids) == 1 and None not in ids:
            found += 1
            continue
        print(f"seed {seed} series {crew}: missed (series ids {len(ids)})")
        strong = weak = 0
        for a, b in itertools.combinations(sorted(seen, key=lambda r: r.occurred_at), 2):
            score = score_pair(a, b, t)
            level = ("link" if score.total >= t.link_threshold
                     else "support" if score.total >= t.support_threshold else "below")  # fmt: skip
            strong += level == "link"
            weak += level == "support"
            print(f"  {score.total:6.2f} {level:7s} km={score.distance_m / 1000:5.1f} "
                  f"days={score.time_gap_s / 86400:4.1f} "
                  f"features={len(score.features)} "
                  f"against: {' '.join(_why(score, t))}")  # fmt: skip
            if level != "link":
                for cause in _why(score, t):
                    causes[cause.split("=")[0].split(":")[0]] += 1
        causes[f"shape: {strong} strong, {weak} weak of 3 pairs"] += 1
    return planted, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.series_misses", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2001, 2002, 2003])
    parser.add_argument("--days", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    t = configured_series_thresholds()
    print(f"link {t.link_threshold} / support {t.support_threshold}")
    causes: Counter[str] = Counter()
    planted = found = 0
    for seed in args.seeds:
        p, f = diagnose(seed, args.days, t, causes)
        planted, found = planted + p, found + f
    days = args.days * len(args.seeds)
    false_alerts = causes.pop("false series alerts", 0)
    alerts = causes.pop("series alerts", 0)
    print(f"\nfound by the third: {found}/{planted}; series alerts {alerts},"
          f" false {false_alerts} ({30 * false_alerts / days:.2f} per 30 days)")
    print("pairs short of the link threshold, per feature pulling them down:")
    for cause, n in causes.most_common():
        print(f"  {n:4d}  {cause}")


if __name__ == "__main__":
    main()
