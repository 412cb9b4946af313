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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime


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
