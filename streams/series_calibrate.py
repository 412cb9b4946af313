"""The link thresholds checked at the level the target is stated at: false series alerts.

The fit (streams/series_fit.py) chooses `link_threshold` for a false-link rate per unlinked
pair. A series alert is more than one pair: corroborating weak links, merges and every growth
of a false series raise alerts too, so on the solved cases' robberies, replayed through the
stage's own `link_report` in arrival order, the pair rate can still give more false series
alerts than stated (seeds 2001-2020, hardest dials: 2.08 per 30 days at the pair-calibrated
threshold). Raising both thresholds together until the replay meets the rate chooses them
for the quantity the target names. docs/series-linkage.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streams.link_series import MemoryLinkage, link_report

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

    from heterdaad.thresholds.series import SeriesThresholds
    from schemas.events import IncidentReport
    from streams.series_scoring import SeriesState

logger = logging.getLogger(__name__)

# A series alert is true when at least this many of its robberies are one planted crew's and
# they are its majority (as bench/evaluation/stages.py counts it).
TRUE_SERIES_MIN = 2


@dataclass(frozen=True)
class Replay:
    """What the stage raised on the solved cases under one pair of thresholds."""

    link_threshold: float
    support_threshold: float
    alerts: int
    false_alerts: int
    days: float

    @property
    def false_per_30_days(self) -> float:
        return 30.0 * self.false_alerts / self.days if self.days else 0.0


def is_false_series(series: SeriesState, crew_of: dict[UUID, str | None]) -> bool:
    """No planted crew holds at least two of the series' robberies and most of them."""
    crew, count = Counter(crew_of.get(m.event_id) for m in series.members).most_common(1)[0]
    return crew is None or count < TRUE_SERIES_MIN or count <= len(series.members) / 2


def replay(
    cases: Sequence[Sequence[tuple[IncidentReport, str | None]]],
    t: SeriesThresholds,
    days: float,
) -> Replay:
    """Every case (its robberies in arrival order, each with its planted crew or None)
    through `link_report`: series alerts and false ones."""
    alerts = false = 0
    for case in cases:
        crew_of = {report.event_id: crew for report, crew in case}
        state = MemoryLinkage()
        for report, _ in case:
            decision = link_report(report, state, t)
            state.apply(decision)
            if decision.grown is not None:
                alerts += 1
                false += is_false_series(decision.grown, crew_of)
    return Replay(t.link_threshold, t.support_threshold, alerts, false, days)


def raise_to_rate(
    cases: Sequence[Sequence[tuple[IncidentReport, str | None]]],
    t: SeriesThresholds,
    days: float,
    *,
    step: float = 0.25,
    max_raise: float = 6.0,
    on_replay: Callable[[Replay], None] | None = None,
) -> Replay:
    """The lowest thresholds, from `t`'s up in steps (gap kept), whose replay gives at most
    `t.false_series_per_30_days` false series alerts; the last tried if none does.
    `on_replay` hears each replay as it ends (a replay takes seconds)."""
    raised = 0.0
    while True:
        trial = t.model_copy(update={
            "link_threshold": round(t.link_threshold + raised, 3),
            "support_threshold": round(t.support_threshold + raised, 3),
        })  # fmt: skip
        result = replay(cases, trial, days)
        logger.info("series thresholds replayed", extra={
            "link_threshold": result.link_threshold, "false_series": result.false_alerts,
            "per_30_days": round(result.false_per_30_days, 3)})  # fmt: skip
        if on_replay is not None:
            on_replay(result)
        if result.false_per_30_days <= t.false_series_per_30_days or raised >= max_raise:
            return result
        raised += step
