"""Per-stage micro-benchmarks of the pure decision logic, against the codec as baseline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from heterdaad.settings import Settings
from producers.simulator.config import SimulationConfig
from producers.simulator.scenario import generate
from schemas.common import Contract
from schemas.events import AlarmActivation, IncidentReport, ReconSighting
from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS, TopicSpec
from schemas.wire import decode, encode
from streams.alarm_state import CellState, SiteRecord, route
from streams.detect_hotspots import HotspotState, HotspotTracker, observation_of
from streams.link_series import MemoryLinkage, link_report
from streams.recon_linkage import ReconLinker
from streams.verify_alarms import AlarmVerifier


@dataclass(frozen=True)
class Rate:
    """Events per second of one stage on one core (best of the repeats: least disturbed)."""

    name: str
    events: int
    per_second: float


def best_rate(name: str, events: int, run: Callable[[], None], repeats: int) -> Rate:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return Rate(name, events, events / best if events else float("nan"))


def simulated(days: float) -> list[Contract]:
    # A fixed end makes every run replay the same events.
    config = SimulationConfig(seed=7, days=days, end=datetime(2026, 11, 1, tzinfo=UTC))
    return [event.model for event in generate(config).events]


def _spec(model: Contract) -> TopicSpec:
    if isinstance(model, AlarmActivation):
        return ALARM_ACTIVATIONS
    if isinstance(model, IncidentReport):
        return INCIDENT_REPORTS
    return RECON_SIGHTINGS


def run_all(settings: Settings, *, days: float, repeats: int) -> list[Rate]:
    """The codec first: every other figure is reported as a ratio of it."""
    events = simulated(days)
    alarms = [e for e in events if isinstance(e, AlarmActivation)]
    reports = [e for e in events if isinstance(e, IncidentReport)]
    recon = [e for e in events if isinstance(e, ReconSighting | IncidentReport)]
    hotspot_input = [e for e in events if isinstance(e, IncidentReport | ReconSighting)]
    encodable = [
        (_spec(e), e)
        for e in events
        if isinstance(e, AlarmActivation | IncidentReport | ReconSighting)
    ]

    def codec() -> None:
        for spec, model in encodable:
            record = encode(spec, model, "urn:bench")
            decode(spec, record.value, record.headers)

    def verification() -> None:
        verifier = AlarmVerifier(settings)
        cells: dict[str, CellState] = {}
        records: dict[str, SiteRecord] = {}
        for activation in alarms:
            for key, item in route(activation, settings.alarms.report_match_radius_m):
                state = cells.get(key) or CellState(partition=0)
                # Processing time = event time, as a worker keeping up would see it.
                decision = verifier.handle(state, item, activation.occurred_at, records=records.get)
                cells[key] = decision.state
                records.update(decision.records)

    def series() -> None:
        view = MemoryLinkage()
        for report in reports:
            view.apply(link_report(report, view, settings.series))

    def hotspots() -> None:
        tracker = HotspotTracker(settings.hotspots)
        state = HotspotState()
        for event in hotspot_input:
            assert isinstance(event, IncidentReport | ReconSighting)
            state, _ = tracker.observe(state, observation_of(event))

    def reconnaissance() -> None:
        linker = ReconLinker(settings.reconnaissance)
        for event in recon:
            assert isinstance(event, ReconSighting | IncidentReport)
            linker.observe(event)

    stages: Sequence[tuple[str, int, Callable[[], None]]] = (
        ("codec (schemas.wire encode+decode)", len(encodable), codec),
        ("alarm verification", len(alarms), verification),
        ("series linkage", len(reports), series),
        ("hotspot scan", len(hotspot_input), hotspots),
        ("reconnaissance linkage", len(recon), reconnaissance),
    )
    # A warning per scan printed to a terminal would time the terminal, not the stage.
    logging.disable(logging.WARNING)
    try:
        return [best_rate(name, count, run, repeats) for name, count, run in stages]
    finally:
        logging.disable(logging.NOTSET)
