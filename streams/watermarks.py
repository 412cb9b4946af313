"""A pattern stage's watermark over inputs that are read at different speeds.

A stage fed by two topics (sightings and robberies) reads each at its own pace. When a backlog
is loaded, the smaller topic is read to its end while the larger one is still months behind in
event time. Measured against the newest event of either, the slower input's events came "too
late": on the demo's 120-day history, reconnaissance and hotspots left out some 300 events each.
So lateness and forgetting are measured against the slowest input: the oldest of the inputs'
newest event times. An input seen for the first time holds nothing back yet and is never late.
An input that stops holds the stage's forgetting back until it comes again. The stages' own
caps (tracked sightings, hotspot events) bound the state meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


def newest_by_input(
    times: Iterable[tuple[str, datetime]], newest: Mapping[str, datetime] | None = None
) -> dict[str, datetime]:
    """Each input's newest event time: `newest` moved on by `times` (input, event time)."""
    after = dict(newest or {})
    for source, at in times:
        after[source] = max(after.get(source, at), at)
    return after


def slowest(
    newest: Mapping[str, datetime], times: Iterable[tuple[str, datetime]]
) -> tuple[dict[str, datetime], datetime]:
    """Each input's newest event time after `times` (input, event time; at least one), and
    the slowest input's."""
    after = newest_by_input(times, newest)
    return after, min(after.values())


class Lookback(BaseModel):
    """How far back a stage keeps looking because history arrived: a year's load, a monthly
    CBL export, an alarm centre's backlog.

    The watermark runs with the newest events, live ones included, and a stage forgets what
    lies `late_bound_days` behind it. History loaded while live traffic runs, or read from a
    partition that runs ahead of another, lies further back than that. So an event older than
    the bound is not left out: it moves the stage's floor back to its own time, and the stage
    keeps what it holds from there on for `late_bound_days` of its clock after the last such
    arrival. A history is thus linked among itself, whatever its age and order, and each of
    its reports is kept no longer after it arrived than a live one (docs/time.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    oldest: datetime | None = None  # the oldest event time of the history still looked at
    until: datetime | None = None  # the stage's clock: looked at until then

    def after(self, event_time: datetime, bound: datetime, now: datetime,
              grace: timedelta) -> Lookback:  # fmt: skip
        """The lookback once an event of `event_time` arrived at `now`; `bound` is the
        watermark's lateness bound (the newest event time less late_bound_days)."""
        current = self if self.until is not None and now < self.until else Lookback()
        if event_time >= bound:
            return current
        oldest = min(event_time, current.oldest or event_time)
        return Lookback(oldest=oldest, until=now + grace)

    def floor(self, horizon: datetime, now: datetime, reach: timedelta) -> datetime:
        """Keep from `horizon` (the watermark's), or, while the history is looked at, from
        `reach` before its oldest time (what its oldest event still links with)."""
        if self.oldest is None or self.until is None or now >= self.until:
            return horizon
        return min(horizon, self.oldest - reach)
