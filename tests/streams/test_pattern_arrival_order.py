"""Issue 10 (b): one scenario through a real worker in three arrival orders, same patterns.

The same robberies and sightings go to three fresh topic sets, each with its own worker: in
event-time order; with the pattern events entered 1 to 28 days late in shuffled order; and as
one bulk import listing the newest first (as an export does), so that every event after the
first lies behind the stage's watermark. The series, the reconnaissance links and the hotspots
they end with must be the same.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.alerts import Alert, AlertKind
from schemas.events import IncidentReport, ReconSighting
from schemas.topics import ALERTS
from schemas.wire import decode_as
from streams.hotspot_tracking import HotspotState
from streams.topology import ensure_worker_topics
from tests.kafka_helpers import eventually, publish_all, records_up_to_now
from tests.processes import running
from tests.streams.test_detect_hotspots import _background_sightings, _cluster_reports
from tests.streams.test_link_reconnaissance import DAM, OOST, WEST, robbery, scouting
from tests.streams.test_link_series import crew_report, east

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from heterdaad.settings import Settings

Event = IncidentReport | ReconSighting
Members = frozenset[uuid.UUID]


def _event_time(event: Event) -> datetime:
    return event.observed_at if isinstance(event, ReconSighting) else event.occurred_at


def scenario(now: datetime) -> tuple[list[Event], list[Event]]:
    """Background sightings (entered on time), and the events that make patterns: a series of
    a month ago, a live series, a crew scouting three shops then robbing one, a hotspot."""
    days_ago = (now - datetime.now(UTC)).total_seconds() / 86400
    history_crew = [crew_report(east(km), days - days_ago) for km, days in
                    ((0, 30), (3, 29), (6, 28))]  # fmt: skip
    live_crew = [crew_report(east(km), days - days_ago) for km, days in
                 ((20, 3), (23, 2), (26, 1))]  # fmt: skip
    hours = -days_ago * 24
    recon: list[Event] = [scouting(1, DAM, 120 + hours), scouting(2, OOST, 100 + hours),
                          scouting(3, WEST, 80 + hours), robbery(2, OOST, 60 + hours)]  # fmt: skip
    patterns: list[Event] = [*history_crew, *live_crew, *recon, *_cluster_reports(now)]
    # Within the lateness bound of the newest event: the worker reads the topics side by side,
    # so even the event-time run does not reach it in event-time order.
    background = [s for s in _background_sightings(now) if s.observed_at > now - timedelta(days=55)]
    return list(background), patterns


def in_event_time(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (_event_time(e), str(e.event_id)))


def bulk_newest_first(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (_event_time(e), str(e.event_id)), reverse=True)


def entered_late(background: list[Event], patterns: list[Event], seed: int) -> list[Event]:
    """The background on time, each pattern event 1 to 28 days late, in arrival order."""
    rng = random.Random(seed)
    arrival = {e.event_id: _event_time(e) + timedelta(days=rng.uniform(1, 28)) for e in patterns}
    arrival |= {e.event_id: _event_time(e) for e in background}
    return sorted([*background, *patterns], key=lambda e: arrival[e.event_id])


# --- what the alerts say at the end ----------------------------------------------------------


def _largest(groups: dict[str, list[Members]]) -> dict[str, Members]:
    """Per name its largest member set, leaving out names whose set another name holds whole
    (a series or pattern re-labelled when an earlier member arrived late)."""
    largest = {name: max(sets, key=len) for name, sets in groups.items()}
    return {
        name: members
        for name, members in largest.items()
        if not any(other != name and members < more for other, more in largest.items())
    }


@dataclass(frozen=True)
class Outcome:
    series: dict[str, Members]
    patterns: dict[str, Members]
    links: dict[uuid.UUID, Members]
    # Hotspots alerted; compared through the stage's state (see hotspots_held), as a hotspot
    # alerted on partial data may be replaced once the late events replay its scans.
    hotspots: dict[str, Members]


def outcome(alerts: list[Alert]) -> Outcome:
    series: dict[str, list[Members]] = {}
    patterns: dict[str, list[Members]] = {}
    links: dict[uuid.UUID, set[uuid.UUID]] = {}
    hotspots: dict[str, set[uuid.UUID]] = {}
    for alert in alerts:
        ids = frozenset(e.event_id for e in alert.evidence)
        if alert.kind is AlertKind.SERIES and alert.series_id:
            series.setdefault(alert.series_id, []).append(ids)
        elif alert.dedup_key.startswith("recon:"):
            patterns.setdefault(alert.dedup_key.split(":")[1], []).append(ids)
        elif alert.dedup_key.startswith("recon-link:"):
            robbery_id, *sightings = (e.event_id for e in alert.evidence)
            links.setdefault(robbery_id, set()).update(sightings)
        elif alert.kind is AlertKind.HOTSPOT and alert.hotspot_id:
            hotspots.setdefault(alert.hotspot_id, set()).update(ids)
    return Outcome(
        series=_largest(series),
        patterns=_largest(patterns),
        links={k: frozenset(v) for k, v in links.items()},
        hotspots={k: frozenset(v) for k, v in hotspots.items()},
    )


async def alerts_once(
    settings: Settings, worker: Any, done: Callable[[list[Alert]], bool], timeout: float = 240
) -> list[Alert]:
    """The alerts on the topic once `done` holds for them, read on to the end offsets."""
    consumer = AIOKafkaConsumer(
        ALERTS.name(settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"test-order-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    alerts: list[Alert] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(alerts):
                assert worker.poll() is None, f"the worker exited with {worker.returncode}"
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    alerts += [decode_as(Alert, ALERTS, r.value, list(r.headers)) for r in records]
            ends = await consumer.end_offsets(list(consumer.assignment()))
            for tp, end in ends.items():
                while await consumer.position(tp) < end:
                    for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                        alerts += [decode_as(Alert, ALERTS, r.value, list(r.headers))
                                   for r in records]  # fmt: skip
    finally:
        await consumer.stop()
    return alerts


def complete(patterns: list[Event]) -> Callable[[list[Alert]], bool]:
    """Every pattern of the scenario has reached its full size in the alerts."""
    crews = [frozenset(e.event_id for e in crew) for crew in (patterns[:3], patterns[3:6])]
    sightings = frozenset(e.event_id for e in patterns[6:9])
    robbery_id = patterns[9].event_id
    cluster = frozenset(e.event_id for e in patterns[10:])

    def check(alerts: list[Alert]) -> bool:
        found = outcome(alerts)
        return (
            all(any(crew <= s for s in found.series.values()) for crew in crews)
            and found.links.get(robbery_id, frozenset()) >= sightings
            and any(cluster <= h for h in found.hotspots.values())
        )

    return check


def every_hotspot_alerted(held: set[tuple[str, Members]]) -> Callable[[list[Alert]], bool]:
    ids = {hotspot for hotspot, _ in held}
    return lambda alerts: ids <= set(outcome(alerts).hotspots)


async def hotspots_held(settings: Settings, events: int) -> set[tuple[str, Members]]:
    """Every hotspot the stage's scans held open, once its state holds all `events`."""
    changelog = f"{settings.app_id}-region_to_hotspot_state-changelog"

    async def final() -> HotspotState | None:
        records = await records_up_to_now(settings.kafka_bootstrap, changelog, 1)
        values = [r.value for r in records if r.value]
        state = HotspotState.model_validate_json(values[-1]) if values else None
        return state if state is not None and len(state.observations) == events else None

    state = await eventually(final, timeout=120, interval=0.5)
    return {(h.hotspot_id, frozenset(h.event_ids)) for e in state.evaluations for h in e.hotspots}


@pytest.fixture
async def more_settings(settings: Settings) -> AsyncIterator[list[Settings]]:
    """Two more fresh topic sets (and app ids) on the same broker, removed afterwards."""
    from tests.conftest import _delete_topics

    more = []
    for number in (2, 3):
        run = uuid.uuid4().hex[:10]
        more.append(settings.model_copy(
            update={"topic_prefix": f"t{run}.", "app_id": f"heterdaad-t{run}",
                    "state_dir": settings.state_dir.parent / f"state-{number}"}
        ))  # fmt: skip
        await ensure_worker_topics(more[-1])  # the contract's topics and the worker's own
    yield more
    for other in more:
        await _delete_topics(other)


@pytest.mark.integration
@pytest.mark.timeout(600)
async def test_the_same_patterns_in_event_time_order_entered_late_and_in_bulk(
    settings: Settings, more_settings: list[Settings], tmp_path: Path
) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    background, patterns = scenario(now)
    orders = {
        "event time": (settings, in_event_time([*background, *patterns])),
        "entered late": (more_settings[0], entered_late(background, patterns, seed=10)),
        "bulk newest first": (more_settings[1], bulk_newest_first([*background, *patterns])),
    }
    results: dict[str, Outcome] = {}
    held: dict[str, set[tuple[str, Members]]] = {}
    for name, (run_settings, events) in orders.items():
        await publish_all(run_settings, *events)
        with running(run_settings, "worker", log=tmp_path / f"{name}.log") as worker:
            await alerts_once(run_settings, worker, complete(patterns))
            held[name] = await hotspots_held(run_settings, len(events))
            # Every hotspot the scans found is alerted, under its id: read on until its alert,
            # written beside the state the stage just stored, is on the topic too.
            alerts = await alerts_once(run_settings, worker, every_hotspot_alerted(held[name]))
        results[name] = outcome(alerts)
        # Every alert says when its event happened; a month-old series is history.
        pattern_alerts = [a for a in alerts if a.kind in (AlertKind.SERIES, AlertKind.HOTSPOT,
                                                          AlertKind.RECONNAISSANCE_WARNING)]
        assert all(a.occurred_at is not None for a in pattern_alerts)
        old_series = [a for a in alerts if a.kind is AlertKind.SERIES
                      and patterns[0].event_id in {e.event_id for e in a.evidence}]
        assert old_series and all(a.historical for a in old_series)
    in_order = results["event time"]
    for name in ("entered late", "bulk newest first"):
        other = results[name]
        assert (other.series, other.patterns, other.links) == (
            in_order.series, in_order.patterns, in_order.links), name  # fmt: skip
        assert held[name] == held["event time"], name
    cluster = {e.event_id for e in patterns[10:]}
    assert any(members >= cluster for _, members in held["event time"])
