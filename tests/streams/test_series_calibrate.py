"""The link thresholds checked by replaying solved cases through the stage (false series)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from heterdaad.thresholds.series import SeriesThresholds
from streams.link_series import MemoryLinkage, link_report
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


def test_three_weakly_linked_robberies_found_a_series_when_their_evidence_adds_up() -> None:
    reports = [crew_report(east(2 * i), days_ago=9 - 3 * i) for i in range(3)]
    scores = [score_pair(a, b, DEFAULT).total
              for a, b in ((reports[0], reports[1]), (reports[0], reports[2]),
                           (reports[1], reports[2]))]  # fmt: skip
    # Every pair below the link threshold, above the support threshold ...
    link = max(scores) + 0.5
    support = (sum(scores) - link) / 2 - 0.1
    assert support <= min(scores)

    def final_series(t: SeriesThresholds) -> set[str | None]:
        state = MemoryLinkage()
        for report in reports:
            state.apply(link_report(report, state, t))
        return {state.reports[r.event_id].series_id for r in reports}

    weak = DEFAULT.model_copy(update={"link_threshold": link, "support_threshold": support})
    # ... the three sum to link + 2 x support: one series with triangles on,
    assert len(final_series(weak.model_copy(update={"triangles": True}))) == 1
    assert None not in final_series(weak.model_copy(update={"triangles": True}))
    # none without them (the hand-set default),
    assert final_series(weak) == {None}
    # and none when the sum falls short of the bar.
    short = weak.model_copy(update={"triangles": True, "support_threshold": support + 0.2})
    assert final_series(short) == {None}
