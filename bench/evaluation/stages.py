"""Each stage's pure decision replayed over one simulated scenario and scored on its truth.

No broker: events go through the stages' pure deciders in the order they are sent, as the
stage tests replay them (tests/streams). Every function returns counts, so results of several
seeds add up before rates are taken.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from heterdaad.settings import Settings
from heterdaad.thresholds.alarms import AlarmThresholds
from heterdaad.thresholds.hotspots import HotspotThresholds
from heterdaad.thresholds.reconnaissance import ReconThresholds
from heterdaad.thresholds.series import SeriesThresholds
from schemas.alerts import Alert
from schemas.events import AlarmActivation, IncidentReport, ReconSighting
from streams.detect_hotspots import HotspotState, HotspotTracker, observation_of
from streams.link_series import MemoryLinkage, link_report
from streams.recon_linkage import PatternWarning, ReconLinker, RobberyLink
from streams.series_calibrate import is_false_series
from streams.series_model import load
from streams.verify_alarms import AlarmVerifier, replay

if TYPE_CHECKING:
    from collections.abc import Sequence

    from producers.simulator import Scenario

logger = logging.getLogger(__name__)

@dataclass
class Counts:
    """What one scenario (or several, added up) shows of each stage."""

    days: float = 0.0
    # series
    series_planted: int = 0  # planted series that reached a third robbery
    series_found_by_third: int = 0
    series_alerts: int = 0
    series_false_alerts: int = 0
    # reconnaissance
    recon_patterns: int = 0
    recon_single: int = 0  # of them, scouted with a single sighting
    recon_warned_before: int = 0
    recon_single_warned: int = 0
    recon_linked_back: int = 0
    recon_background_sightings: int = 0
    recon_false_warnings: int = 0
    # hotspots
    hotspots_planted: int = 0
    hotspots_found: int = 0
    hotspots_raised: int = 0
    hotspots_false: int = 0
    # alarm verification
    true_presses: int = 0
    true_alerted: int = 0
    false_presses: int = 0
    false_alerted: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                         for f in fields(self)})  # fmt: skip


def measure(scenario: Scenario) -> Counts:
    """Every stage over one scenario."""
    counts = Counts(days=scenario.config.days)
    measure_series(scenario, counts)
    measure_recon(scenario, counts)
    measure_hotspots(scenario, counts)
    measure_alarms(scenario, counts)
    return counts


def measure_series(scenario: Scenario, counts: Counts) -> None:
    """Reports in arrival order through series linkage: found by the third robbery (the
    three in one series), and alerts whose series is no planted one."""
    thresholds = configured_series_thresholds()
    reports = [(e.model, e.truth.series_id) for e in scenario.events
               if isinstance(e.model, IncidentReport)]  # fmt: skip
    found, planted, alerts, false = replay_series(reports, thresholds)
    counts.series_found_by_third += found
    counts.series_planted += planted
    counts.series_alerts += alerts
    counts.series_false_alerts += false


def configured_series_thresholds() -> SeriesThresholds:
    """The hand-set curves, or the fitted model HETERDAAD_SERIES__MODEL_PATH names."""
    configured = Settings(_env_file=None).series.model_path
    hand_set = SeriesThresholds()
    return load(configured).thresholds(hand_set) if configured else hand_set


def replay_series(
    reports: Sequence[tuple[IncidentReport, str | None]], t: SeriesThresholds
) -> tuple[int, int, int, int]:
    """One scenario's robberies (each with its planted series or None) in arrival order
    through `link_report`: planted series found by their third robbery, planted series of
    three or more, series alerts, and false ones (streams/series_calibrate.py)."""
    crew_of = {report.event_id: crew for report, crew in reports}
    sizes = Counter(crew for _, crew in reports if crew)
    state = MemoryLinkage()
    arrived: dict[str, list[UUID]] = {}
    found = planted = alerts = false = 0
    for report, crew in reports:
        decision = link_report(report, state, t)
        state.apply(decision)
        if decision.grown is not None:
            alerts += 1
            false += is_false_series(decision.grown, crew_of)
        if crew and sizes[crew] >= 3:
            seen = arrived.setdefault(crew, [])
            seen.append(report.event_id)
            if len(seen) == 3:
                planted += 1
                ids = {state.reports[e].series_id if e in state.reports else None for e in seen}
                found += len(ids) == 1 and None not in ids
    return found, planted, alerts, false


def measure_recon(scenario: Scenario, counts: Counts) -> None:
    """Sightings and robberies in arrival order through reconnaissance linkage.

    A planted pattern is warned before its robbery when a warning sent before the robbery
    names at least two of its sightings, or its one sighting when it had only one.
    """
    truth = {event.truth.event_id: event.truth for event in scenario.events}
    linker = ReconLinker(ReconThresholds())
    warnings: list[tuple[datetime, PatternWarning]] = []
    links: list[RobberyLink] = []
    for event in scenario.events:
        if not isinstance(event.model, ReconSighting | IncidentReport):
            continue
        for decision in linker.observe(event.model).decisions:
            if isinstance(decision, PatternWarning):
                warnings.append((event.emitted_at, decision))
            else:
                links.append(decision)
    for planted in scenario.recon:
        needed = min(2, len(planted.sighting_ids))
        robbed_at = truth[planted.robbery_id].occurred_at
        warned = any(
            sent < robbed_at
            and sum(
                s.sighting.event_id in planted.sighting_ids for s in (*w.sightings, *w.nearby)
            )
            >= needed
            for sent, w in warnings
        )
        counts.recon_patterns += 1
        counts.recon_warned_before += warned
        if len(planted.sighting_ids) == 1:
            counts.recon_single += 1
            counts.recon_single_warned += warned
        counts.recon_linked_back += any(
            link.robbery.event_id == planted.robbery_id
            and any(s.sighting.event_id in planted.sighting_ids for s in link.sightings)
            for link in links
        )
    counts.recon_background_sightings += sum(
        isinstance(e.model, ReconSighting) and e.truth.recon_pattern_id is None
        for e in scenario.events
    )
    counts.recon_false_warnings += len({
        w.pattern_id for _, w in warnings
        if not any(truth[s.sighting.event_id].recon_pattern_id
                   for s in (*w.sightings, *w.nearby))
    })  # fmt: skip


def measure_hotspots(scenario: Scenario, counts: Counts) -> None:
    """Reports and sightings in arrival order through the hotspot scan: planted hotspots
    raised (three of their robberies or more in one), and hotspots of no planted one."""
    planted = {e.truth.event_id for e in scenario.events if e.truth.hotspot_id}
    counts.hotspots_planted += scenario.config.hotspots
    tracker, state = HotspotTracker(HotspotThresholds()), HotspotState()
    found = False
    for event in scenario.events:
        if not isinstance(event.model, IncidentReport | ReconSighting):
            continue
        state, changes = tracker.observe(state, observation_of(event.model))
        for change in changes:
            if change.status != "raised":
                continue
            counts.hotspots_raised += 1
            members = {o.event_id for o in change.events}
            if len(members & planted) >= 3:
                found = True
            elif not members & planted:
                counts.hotspots_false += 1
    counts.hotspots_found += found


def measure_alarms(scenario: Scenario, counts: Counts) -> None:
    """Alarms and reports in arrival order through alarm verification: true hold-ups alerted,
    and false presses that reached the police (any alert naming them)."""
    settings = Settings(_env_file=None).model_copy(update={"alarms": AlarmThresholds()})
    timed = [(e.emitted_at, e.model) for e in scenario.events
             if isinstance(e.model, AlarmActivation | IncidentReport)]  # fmt: skip
    truth = {event.truth.event_id: event.truth for event in scenario.events}
    alerted: set[UUID] = set()
    for output in replay(AlarmVerifier(settings), timed):
        if isinstance(output, Alert):
            alerted |= {episode for link in output.evidence
                        if link.event_id in truth
                        and (episode := truth[link.event_id].alarm_episode) is not None}
    presses = [t for t in truth.values()
               if t.alarm in ("true", "false") and t.alarm_role == "press"]  # fmt: skip
    for press in presses:
        hit = press.alarm_episode in alerted
        if press.alarm == "true":
            counts.true_presses += 1
            counts.true_alerted += hit
        else:
            counts.false_presses += 1
            counts.false_alerted += hit
