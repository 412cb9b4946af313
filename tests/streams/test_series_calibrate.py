"""The link thresholds checked by replaying solved cases through the stage (false series)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from heterdaad.thresholds.series import SeriesThresholds
from streams.series_calibrate import is_false_series, raise_to_rate, replay
from streams.series_scoring import Member, SeriesState, score_pair
from tests.streams.test_link_series import crew_report, east

if TYPE_CHECKING:
    from schemas.events import IncidentReport

DEFAULT = SeriesThresholds()


def series_of(*reports: IncidentReport) -> SeriesState:
    members = [Member(event_id=r.event_id, occurred_at=r.occurred_at,
                      location=r.branch.location, branch_type=r.branch.branch_type)
               for r in reports]  # fmt: skip
    return SeriesState(series_id=str(reports[0].event_id), members=members, links=[])


def test_a_series_is_false_unless_one_crew_holds_two_and_most_of_its_robberies() -> None:
    a, b, c, d = (crew_report(east(km), days_ago=10 - km) for km in range(4))
    # Two robberies of no planted crew: a false series.
    assert is_false_series(series_of(a, b), {a.event_id: None, b.event_id: None})
    # One crew's two and a stranger: true.
    assert not is_false_series(series_of(a, b, c), {a.event_id: "x", b.event_id: "x",
                                                   c.event_id: None})  # fmt: skip
    # Two crews merged, two each: no crew is the majority, false.
    assert is_false_series(series_of(a, b, c, d), {a.event_id: "x", b.event_id: "x",
                                                   c.event_id: "y", d.event_id: "y"})  # fmt: skip


def test_thresholds_rise_until_the_replay_meets_the_false_series_rate() -> None:
    first, second = crew_report(east(0), days_ago=5), crew_report(east(2), days_ago=3)
    score = score_pair(first, second, DEFAULT).total
    assert score >= DEFAULT.link_threshold
    strict = DEFAULT.model_copy(update={"false_series_per_30_days": 0.5})
    # Two strangers who look alike: at the default threshold one false alert in 30 days.
    strangers = [[(first, None), (second, None)]]
    assert replay(strangers, strict, days=30.0).false_alerts == 1
    raised = raise_to_rate(strangers, strict, days=30.0, step=1.0, max_raise=40.0)
    assert raised.false_alerts == 0
    assert raised.link_threshold > score
    gap = DEFAULT.link_threshold - DEFAULT.support_threshold
    assert raised.link_threshold - raised.support_threshold == gap
    # The same pair as one crew's: a true alert, nothing to raise.
    crew = [[(first, "x"), (second, "x")]]
    kept = raise_to_rate(crew, strict, days=30.0, step=1.0, max_raise=40.0)
    assert (kept.link_threshold, kept.alerts, kept.false_alerts) == (DEFAULT.link_threshold, 1, 0)
