"""Detection figures with reports entered late: `python -m bench.detection` prints the doc rows.

Each pattern stage is measured twice on the same simulated traffic: as the docs measure it
today (reports sent soon after they happened), and with the simulator's late-entry dial
(`late_entry_share=0.2`, `late_entry_days=(1, 30)`: a fifth of the incident reports and
sightings entered one to thirty days late, cut to the end of the period). The harnesses are
the evaluations of the stage tests (tests/streams), so the figures match the docs' own.
Pure, no broker: series about a minute, reconnaissance a few, hotspots about ten minutes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from heterdaad.thresholds.hotspots import HotspotThresholds
from heterdaad.thresholds.reconnaissance import ReconThresholds
from producers.simulator import SimulationConfig, generate
from schemas.events import IncidentReport, ReconSighting
from streams.detect_hotspots import HotspotState, HotspotTracker, observation_of
from tests.streams import test_link_reconnaissance as recon
from tests.streams import test_link_series as series

LATE: dict[str, Any] = {"late_entry_share": 0.2, "late_entry_days": (1.0, 30.0)}
HOTSPOT_SEEDS = (1, 2, 3, 4)
HOTSPOT_DAYS = 120  # a baseline long enough for the scan (docs/hotspots.md: power by baseline)
HOTSPOT_END = datetime(2026, 3, 1, tzinfo=UTC)


def series_rows() -> list[str]:
    rows = []
    for base in (series.CLEAN, series.EVALUATIONS[1]):
        for late in (False, True):
            evaluation = base if not late else replace(
                base, name=f"{base.name}, 20 % entered 1-30 days late",
                config={**base.config, **LATE}, pairs=False,
            )  # fmt: skip
            rows.append(series.describe(evaluation, series.evaluate(evaluation)))
    return rows


def recon_row(late: bool) -> str:
    total = recon.Figures()
    seeds = recon.EVALUATION_SEEDS
    for seed in seeds:
        config = SimulationConfig(
            seed=seed, days=recon.EVALUATION_DAYS, end=recon.EVALUATION_END,
            alarm_activations_per_day=0, test_signals_per_day=0, **(LATE if late else {}),
        )  # fmt: skip
        total.add(recon.evaluate(generate(config), ReconThresholds(), via_json=False))
    leads = total.lead_hours or [0.0]
    name = "1 a day, 20 % entered 1-30 days late" if late else "1 a day (simulator default)"
    return (
        f"| {name} | {len(seeds)} x {recon.EVALUATION_DAYS} | {total.patterns} | "
        f"{total.warned_before} ({total.warned_before / total.patterns:.0%}) | "
        f"{total.robberies_linked} ({total.robberies_linked / total.patterns:.0%}) | "
        f"{total.false_warnings} of {total.background_sightings:,} background sightings | "
        f"{total.false_links} | {statistics.median(leads):.0f} h, {min(leads):.0f} h |"
    )


def hotspot_row(late: bool) -> str:
    """Planted hotspots (five robberies around a town centre in three days) found or not."""
    found = false = needed_total = 0
    needed: list[int] = []
    for seed in HOTSPOT_SEEDS:
        config = SimulationConfig(
            seed=seed, days=HOTSPOT_DAYS, end=HOTSPOT_END, hotspots=1,
            alarm_activations_per_day=0, test_signals_per_day=0, **(LATE if late else {}),
        )  # fmt: skip
        scenario = generate(config)
        planted = {e.truth.event_id for e in scenario.events if e.truth.hotspot_id}
        tracker, state = HotspotTracker(HotspotThresholds()), HotspotState()
        arrived: set[Any] = set()
        hit = False
        for event in scenario.events:
            if not isinstance(event.model, IncidentReport | ReconSighting):
                continue
            arrived.add(event.truth.event_id)
            state, changes = tracker.observe(state, observation_of(event.model))
            for change in changes:
                if change.status != "raised":
                    continue
                members = {o.event_id for o in change.events}
                if len(members & planted) >= 3 and not hit:
                    hit = True
                    needed.append(len(planted & arrived))
                elif not members & planted:
                    false += 1
        found += hit
        needed_total += 1
    name = "20 % entered 1-30 days late" if late else "sent soon after they happened"
    return (
        f"| {name} | {len(HOTSPOT_SEEDS)} x {HOTSPOT_DAYS} | {found} of {needed_total} | "
        f"{', '.join(map(str, needed)) or '-'} | {false} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=("series", "recon", "hotspots"), default=None)
    args = parser.parse_args()
    began = time.monotonic()
    if args.only in (None, "series"):
        print("series (docs/series-linkage.md):", *series_rows(), sep="\n")
    if args.only in (None, "recon"):
        print("reconnaissance (docs/reconnaissance.md):", recon_row(False), recon_row(True),
              sep="\n")  # fmt: skip
    if args.only in (None, "hotspots"):
        print("hotspots (docs/hotspots.md):", hotspot_row(False), hotspot_row(True), sep="\n")
    print(f"({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
