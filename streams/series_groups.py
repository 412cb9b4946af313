"""Series as groups of robberies in the pair graph: which reports one series holds, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.events import IncidentReport
from streams.series_paths import Stop, continues_path
from streams.series_scoring import SeriesLink, score_pair, series_link

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from heterdaad.thresholds.series import SeriesThresholds


class StoredReport(BaseModel):
    """A report kept for linking (without its free text), its series and its pair links.

    `links` holds every pair with this report scoring at least the support threshold, each
    oriented from the later robbery to the earlier: what the series are rebuilt from.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    report: IncidentReport
    series_id: str | None = None
    links: list[SeriesLink] = []


def _order(report: IncidentReport) -> tuple[datetime, str]:
    return report.occurred_at, str(report.event_id)


def _before(a: IncidentReport, b: IncidentReport) -> bool:
    # _order(a) < _order(b), naming the ids only on a tie: a history load compares millions.
    if a.occurred_at != b.occurred_at:
        return a.occurred_at < b.occurred_at
    return str(a.event_id) < str(b.event_id)


def pair_links(
    report: IncidentReport, kept: Iterable[StoredReport], t: SeriesThresholds
) -> list[SeriesLink]:
    """The report's links with every kept robbery before and after it, within max_gap_days."""
    max_gap = timedelta(days=t.max_gap_days)
    links = []
    for stored in kept:
        other = stored.report
        if abs(other.occurred_at - report.occurred_at) > max_gap:
            continue
        earlier, later = (other, report) if _before(other, report) else (report, other)
        score = score_pair(earlier, later, t)
        if score.total >= t.support_threshold:
            links.append(series_link(later, earlier, score))
    return links


# Most pair links one kept report holds. A report links with every robbery within
# max_gap_days scoring at least support_threshold, a few dozen where robberies are dense; only
# bad input (hundreds of alike robberies within weeks) reaches this, and then its record stays
# ~200 kB rather than past the broker's 1 MiB (docs/series-linkage.md, "Bounded").
REPORT_LINKS_KEPT = 150
_NEVER = (datetime.max.replace(tzinfo=UTC), "")


def strongest_links(
    links: list[SeriesLink], occurred: Callable[[UUID], datetime | None]
) -> list[SeriesLink]:
    """At most REPORT_LINKS_KEPT of a report's links: the strongest, in the order given.

    `occurred` dates a linked report (None: not known), to order links of equal score by
    (time, id); it is called only when a report holds more links than that."""
    if len(links) <= REPORT_LINKS_KEPT:
        return links

    def by_time(event_id: UUID) -> tuple[datetime, str]:
        at = occurred(event_id)
        return _NEVER if at is None else (at, str(event_id))

    ranked = sorted(
        range(len(links)),
        key=lambda i: (
            -links[i].score,
            by_time(links[i].event_id),
            by_time(links[i].linked_with),
            str(links[i].event_id),
            str(links[i].linked_with),
        ),
    )
    keep = set(ranked[:REPORT_LINKS_KEPT])
    return [link for i, link in enumerate(links) if i in keep]


def _other(link: SeriesLink, event_id: UUID) -> UUID:
    return link.linked_with if link.event_id == event_id else link.event_id


def grown_group(start: UUID, kept: dict[UUID, StoredReport], t: SeriesThresholds) -> set[UUID]:
    """The kept reports in one series with `start`, after its links are added.

    Merge along strong links, and where one report has weaker links to two members of another
    group (they corroborate each other), until nothing changes. A noisy description can leave
    a real link short of the threshold; two weaker links into one series are together about
    as unlikely by chance as one strong link. (Triangles of three weakly linked single
    robberies were tried and founded more false series in the cities than they found real
    ones: docs/series-linkage.md.)
    """
    label = {event_id: stored.series_id or str(event_id) for event_id, stored in kept.items()}
    groups: dict[str, set[UUID]] = {}
    for event_id, name in label.items():
        groups.setdefault(name, set()).add(event_id)

    linked = {frozenset((link.event_id, link.linked_with))
              for stored in kept.values() for link in stored.links}  # fmt: skip

    def merge(a: str, b: str) -> bool:
        if not _one_crew(groups[a], groups[b], linked, kept, t):
            return False
        for event_id in groups[b]:
            label[event_id] = a
        groups[a] |= groups.pop(b)
        return True

    changed = True
    while changed:
        changed = False
        members = groups[label[start]]
        touching = members | {_other(link, m) for m in members for link in kept[m].links}
        for event_id in sorted(touching & kept.keys(), key=str):
            weak: dict[str, set[UUID]] = {}
            weak_score: dict[UUID, float] = {}
            for link in kept[event_id].links:
                other = _other(link, event_id)
                if other not in kept or label[other] == label[event_id]:
                    continue
                if link.score >= t.link_threshold and merge(label[event_id], label[other]):
                    changed = True
                elif link.score < t.link_threshold:
                    weak.setdefault(label[other], set()).add(other)
                    weak_score[other] = link.score
            if t.triangles:
                for other in _triangle(event_id, weak_score, kept, t):
                    if label[other] != label[event_id] and merge(label[event_id], label[other]):
                        changed = True
            for name, hits in weak.items():
                if (len(hits) >= 2 and name in groups and name != label[event_id]
                        and merge(label[event_id], name)):
                    changed = True
            if t.path_continuation and len(groups[label[event_id]]) == 1:
                for name in sorted(weak):
                    if (name in groups and _continues(groups[name], event_id, kept, t)
                            and merge(name, label[event_id])):
                        changed = True
                        break
    return groups[label[start]]


def _one_crew(
    a: set[UUID], b: set[UUID], linked: set[frozenset[UUID]], kept: dict[UUID, StoredReport],
    t: SeriesThresholds,
) -> bool:
    """Whether two groups hang together as one crew's robberies: enough of their pairs within
    the window are linked (at least support_threshold).

    Two single robberies are the pair model's call. Beyond that, two crews robbing one kind of
    branch in one area meet through a pair or two, while a crew's new robbery, or one crew's
    two halves, links with most of the robberies near it in time. Most false series alerts
    on sparse reports were two such crews merged (docs/series-linkage.md).
    """
    if not t.crew_consistency or len(a) + len(b) < 3:
        return True
    gap = timedelta(days=t.max_gap_days)
    near = [(x, y) for x in a for y in b
            if abs(kept[x].report.occurred_at - kept[y].report.occurred_at) <= gap]  # fmt: skip
    hits = sum(frozenset(pair) in linked for pair in near)
    return not near or hits >= t.merge_linked_share * len(near)


def _stop(stored: StoredReport) -> Stop:
    report = stored.report
    return Stop(report.occurred_at, report.branch.location, report.branch.branch_type)


def _path_like(three: set[UUID], kept: dict[UUID, StoredReport], t: SeriesThresholds) -> bool:
    """The latest of three robberies lies where the path of the other two goes next."""
    stops = sorted((_stop(kept[e]) for e in three), key=lambda stop: stop.occurred_at)
    return continues_path(stops[:2], stops[2], t)


def _continues(
    group: set[UUID], event_id: UUID, kept: dict[UUID, StoredReport], t: SeriesThresholds
) -> bool:
    """A single report weakly linked to a series of two or more, where its path goes next."""
    return continues_path([_stop(kept[e]) for e in group], _stop(kept[event_id]), t)


def _triangle(
    event_id: UUID, weak_score: dict[UUID, float], kept: dict[UUID, StoredReport],
    t: SeriesThresholds,
) -> set[UUID]:
    """The reports joined with `event_id` by weak triangles: both others weakly linked to it
    and to each other, the three scores summing to at least link + 2 x support (what a strong
    link and a corroboration need at the least). Depends on scores only, not on the order."""
    bar = t.link_threshold + 2 * t.support_threshold
    joined: set[UUID] = set()
    for x in weak_score:
        for link in kept[x].links:
            y = _other(link, x)
            if y in weak_score and weak_score[x] + weak_score[y] + link.score >= bar and (
                not t.path_continuation or _path_like({event_id, x, y}, kept, t)
            ):
                joined |= {x, y}
    return joined


def evidence_links(
    group: set[UUID], kept: dict[UUID, StoredReport], t: SeriesThresholds
) -> list[SeriesLink]:
    """Why the members are one series: the strongest links that join them (a maximum
    spanning tree), then the pairs of weaker links that corroborate each other.

    Chosen from the links among the members, not from the order they came in, so the same
    members give the same evidence.
    """
    by_time = {e: _order(kept[e].report) for e in group}
    inside = {
        (link.event_id, link.linked_with): link
        for e in group
        for link in kept[e].links
        if link.event_id in group and link.linked_with in group
    }
    ranked = sorted(
        inside.values(),
        key=lambda link: (-link.score, by_time[link.event_id], by_time[link.linked_with]),
    )
    weak_links: dict[UUID, list[SeriesLink]] = {e: [] for e in group}
    for link in ranked:
        if link.score < t.link_threshold:
            weak_links[link.event_id].append(link)
            weak_links[link.linked_with].append(link)
    root = {e: e for e in group}

    def find(e: UUID) -> UUID:
        while root[e] != e:
            root[e] = root[root[e]]
            e = root[e]
        return e

    chosen = []
    for link in ranked:
        a, b = find(link.event_id), find(link.linked_with)
        if link.score >= t.link_threshold and a != b:
            root[b] = a
            chosen.append(link)
    changed = True
    while changed:
        changed = False
        for e in sorted(group, key=by_time.__getitem__):
            weak: dict[UUID, list[SeriesLink]] = {}
            for link in weak_links[e]:
                other = find(_other(link, e))
                if other != find(e):
                    weak.setdefault(other, []).append(link)
            for other, links in weak.items():
                if len(links) >= 2 and find(other) != find(e):
                    root[find(other)] = find(e)
                    chosen += links
                    changed = True
    # Members joined under other thresholds (a restart with new settings): their best links.
    for link in ranked:
        a, b = find(link.event_id), find(link.linked_with)
        if a != b:
            root[b] = a
            chosen.append(link)
    return sorted(chosen, key=lambda link: (by_time[link.event_id], by_time[link.linked_with]))
