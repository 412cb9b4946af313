"""What one series carries is bounded: a dense area's chain of hundreds of robberies gives an
alert and state records far below the broker's record limit (docs/series-linkage.md,
"Bounded")."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from schemas.topics import ALERTS
from schemas.wire import encode
from streams import series_groups
from streams.alert_records import record_bytes
from streams.link_series import MemoryLinkage, TableLinkage, link_report, member_reports
from streams.series_scoring import LINKS_KEPT, MEMBERS_KEPT, SeriesState, series_alert
from tests.streams.test_link_series import DEFAULT, NOW, TIME, crew_report, east

if TYPE_CHECKING:
    from schemas.alerts import Alert
    from schemas.events import IncidentReport

# Far below the broker's ~1 MiB: what the stage's own bound keeps to, with room to spare.
BOUND = 300_000
SOURCE = "urn:test"


def dense_chain(count: int, per_day: float = 1.0) -> list[IncidentReport]:
    """One crew robbing a few branches in one small area, `per_day` robberies a day: each
    links to every other within the window, a chain without end."""
    return [crew_report(east((i % 6) * 0.4), (count - i) / per_day) for i in range(count)]


def _alert_of(series: SeriesState, reports: dict[uuid.UUID, IncidentReport]) -> Alert:
    newest = max(r.occurred_at for r in reports.values())
    return series_alert(series, reports, newest, DEFAULT, TIME, NOW)


def test_a_series_of_400_stays_far_below_the_record_limit() -> None:
    reports = dense_chain(400)
    tables: tuple[dict[bytes, bytes], ...] = ({}, {}, {})
    linkage = TableLinkage(*tables)  # type: ignore[arg-type]  # a dict stands in for a table
    alert_bytes, series_bytes, largest_state = [], [], 0
    for report in reports:
        decision = link_report(report, linkage, DEFAULT)
        if decision.grown is not None:
            assert decision.window is not None and decision.window.newest is not None
            alert = series_alert(decision.grown, member_reports(decision.grown, decision, linkage),
                                 decision.window.newest, DEFAULT, TIME, NOW)  # fmt: skip
            alert_bytes.append(record_bytes(encode(ALERTS, alert, SOURCE)))
            series_bytes.append(len(decision.grown.model_dump_json()))
        linkage.apply(decision)
        # Every record the tables' changelogs would carry.
        largest_state = max(largest_state, *(len(v) for table in tables for v in table.values()))
    assert max(alert_bytes) < BOUND and largest_state < BOUND, (max(alert_bytes), largest_state)
    # Bounded, not merely small so far: past its first hundred members a series' alert and
    # record grow no more (unbounded, they grew ~500 bytes a member, here ~180 kB at 400).
    assert len(alert_bytes) == 399
    assert max(alert_bytes[200:]) <= 1.1 * max(alert_bytes[100:200])
    assert max(series_bytes[200:]) <= 1.1 * max(series_bytes[100:200])

    [series] = [SeriesState.model_validate_json(raw) for raw in tables[1].values()]
    assert series.size == 400 and series.series_id == str(reports[0].event_id)
    assert series.began == reports[0].occurred_at
    assert [m.event_id for m in series.members] == [r.event_id for r in reports[-MEMBERS_KEPT:]]
    assert len(series.links) <= LINKS_KEPT
    # The alert says how large the series is and names its newest members only.
    alert = _alert_of(series, {r.event_id: r for r in reports})
    assert alert.dedup_key == f"series:{series.series_id}:400"
    assert alert.series_extent is not None
    assert alert.series_extent.members == 400 and alert.series_extent.listed == MEMBERS_KEPT
    assert alert.series_extent.first_occurred_at == reports[0].occurred_at
    assert alert.series_extent.last_occurred_at == reports[-1].occurred_at
    assert {e.event_id for e in alert.evidence} <= {r.event_id for r in reports[-MEMBERS_KEPT:]}


def test_a_bounded_series_is_the_same_whatever_the_arrival_order() -> None:
    # Reports up to four weeks late (within the lateness bound): the same series, counted
    # alike, with the same newest members.
    reports = dense_chain(150)
    rng = random.Random(7)
    late = sorted(reports, key=lambda r: r.occurred_at + timedelta(days=rng.uniform(0, 28)))
    found = []
    for order in (reports, late):
        state = MemoryLinkage()
        for report in order:
            state.apply(link_report(report, state, DEFAULT))
        [series] = state.all_series.values()
        found.append((series.series_id, series.size, series.began, series.members))
    assert found[0] == found[1]
    assert found[0][1] == 150


def test_a_report_keeps_its_strongest_links_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forty alike robberies in four days all link with each other: each report holds only
    # the strongest REPORT_LINKS_KEPT (150 in production: ~200 kB; 10 here), and the series
    # is the same in any order.
    monkeypatch.setattr(series_groups, "REPORT_LINKS_KEPT", 10)
    reports = dense_chain(40, per_day=10)
    found = []
    for order in (reports, reports[::-1], random.Random(3).sample(reports, len(reports))):
        state = MemoryLinkage()
        for report in order:
            state.apply(link_report(report, state, DEFAULT))
        assert max(len(stored.links) for stored in state.reports.values()) == 10
        [series] = state.all_series.values()
        found.append((series.series_id, series.size, series.members))
    assert found[0] == found[1] == found[2] and found[0][1] == 40


def test_a_series_stored_before_the_bound_counts_all_its_members() -> None:
    reports = dense_chain(3)
    state = MemoryLinkage()
    for report in reports:
        state.apply(link_report(report, state, DEFAULT))
    [series] = state.all_series.values()
    old = series.model_dump(exclude={"member_count", "first_at"})
    restored = SeriesState.model_validate(old)
    assert restored.size == 3 and restored.began == reports[0].occurred_at
