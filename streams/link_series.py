"""Stage: robbery series linkage: reports linked into series, each new member alerted."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.events import IncidentReport
from schemas.topics import ALERTS, INCIDENT_REPORTS
from schemas.wire import dead_letter_headers, dead_letter_value, encode, explain
from streams.dead_letters import decoded
from streams.series_scoring import (
    Member,
    PairScore,
    SeriesState,
    score_pair,
    series_alert,
    series_link,
)

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

Outcome = Literal["linked", "single", "seen", "duplicate", "too_late"]


# --- state: what the tables hold, as JSON ----------------------------------------------


class StoredReport(BaseModel):
    """A report kept for linking (without its free text), and the series it belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report: IncidentReport
    series_id: str | None = None


class LinkageWindow(BaseModel):
    """Event time so far and the reports kept, by id, with the time of their robbery."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    newest: datetime | None = None
    retained: dict[UUID, datetime] = {}


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


def link_report(report: IncidentReport, view: LinkageView, t: SeriesThresholds) -> Decision:
    """Link one report to the reports kept: join, found or merge series, evict the old."""
    window = view.window()
    if report.event_id in window.retained:
        return Decision("seen")
    newest = max(filter(None, (window.newest, report.occurred_at)))
    if report.occurred_at < newest - timedelta(days=t.late_grace_days):
        return Decision("too_late")
    horizon = newest - timedelta(days=t.retained_days)
    kept = [
        stored
        for event_id, at in window.retained.items()
        if at >= horizon and (stored := view.report(event_id)) is not None
    ]
    duplicate = timedelta(minutes=t.duplicate_minutes)
    for stored in kept:
        other = stored.report
        if (
            other.branch.branch_id == report.branch.branch_id
            and abs(other.occurred_at - report.occurred_at) <= duplicate
        ):
            return Decision("duplicate")
    links = _links(report, kept, t)
    decision = Decision("linked" if links else "single")
    series_id = _join(report, links, view, decision, t) if links else None
    decision.reports[report.event_id] = StoredReport(
        report=report.model_copy(update={"free_text": None}), series_id=series_id
    )
    _evict(window, horizon, view, decision)
    retained = {k: v for k, v in window.retained.items() if k not in decision.dropped_reports}
    retained[report.event_id] = report.occurred_at
    decision.window = LinkageWindow(newest=newest, retained=retained)
    return decision


def _links(
    report: IncidentReport, kept: list[StoredReport], t: SeriesThresholds
) -> list[tuple[StoredReport, PairScore]]:
    """Links strong on their own, and weaker ones that corroborate each other.

    A noisy description can leave a real link short of the threshold; two weaker links to
    members of one series are together about as unlikely by chance as one strong link.
    (Triangles of three weakly linked single robberies were tried and founded more false
    series in the cities than they found real ones: docs/series-linkage.md.)
    """
    max_gap = timedelta(days=t.max_gap_days)
    scored = [
        (stored, score_pair(stored.report, report, t))
        for stored in kept
        if abs(stored.report.occurred_at - report.occurred_at) <= max_gap
    ]
    strong = [(stored, score) for stored, score in scored if score.total >= t.link_threshold]
    weak = [
        (stored, score)
        for stored, score in scored
        if t.support_threshold <= score.total < t.link_threshold
    ]
    by_series: dict[str, list[tuple[StoredReport, PairScore]]] = {}
    for stored, score in weak:
        if stored.series_id is not None:
            by_series.setdefault(stored.series_id, []).append((stored, score))
    return strong + [link for group in by_series.values() if len(group) >= 2 for link in group]


def _join(
    report: IncidentReport,
    links: list[tuple[StoredReport, PairScore]],
    view: LinkageView,
    decision: Decision,
    t: SeriesThresholds,
) -> str:
    """Join the report to every group it links with; the oldest series keeps its id."""
    groups: dict[str, list[tuple[StoredReport, PairScore]]] = {}
    for stored, score in links:
        groups.setdefault(stored.series_id or str(stored.report.event_id), []).append(
            (stored, score)
        )
    # Evidence per group: its strongest link, or all of the weaker links that corroborate.
    best = {
        group: [max(found, key=lambda link: link[1].total)]
        if any(score.total >= t.link_threshold for _, score in found)
        else found
        for group, found in groups.items()
    }
    existing = [s for s in (view.series(g) for g in best) if s is not None]
    singles = [found[0][0] for g, found in best.items() if view.series(g) is None]
    if existing:
        # The series first seen in time survives a merge, so ids only ever disappear.
        survivor = min(existing, key=lambda s: (s.members[0].occurred_at, s.series_id))
        series_id = survivor.series_id
    else:
        first = min(
            [report, *(s.report for s in singles)], key=lambda r: (r.occurred_at, str(r.event_id))
        )
        series_id = str(first.event_id)
    members = [m for s in existing for m in s.members]
    members += [_member(s.report) for s in singles] + [_member(report)]
    new_links = [
        series_link(report, stored.report, score)
        for found in best.values()
        for stored, score in found
    ]
    merged = SeriesState(
        series_id=series_id,
        members=sorted(members, key=lambda m: (m.occurred_at, str(m.event_id))),
        links=[link for s in existing for link in s.links] + new_links,
    )
    decision.series[series_id] = merged
    decision.grown = merged
    for absorbed in existing:
        if absorbed.series_id != series_id:
            decision.dropped_series.append(absorbed.series_id)
            for member in absorbed.members:
                stored_member = view.report(member.event_id)
                if stored_member is not None:
                    decision.reports[member.event_id] = stored_member.model_copy(
                        update={"series_id": series_id}
                    )
    for single in singles:
        decision.reports[single.report.event_id] = single.model_copy(
            update={"series_id": series_id}
        )
    return series_id


def _evict(window: LinkageWindow, horizon: datetime, view: LinkageView, decision: Decision) -> None:
    """Forget reports older than the window; a series whose members are all gone ends."""
    ended: set[str] = set()
    for event_id, at in window.retained.items():
        if at >= horizon:
            continue
        decision.dropped_reports.append(event_id)
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

    def report(self, event_id: UUID) -> StoredReport | None:
        raw = self._reports.get(str(event_id).encode())
        return StoredReport.model_validate_json(raw) if raw else None

    def series(self, series_id: str) -> SeriesState | None:
        raw = self._series.get(series_id.encode())
        return SeriesState.model_validate_json(raw) if raw else None

    def window(self) -> LinkageWindow:
        raw = self._window.get(WINDOW_KEY)
        return LinkageWindow.model_validate_json(raw) if raw else LinkageWindow()

    def apply(self, decision: Decision) -> None:
        for event_id, stored in decision.reports.items():
            self._reports[str(event_id).encode()] = stored.model_dump_json().encode()
        for event_id in decision.dropped_reports:
            self._reports.pop(str(event_id).encode(), None)
        for series_id, series in decision.series.items():
            self._series[series_id.encode()] = series.model_dump_json().encode()
        for series_id in decision.dropped_series:
            self._series.pop(series_id.encode(), None)
        if decision.window is not None:
            self._window[WINDOW_KEY] = decision.window.model_dump_json().encode()


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Declare this stage's agents and tables on the app."""
    t = settings.series
    if settings.personal_data_retention_days < t.retained_days:
        raise ValueError(
            f"series linkage keeps reports {t.retained_days} days (max_gap_days + "
            f"late_grace_days), longer than personal_data_retention_days "
            f"({settings.personal_data_retention_days}): shorten the window or raise retention"
        )
    source = f"urn:heterdaad:stream:{settings.app_id}"
    retention = timedelta(days=settings.personal_data_retention_days)
    # Reports keyed by branch, repartitioned to one key: every robbery meets every other.
    reports_by_nation = app.topic(
        f"{settings.app_id}-link_series-reports", key_type=bytes, value_type=bytes,
        partitions=1, internal=True, retention=retention,
    )  # fmt: skip
    # Changelogs hold descriptions and plate pseudonyms: compacted, and never kept beyond
    # the personal-data retention (every live key is rewritten well within it).
    changelog = {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(int(retention.total_seconds() * 1000)),
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

    @app.agent(topics[INCIDENT_REPORTS], name="gather_robberies")
    async def gather_robberies(stream: faust.StreamT[bytes]) -> None:
        async for report in decoded(stream, INCIDENT_REPORTS, topics, stage="link_series"):
            assert isinstance(report, IncidentReport)
            slim = report.model_copy(update={"free_text": None})
            await reports_by_nation.send(key=NATION_KEY, value=slim.model_dump_json().encode())

    @app.agent(reports_by_nation, name="link_robberies")
    async def link_robberies(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                report = IncidentReport.model_validate_json(event.value)
            except ValidationError as error:
                # Written from a valid report; only a contract change between versions can
                # make it unreadable. Set aside, never a crash loop.
                await _dead_letter(topics, event, explain(error))
                continue
            decision = link_report(report, linkage, t)
            series = decision.grown
            if series is not None:
                assert decision.window is not None and decision.window.newest is not None
                reports = member_reports(series, decision, linkage)
                alert = series_alert(series, reports, decision.window.newest, t, datetime.now(UTC))
                record = encode(ALERTS, alert, source)
                # Acknowledged before the state says 'done': a crash in between replays the
                # report and raises the very same alert (same id), never none.
                sent = await topics.alerts.send(
                    key=record.key, value=record.value, headers=record.headers
                )
                await sent
            linkage.apply(decision)
            logger.log(
                logging.WARNING if decision.outcome == "too_late" else logging.INFO,
                "robbery linked" if series else f"robbery not linked: {decision.outcome}",
                extra={
                    "event_id": str(report.event_id),
                    "outcome": decision.outcome,
                    "series_id": series.series_id if series else None,
                    "members": len(series.members) if series else None,
                },
            )


async def _dead_letter(topics: Topics, event: faust.EventT[bytes], reason: str) -> None:
    message = event.message
    value, cut = dead_letter_value(event.value)  # cut and plates masked, as every dead letter
    await topics.dead_letter(INCIDENT_REPORTS).send(
        key=event.key,
        value=value,
        headers=dead_letter_headers([], reason=reason, topic=message.topic,
                                    partition=message.partition, offset=message.offset,
                                    stage="link_series") + cut,
    )  # fmt: skip
    logger.warning(
        "linkage record dead-lettered",
        extra={"topic": message.topic, "offset": message.offset, "reason": reason},
    )
