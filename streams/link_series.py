"""Stage: robbery series linkage: reports linked into series, each new member alerted."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from heterdaad import metrics
from heterdaad.thresholds.time import TimeModel
from schemas.events import IncidentReport
from schemas.topics import INCIDENT_REPORTS
from streams.alert_records import alert_record
from streams.codec import InternalTopic
from streams.dead_letters import read_internal
from streams.series_groups import (
    StoredReport,
    evidence_links,
    grown_group,
    pair_links,
    strongest_links,
)
from streams.series_model import model_at_start, series_model_dir
from streams.series_scoring import (
    Member,
    SeriesState,
    bounded_series,
    reported_twice,
    series_alert,
)
from streams.watermarks import Lookback

if TYPE_CHECKING:

    import faust
    from faust.types import TableT

    from heterdaad.settings import Settings
    from heterdaad.thresholds.series import SeriesThresholds
    from streams.app import Topics

logger = logging.getLogger(__name__)

# Every report goes to one key of a one-partition topic: a series crosses branches, towns
# and police units, and ~1000 robberies a year fit one worker many times over.
NATION_KEY = b"nl"
WINDOW_KEY = b"window"

if TYPE_CHECKING:
    Table = TableT[bytes, bytes]

# The default of Settings.time; the stage passes its own.
LATE_BOUND_DAYS = TimeModel().late_bound_days

Outcome = Literal["linked", "single", "seen", "duplicate"]


# --- state: what the tables hold, as JSON ----------------------------------------------


class LinkageWindow(BaseModel):
    """Event time so far, the reports kept (by id, with the time of their robbery), and how far
    back a history that arrived keeps the stage looking (streams/watermarks.Lookback)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    newest: datetime | None = None
    retained: dict[UUID, datetime] = {}
    lookback: Lookback = Lookback()
    # Reports left out as too late, before the lookback (7 December 2026): none since.
    too_late: int = 0


class LinkageView(Protocol):
    def report(self, event_id: UUID) -> StoredReport | None: ...
    def series(self, series_id: str) -> SeriesState | None: ...
    def window(self) -> LinkageWindow: ...


@dataclass
class Decision:
    """What one report changes; the agent raises the alert first, then writes the state."""

    outcome: Outcome
    reports: dict[UUID, StoredReport] = field(default_factory=dict)
    dropped_reports: list[UUID] = field(default_factory=list)
    series: dict[str, SeriesState] = field(default_factory=dict)
    dropped_series: list[str] = field(default_factory=list)
    window: LinkageWindow | None = None
    grown: SeriesState | None = None


class MemoryLinkage:
    """The state in plain dicts: for tests, benchmarks and the evaluation."""

    def __init__(self) -> None:
        self.reports: dict[UUID, StoredReport] = {}
        self.all_series: dict[str, SeriesState] = {}
        self.current = LinkageWindow()

    def report(self, event_id: UUID) -> StoredReport | None:
        return self.reports.get(event_id)

    def series(self, series_id: str) -> SeriesState | None:
        return self.all_series.get(series_id)

    def window(self) -> LinkageWindow:
        return self.current

    def apply(self, decision: Decision) -> None:
        self.reports.update(decision.reports)
        for event_id in decision.dropped_reports:
            self.reports.pop(event_id, None)
        self.all_series.update(decision.series)
        for series_id in decision.dropped_series:
            self.all_series.pop(series_id, None)
        if decision.window is not None:
            self.current = decision.window


# --- the decision ------------------------------------------------------------------------


def kept_days(t: SeriesThresholds, late_bound_days: float) -> float:
    """How long (event time, back from the newest robbery) a report is kept for linking.

    A report up to `late_bound_days` late must still meet every robbery up to max_gap_days
    before it, so those are kept that long.
    """
    return t.max_gap_days + late_bound_days


def link_report(
    report: IncidentReport,
    view: LinkageView,
    t: SeriesThresholds,
    late_bound_days: float = LATE_BOUND_DAYS,
    now: datetime | None = None,
) -> Decision:
    """Add one report to the pair graph and rebuild the series it touches; `now` is the
    stage's clock (a history arriving keeps the stage looking back, Lookback).

    The series are a function of the set of reports kept, not of their order: a series is
    a group of reports joined by strong links, and by pairs of weaker links from one report
    into the same group (the least fixpoint of that rule, docs/series-linkage.md). Adding a
    report only ever adds links, so the groups only ever grow or merge, whatever the order.
    """
    now = now or datetime.now(UTC)
    window = view.window()
    if report.event_id in window.retained:
        return Decision("seen")
    newest = max(filter(None, (window.newest, report.occurred_at)))
    late_bound = timedelta(days=late_bound_days)
    lookback = window.lookback.after(report.occurred_at, newest - late_bound, now, late_bound)
    horizon = lookback.floor(newest - timedelta(days=kept_days(t, late_bound_days)), now,
                             reach=timedelta(days=t.max_gap_days))  # fmt: skip
    kept = {
        event_id: stored
        for event_id, at in window.retained.items()
        if at >= horizon and (stored := view.report(event_id)) is not None
    }
    for stored in kept.values():
        if reported_twice(stored.report, report, t):
            # The copy that came first stands for the robbery (docs/series-linkage.md).
            return Decision("duplicate")
    decision = Decision("single")
    slim = report.model_copy(update={"free_text": None})
    new_links = pair_links(slim, kept.values(), t)

    def occurred(event_id: UUID) -> datetime | None:
        stored = kept.get(event_id)
        return None if stored is None else stored.report.occurred_at

    kept[report.event_id] = StoredReport(report=slim, links=strongest_links(new_links, occurred))
    decision.reports[report.event_id] = kept[report.event_id]
    for link in new_links:
        other_id = link.linked_with if link.event_id == report.event_id else link.event_id
        links = strongest_links([*kept[other_id].links, link], occurred)
        neighbour = kept[other_id].model_copy(update={"links": links})
        kept[other_id] = decision.reports[other_id] = neighbour
    group = grown_group(report.event_id, kept, t)
    if len(group) > 1:
        decision.outcome = "linked"
        _rebuild(group, kept, view, decision, t)
    _evict(window, horizon, view, decision)
    retained = {k: v for k, v in window.retained.items() if k not in decision.dropped_reports}
    retained[report.event_id] = report.occurred_at
    decision.window = window.model_copy(
        update={"newest": newest, "retained": retained, "lookback": lookback}
    )
    return decision


def _rebuild(
    group: set[UUID],
    kept: dict[UUID, StoredReport],
    view: LinkageView,
    decision: Decision,
    t: SeriesThresholds,
) -> None:
    """The series of the group: earlier members already forgotten stay in it, and its id is
    its earliest robbery's, so it is the same whatever order the reports came in.

    It keeps its newest members and their links, and counts all (`bounded_series`): a dense
    area's chain of hundreds would outgrow a Kafka record (docs/series-linkage.md, "Bounded").
    """
    before = sorted({name for e in group if (name := kept[e].series_id) is not None})
    existing = [s for s in (view.series(name) for name in before) if s]
    members = {m.event_id: m for s in existing for m in s.members}
    members |= {e: _member(kept[e].report) for e in group}
    ordered = sorted(members.values(), key=lambda m: (m.occurred_at, str(m.event_id)))
    # Each existing series' id is its earliest member's, kept or not; a report belongs to
    # one series, so the groups' members not yet in one are the new ones.
    first_at, series_id = min(
        [(s.began, s.series_id) for s in existing]
        + [(ordered[0].occurred_at, str(ordered[0].event_id))]
    )
    known = {s.series_id for s in existing}
    count = sum(s.size for s in existing) + sum(kept[e].series_id not in known for e in group)
    forgotten = [link for s in existing for link in s.links if link.event_id not in group]
    series = bounded_series(
        series_id, first_at, count, ordered, forgotten + evidence_links(group, kept, t)
    )
    decision.series[series_id] = series
    decision.grown = series
    decision.dropped_series += [s.series_id for s in existing if s.series_id != series_id]
    for event_id in group:
        if kept[event_id].series_id != series_id:
            stored = kept[event_id].model_copy(update={"series_id": series_id})
            kept[event_id] = decision.reports[event_id] = stored


def _evict(window: LinkageWindow, horizon: datetime, view: LinkageView, decision: Decision) -> None:
    """Forget reports older than the window; a series whose members are all gone ends."""
    ended: set[str] = set()
    for event_id, at in window.retained.items():
        if at >= horizon:
            continue
        decision.dropped_reports.append(event_id)
        decision.reports.pop(event_id, None)
        stored = view.report(event_id)
        if stored is None or stored.series_id is None:
            continue
        if (
            stored.series_id not in decision.series
            and stored.series_id not in decision.dropped_series
        ):
            ended.add(stored.series_id)
    for series_id in sorted(ended):
        series = view.series(series_id)
        if series is not None and all(m.occurred_at < horizon for m in series.members):
            decision.dropped_series.append(series_id)


def member_reports(
    series: SeriesState, decision: Decision, view: LinkageView
) -> dict[UUID, IncidentReport]:
    """The reports still kept of a series' members, as they are after the decision."""
    found = {}
    for member in series.members:
        stored = decision.reports.get(member.event_id) or view.report(member.event_id)
        if stored is not None:
            found[member.event_id] = stored.report
    return found


def _member(report: IncidentReport) -> Member:
    return Member(
        event_id=report.event_id,
        occurred_at=report.occurred_at,
        location=report.branch.location,
        branch_type=report.branch.branch_type,
    )


# --- the Faust stage ---------------------------------------------------------------------


class TableLinkage:
    """The state in three Faust tables (bytes in, JSON out), written while an event is current."""

    def __init__(self, reports: Table, series: Table, window: Table) -> None:
        self._reports, self._series, self._window = reports, series, window
        # Every event reads every kept report, and a report in a long series carries a link
        # to each of its members: parse each stored value once, or not at all when this
        # worker wrote it. The cache holds the very bytes object stored, so a value the
        # changelog restored (after a rebalance, say) is parsed afresh.
        self._parsed: dict[bytes, tuple[bytes, StoredReport]] = {}

    def report(self, event_id: UUID) -> StoredReport | None:
        key = str(event_id).encode()
        raw = self._reports.get(key)
        if not raw:
            self._parsed.pop(key, None)
            return None
        cached = self._parsed.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        stored = StoredReport.model_validate_json(raw)
        self._parsed[key] = (raw, stored)
        return stored

    def series(self, series_id: str) -> SeriesState | None:
        raw = self._series.get(series_id.encode())
        return SeriesState.model_validate_json(raw) if raw else None

    def window(self) -> LinkageWindow:
        raw = self._window.get(WINDOW_KEY)
        return LinkageWindow.model_validate_json(raw) if raw else LinkageWindow()

    def apply(self, decision: Decision) -> None:
        for event_id, stored in decision.reports.items():
            key, raw = str(event_id).encode(), stored.model_dump_json().encode()
            self._reports[key] = raw
            self._parsed[key] = (raw, stored)
        for event_id in decision.dropped_reports:
            self._reports.pop(str(event_id).encode(), None)
            self._parsed.pop(str(event_id).encode(), None)
        for series_id, series in decision.series.items():
            self._series[series_id.encode()] = series.model_dump_json().encode()
        for series_id in decision.dropped_series:
            self._series.pop(series_id.encode(), None)
        if decision.window is not None:
            self._window[WINDOW_KEY] = decision.window.model_dump_json().encode()


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Declare this stage's agents and tables on the app."""
    model = model_at_start(settings.series, series_model_dir(settings.state_dir))
    t = model.thresholds(settings.series)
    logger.info("series model loaded", extra={"model_version": model.version,
                                              "link_threshold": t.link_threshold})  # fmt: skip
    late_bound = settings.time.late_bound_days
    source = f"urn:heterdaad:stream:{settings.app_id}"
    retention = timedelta(days=settings.personal_data_retention_days)
    # Reports keyed by branch, repartitioned to one key: every robbery meets every other.
    reports_by_nation = InternalTopic(
        app, f"{settings.app_id}-link_series-reports", (IncidentReport,),
        dead_letters=INCIDENT_REPORTS, partitions=1, retention=retention,
    )  # fmt: skip
    # Changelogs hold descriptions and plate pseudonyms: compacted, and deleted once no
    # report in them can link any more (a report is kept kept_days of event time so that one
    # up to the lateness bound late still meets it; docs/series-linkage.md).
    kept = timedelta(days=max(settings.personal_data_retention_days, kept_days(t, late_bound)))
    changelog = {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(int(kept.total_seconds() * 1000)),
    }

    def table(name: str) -> Table:
        return app.Table(
            name, partitions=1, key_type=bytes, value_type=bytes, extra_topic_configs=changelog
        )

    linkage = TableLinkage(
        reports=table("robbery_to_series_report"),
        series=table("series_to_members"),
        window=table("nation_to_series_window"),
    )

    async def gather_robbery(report: IncidentReport) -> None:
        slim = report.model_copy(update={"free_text": None})
        await reports_by_nation.send(NATION_KEY, slim)

    topics.intake.subscribe(INCIDENT_REPORTS, IncidentReport, "link_series", gather_robbery)

    @app.agent(reports_by_nation.topic, name="link_robberies")
    async def link_robberies(stream: faust.StreamT[bytes]) -> None:
        # Written from a valid report; only a contract change between versions can make a
        # record unreadable: set aside (streams/dead_letters.py), never a crash loop.
        async for _, report in read_internal(stream, reports_by_nation, topics,
                                             stage="link_series"):  # fmt: skip
            decision = link_report(report, linkage, t, late_bound)
            series = decision.grown
            if series is not None:
                assert decision.window is not None and decision.window.newest is not None
                reports = member_reports(series, decision, linkage)
                alert = series_alert(
                    series, reports, decision.window.newest, t, settings.time, datetime.now(UTC),
                    model,
                )
                record = alert_record(alert, source, stage="link_series")
                # Acknowledged before the state says 'done': a crash in between replays the
                # report and raises the very same alert (same id), never none.
                if record is not None:
                    sent = await topics.alerts.send(
                        key=record.key, value=record.value, headers=record.headers
                    )
                    await sent
            linkage.apply(decision)
            metrics.DECISIONS.labels(stage="link_series", outcome=decision.outcome).inc()
            logger.info(
                "robbery linked" if series else f"robbery not linked: {decision.outcome}",
                extra={
                    "event_id": str(report.event_id),
                    "outcome": decision.outcome,
                    "occurred_at": report.occurred_at.isoformat(),
                    "series_id": series.series_id if series else None,
                    "members": series.size if series else None,
                },
            )

