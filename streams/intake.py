"""Intake: one gather agent per source topic; each record decoded once, fanned out to the stages.

The worker reads three source topics (alarm activations, incident reports, reconnaissance
sightings); a worker running some of the stages (streams/roles.py) only those its stages take.
For each there is exactly one Faust agent, `gather_<topic>`: it decodes a record
once (schemas.wire.decode), dead-letters and counts what it cannot decode in one place
(streams/dead_letters.py), counts what it can once, and hands the typed model to every stage
that subscribed to that topic, in the order the stages were registered (streams/app.py).
An event whose time lies further ahead of the worker's clock than the edges allow is
dead-lettered there too, with the edges' reason (heterdaad/event_time.py): written straight to
the topic past every edge, it reaches no stage, so no alert, no watermark, no window.
Before, five agents decoded every incident report, and one "owner" per topic dead-lettered.

What a stage subscribes is its fan-out, which stays in the stage's own wiring:
- **Stages with state** repartition to their own internal topic, as they did from their own
  gather agents: verify_alarms by grid cell, link_series and link_reconnaissance and
  detect_hotspots under one national key. The stage's agent reads that topic, so per key the
  order is the source's order (one gather agent sends in record order through one producer)
  and the state's table is co-partitioned with it. Every internal topic uses one codec
  (streams/codec.py).
- **report_robberies is a direct call**: one alert per robbery, keyed by the report, and its
  state (the robberies it alerted per branch, so that another source's report of one is no
  second alert) is keyed by branch, as incident-reports.v1 is. Its table has that topic's
  partitions, so it is co-partitioned with the gather agent's own stream: the worker that reads
  a branch's partition holds the branch's state, and a write's changelog record goes to the
  partition of the report being read (Faust's current event). An internal topic would add a
  hop and a topic and change nothing: the alert is sent from the gather agent before it moves
  on, and Faust commits the source offset only after flushing the producer (streams/
  transport.py fails that flush when a send failed), changelog record included, so the alert
  is at least once and in the source's order, as when the stage read the topic itself; its id
  is the report's, so a repeat after a restart is recognised downstream, and the stage decides
  a report it has seen as it did before.

A fan-out that raises ends the worker (streams/supervision.py) before the record's offset is
committed: its successor reads the record again and every stage gets it again, each stage
recognising what it had (dedup keys, seen ids), as after any restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS
from streams.dead_letters import decoded

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import timedelta

    import faust

    from schemas.common import Contract
    from schemas.topics import TopicSpec
    from streams.app import Topics

logger = logging.getLogger(__name__)

STAGE = "intake"
"""The stage named in the dead-letter header of a source record nobody could decode."""
SOURCES: tuple[TopicSpec, ...] = (ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS)

ModelT = TypeVar("ModelT", bound="Contract")


def gather_agent_name(spec: TopicSpec) -> str:
    """`gather_incident_reports` for incident-reports.v1."""
    return "gather_" + spec.suffix.split(".")[0].replace("-", "_")


class Intake:
    """Which stages take the records of each source topic, and the one agent per topic.

    `clock_skew`: how far ahead of the worker's clock an event time may lie (the edges'
    Settings.clock_skew_seconds and heterdaad.event_time.READ_MARGIN: read_skew); a record
    beyond it is dead-lettered and reaches no stage.
    """

    def __init__(self, clock_skew: timedelta) -> None:
        self.clock_skew = clock_skew
        self._fanouts: dict[str, list[tuple[str, Callable[[Contract], Awaitable[None]]]]] = {
            spec.suffix: [] for spec in SOURCES
        }
        self._registered = False

    def subscribe(
        self,
        spec: TopicSpec,
        model: type[ModelT],
        stage: str,
        fanout: Callable[[ModelT], Awaitable[None]],
    ) -> None:
        """Have `fanout` called with each decoded record of `spec`, in the topic's order."""
        if self._registered:
            raise RuntimeError(f"{stage} subscribed to {spec.suffix} after the intake started")
        if spec.suffix not in self._fanouts:
            raise ValueError(f"{spec.suffix} is no source topic of the worker")
        if spec.value_model is not model:
            raise TypeError(f"{spec.suffix} carries {spec.value_model.__name__}, not {model}")

        async def typed(record: Contract) -> None:
            assert isinstance(record, model)
            await fanout(record)

        self._fanouts[spec.suffix].append((stage, typed))

    def stages(self, spec: TopicSpec) -> list[str]:
        """The stages that take the records of `spec`, in the order they get them."""
        return [stage for stage, _ in self._fanouts[spec.suffix]]

    def register(self, app: faust.App, topics: Topics) -> None:
        """Declare the gather agents; after every stage has subscribed."""
        self._registered = True
        for spec in SOURCES:
            # A worker running some of the stages (streams/roles.py) reads only their topics.
            if self._fanouts[spec.suffix]:
                self._gather(app, topics, spec)

    def _gather(self, app: faust.App, topics: Topics, spec: TopicSpec) -> None:
        fanouts = [fanout for _, fanout in self._fanouts[spec.suffix]]

        async def gather(stream: faust.StreamT[bytes]) -> None:
            async for model in decoded(stream, spec, topics, stage=STAGE, skew=self.clock_skew):
                for fanout in fanouts:
                    await fanout(model)

        # Faust's agent decorator is applied as a call: the name comes from the topic.
        app.agent(topics[spec], name=gather_agent_name(spec))(gather)
