"""Reconnaissance linkage as pure decisions: sightings into patterns, robberies back to them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import combinations
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import model_validator

from heterdaad.thresholds.series import SeriesThresholds
from heterdaad.thresholds.time import TimeModel
from schemas.alerts import LinkReason
from schemas.events import IncidentReport, ReconSighting
from streams.recon_evidence import WarningScore, is_nearby, warning_score
from streams.recon_scoring import (
    Record,
    Score,
    TrackedRobbery,
    TrackedSighting,
    robbery_score,
    sighting_score,
)
from streams.watermarks import Lookback, newest_by_input, slowest

if TYPE_CHECKING:
    from collections.abc import Callable

    from heterdaad.thresholds.reconnaissance import ReconThresholds

logger = logging.getLogger(__name__)

# The defaults of Settings.time and Settings.series; the stage passes its own.
LATE_BOUND_DAYS = TimeModel().late_bound_days
DUPLICATE_MINUTES = SeriesThresholds().duplicate_minutes


# --- state: what is remembered, stored as JSON in one table value ------------------------


class Pattern(Record):
    """Sightings linked into one pattern, named after the earliest of them ever (founded_at:
    its time); `reported` only grows, so under one name dedup keys never repeat."""

    pattern_id: str
    founded_at: datetime
    reported: int = 0
    warned: int = 0
    # Nearby sightings (before the pattern's own) its last warning rested on.
    warned_nearby: int = 0


# Fields of state written by earlier versions that nothing reads any more. `watermark`: the
# newest event time of either input, unused since lateness is measured against the slower
# input's (`newest`, 7 December 2026). The changelog still holds records with it.
_RETIRED_FIELDS = frozenset({"watermark"})


class LinkageState(Record):
    # The newest event time of each input (sightings, robberies); lateness is measured against
    # the slowest of them (streams/watermarks.py).
    newest: dict[str, datetime] = {}
    sightings: list[TrackedSighting] = []
    robberies: list[TrackedRobbery] = []
    patterns: dict[str, Pattern] = {}
    # How far back a history that arrived keeps the linker looking (streams/watermarks.py).
    lookback: Lookback = Lookback()
    # Events left out as too late, before the lookback (7 December 2026): none since.
    too_late: int = 0

    @model_validator(mode="before")
    @classmethod
    def _without_retired_fields(cls, data: object) -> object:
        # extra="forbid" keeps a misspelt field from being dropped silently; these are known.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if key not in _RETIRED_FIELDS}
        return data


# --- decisions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SightingEvidence:
    sighting: TrackedSighting
    score: Score


@dataclass(frozen=True)
class PatternWarning:
    """Sightings that look like a crew choosing its target: warn before it strikes."""

    pattern_id: str
    reported: int
    sightings: tuple[SightingEvidence, ...]
    score: WarningScore
    # Unlinked sightings at branches of the same kind nearby, before the pattern's own.
    nearby: tuple[SightingEvidence, ...] = ()

    @property
    def dedup_key(self) -> str:
        # Under one name `reported` only grows, and at one `reported` the nearby count only
        # grows: the pair never repeats with other content.
        extra = f"+{len(self.nearby)}" if self.nearby else ""
        return f"recon:{self.pattern_id}:{self.reported}{extra}"


@dataclass(frozen=True)
class Scored:
    """A pattern's warning score as it was evaluated, warned or not (for calibration)."""

    pattern_id: str
    score: WarningScore
    member_ids: tuple[UUID, ...]
    warned: bool


@dataclass(frozen=True)
class RobberyLink:
    """A robbery at or near a sighted branch, linked back to the reconnaissance before it."""

    robbery: TrackedRobbery
    pattern_ids: tuple[str, ...]
    sightings: tuple[SightingEvidence, ...]
    # Sightings ever linked to the robbery: only grows, so dedup keys never repeat.
    linked: int

    @property
    def dedup_key(self) -> str:
        return f"recon-link:{self.robbery.event_id}:{self.linked}"


Decision = PatternWarning | RobberyLink


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    decisions: tuple[Decision, ...] = ()
    scored: tuple[Scored, ...] = ()


def _nearby_reason(s: TrackedSighting) -> LinkReason:
    return LinkReason(feature="nearby_sighting", value=s.branch_id, contribution=0.0)


def _newest_kept(state: LinkageState) -> dict[str, datetime]:
    """Each input's newest event time among what is kept: for state written before the inputs
    were told apart."""
    return newest_by_input([*(("sighting", s.observed_at) for s in state.sightings),
                            *(("robbery", r.occurred_at) for r in state.robberies)])  # fmt: skip


# --- the linker ----------------------------------------------------------------------------


class ReconLinker:
    """Feeds sightings and robberies, in arrival order, through the linkage state.

    Event times drive every window, and the patterns and robbery links come out the same
    whatever order the events arrive in: patterns are the groups of sightings linked pairwise,
    named after their earliest sighting; a robbery is linked to every sighting before it that
    fits, whichever came first. The linker forgets what lies more than `late_bound_days`
    behind the watermark (the newest event time of the slower input, sightings or robberies:
    streams/watermarks.py). An event older than that is history (a year's load, a monthly
    CBL export): it moves the linker's floor back to its own time (Lookback), and what lies
    after that floor is kept for `late_bound_days` of the stage's clock (`now`, a callable:
    the wall clock unless a test sets one) after the last such arrival.
    """

    def __init__(
        self,
        thresholds: ReconThresholds,
        state: LinkageState | None = None,
        late_bound_days: float = LATE_BOUND_DAYS,
        now: Callable[[], datetime] | None = None,
        duplicate_minutes: float = DUPLICATE_MINUTES,
    ) -> None:
        self.thresholds = thresholds
        self.state = state if state is not None else LinkageState()
        self.late_bound = timedelta(days=late_bound_days)
        self.duplicate_window = timedelta(minutes=duplicate_minutes)
        self.now = now or (lambda: datetime.now(UTC))

    @classmethod
    def from_json(
        cls,
        thresholds: ReconThresholds,
        raw: bytes | None,
        late_bound_days: float = LATE_BOUND_DAYS,
        now: Callable[[], datetime] | None = None,
        duplicate_minutes: float = DUPLICATE_MINUTES,
    ) -> ReconLinker:
        state = LinkageState.model_validate_json(raw) if raw else LinkageState()
        return cls(thresholds, state, late_bound_days, now, duplicate_minutes)

    def to_json(self) -> bytes:
        return self.state.model_dump_json().encode()

    def observe(self, event: ReconSighting | IncidentReport) -> Outcome:
        if isinstance(event, ReconSighting):
            return self.observe_sighting(event)
        return self.observe_robbery(event)

    def observe_sighting(self, sighting: ReconSighting) -> Outcome:
        if any(s.event_id == sighting.event_id for s in self.state.sightings):
            return Outcome(Verdict.DUPLICATE)
        self._advance(sighting.observed_at, "sighting", room=1)
        tracked = TrackedSighting.of(sighting, pattern_id="")
        linked = [
            s
            for s in self.state.sightings
            if (score := sighting_score(tracked, s, self.thresholds)) is not None
            and score.total >= self.thresholds.link_score
        ]
        pattern = self._join(tracked, {s.pattern_id for s in linked})
        t = self.thresholds
        # The pattern it joined, and those it is a nearby sighting of (their score grew).
        touched = {s.pattern_id for s in self.state.sightings if is_nearby(tracked, s, t)}
        affected = [pattern.pattern_id, *sorted(touched - {pattern.pattern_id})]
        decisions: list[Decision] = []
        scored: list[Scored] = []
        for pattern_id in affected:
            warning, evaluated = self._warning(self.state.patterns[pattern_id])
            scored.append(evaluated)
            if warning:
                decisions.append(warning)
        # A sighting reported late may precede a robbery already seen. Only the patterns it
        # touched have changed (members, merges, warned), so only a robbery linked to one of
        # their members can have a new link.
        members = [m for pattern_id in affected for m in self.members(pattern_id)]
        for robbery in self.state.robberies:
            if any(self._direct(robbery, m) for m in members) and (link := self._link(robbery)):
                decisions.append(link)
        return Outcome(Verdict.ACCEPTED, tuple(decisions), tuple(scored))

    def observe_robbery(self, report: IncidentReport) -> Outcome:
        if any(r.event_id == report.event_id for r in self.state.robberies):
            return Outcome(Verdict.DUPLICATE)
        # The shop's and the trade association's report of one robbery (two event ids): the
        # first stands for it, as in the series stage; the second would link it again.
        if any(r.branch_id == report.branch.branch_id
               and abs(r.occurred_at - report.occurred_at) <= self.duplicate_window
               for r in self.state.robberies):  # fmt: skip
            return Outcome(Verdict.DUPLICATE)
        self._advance(report.occurred_at, "robbery")
        robbery = TrackedRobbery.of(report)
        self.state.robberies.append(robbery)
        link = self._link(robbery)
        return Outcome(Verdict.ACCEPTED, (link,) if link else ())

    def members(self, pattern_id: str) -> list[TrackedSighting]:
        return [s for s in self.state.sightings if s.pattern_id == pattern_id]

    def _advance(self, event_time: datetime, source: str, *, room: int = 0) -> None:
        """Move the watermark and forget what no window reaches.

        `source`: the input the event came from; the watermark is the slowest input's
        (streams/watermarks.py). An event more than the bound behind it moves the floor back
        to its own time for a while (Lookback). `room`: sightings about to be added, which the
        bound on tracked sightings leaves room for.
        """
        state, t = self.state, self.thresholds
        newest, slowest_input = slowest(state.newest or _newest_kept(state), [(source, event_time)])
        now, bound = self.now(), slowest_input - self.late_bound
        state.lookback = state.lookback.after(event_time, bound, now, self.late_bound)
        state.newest = newest
        # A sighting up to the bound late (or from the lookback's oldest on) meets sightings a
        # window before it and robberies up to robbery_link_days after it; a robbery that
        # late, sightings before it.
        reach = timedelta(days=t.reach_days)
        keep_from = state.lookback.floor(bound - reach, now, reach)
        kept = sorted(
            (s for s in state.sightings if s.observed_at >= keep_from),
            key=lambda s: (s.observed_at, s.event_id.hex),
        )
        state.sightings = kept[max(0, len(kept) + room - t.max_tracked_sightings) :]
        robberies_from = state.lookback.floor(bound, now, timedelta(0))
        state.robberies = [r for r in state.robberies if r.occurred_at >= robberies_from]
        alive = {s.pattern_id for s in state.sightings}
        state.patterns = {k: p for k, p in state.patterns.items() if k in alive}

    def _join(self, tracked: TrackedSighting, linked_patterns: set[str]) -> Pattern:
        """Put the sighting in the pattern it links to, merging any others into it.

        The merged pattern is named after its earliest sighting ever (time, then id), so it
        gets the same name whichever order its sightings came in; a late sighting before the
        first renames it. Warned counts carry over, so a merge is not warned of twice.
        """
        own = Pattern(pattern_id=f"rp-{tracked.event_id.hex[:16]}", founded_at=tracked.observed_at)
        patterns = sorted(
            [own, *(self.state.patterns[k] for k in linked_patterns)],
            key=lambda p: (p.founded_at, p.pattern_id),
        )
        first, merged = patterns[0], [p for p in patterns[1:] if p is not own]
        pattern = Pattern(
            pattern_id=first.pattern_id,
            founded_at=first.founded_at,
            reported=sum(p.reported for p in patterns),
            warned=max(p.warned for p in patterns),
            warned_nearby=max(p.warned_nearby for p in patterns),
        )
        for other in merged if first is own else [first, *merged]:
            for s in self.members(other.pattern_id):
                s.pattern_id = pattern.pattern_id
            del self.state.patterns[other.pattern_id]
        self.state.patterns[pattern.pattern_id] = pattern
        tracked.pattern_id = pattern.pattern_id
        pattern.reported += 1
        self.state.sightings.append(tracked)
        return pattern

    def _warning(self, pattern: Pattern) -> tuple[PatternWarning | None, Scored]:
        """Warn of the pattern when its score reaches warn_score or it links enough branches,
        and it has grown (sightings, or nearby sightings) since its last warning."""
        t = self.thresholds
        members = self.members(pattern.pattern_id)
        score = warning_score(members, self.state.sightings, t)
        member_ids = tuple(s.event_id for s in members)
        passes = score.total >= t.warn_score or score.branches >= t.min_branches
        nearby = len(score.nearby_ids)
        grown = pattern.reported > pattern.warned or nearby > pattern.warned_nearby
        if not passes or not grown:
            return None, Scored(pattern.pattern_id, score, member_ids, warned=False)
        pattern.warned, pattern.warned_nearby = pattern.reported, nearby
        near = set(score.nearby_ids)
        nearby_evidence = tuple(
            SightingEvidence(s.model_copy(), Score(0.0, (_nearby_reason(s),)))
            for s in self.state.sightings
            if s.event_id in near
        )
        warning = PatternWarning(
            pattern.pattern_id, pattern.reported, self._best_links(members), score,
            nearby_evidence,
        )  # fmt: skip
        return warning, Scored(pattern.pattern_id, score, member_ids, warned=True)

    def _best_links(self, members: list[TrackedSighting]) -> tuple[SightingEvidence, ...]:
        """Each member with its strongest link inside the pattern, as the reason it is there."""
        best: dict[UUID, Score] = {s.event_id: Score(0.0) for s in members}
        for a, b in combinations(members, 2):
            score = sighting_score(a, b, self.thresholds)
            if score is None:
                continue
            for s in (a, b):
                if score.total > best[s.event_id].total or not best[s.event_id].reasons:
                    best[s.event_id] = score
        return tuple(SightingEvidence(s.model_copy(), best[s.event_id]) for s in members)

    def _direct(self, robbery: TrackedRobbery, s: TrackedSighting) -> Score | None:
        """The sighting's score with the robbery when it is enough to link them by itself."""
        warned = self.state.patterns[s.pattern_id].warned > 0
        score = robbery_score(robbery, s, self.thresholds, warned=warned)
        return (
            score
            if score is not None and score.total >= self.thresholds.robbery_link_score
            else None
        )

    def _link(self, robbery: TrackedRobbery) -> RobberyLink | None:
        """The robbery's link to reconnaissance, when it has grown since it was last reported."""
        direct = {
            s.event_id: score
            for s in self.state.sightings
            if (score := self._direct(robbery, s)) is not None
        }
        patterns = {s.pattern_id for s in self.state.sightings if s.event_id in direct}
        evidence = []
        for s in self.state.sightings:
            if s.event_id in direct:
                evidence.append(SightingEvidence(s.model_copy(), direct[s.event_id]))
            elif s.pattern_id in patterns and s.observed_at < robbery.occurred_at:
                # Not close enough to the robbery itself, but scouted by the same crew.
                same = LinkReason(feature="same_pattern", value=s.pattern_id, contribution=0.0)
                evidence.append(SightingEvidence(s.model_copy(), Score(0.0, (same,))))
        new = {e.sighting.event_id for e in evidence} - set(robbery.linked)
        if not new:
            return None
        robbery.linked = [*robbery.linked, *sorted(new, key=str)]
        return RobberyLink(
            robbery.model_copy(), tuple(sorted(patterns)), tuple(evidence), len(robbery.linked)
        )
