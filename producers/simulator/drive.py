"""Sending a scenario: straight to Kafka or through the ingest API, in order, at a set rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from heterdaad.kafka import make_producer
from producers.edge_policy import admit
from producers.simulator.scenario import generate
from schemas.events import AlarmActivation, IncidentReport, ReconSighting
from schemas.wire import encode, explain

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path
    from types import TracebackType

    from aiokafka import AIOKafkaProducer

    from heterdaad.settings import Settings
    from producers.simulator.config import SimulationConfig
    from producers.simulator.truth import EventType, ScenarioEvent, SimEvent

logger = logging.getLogger(__name__)

API_PATHS: dict[EventType, str] = {
    "alarm_activation": "/v1/alarm-activations",
    "incident_report": "/v1/incident-reports",
    "recon_sighting": "/v1/recon-sightings",
}
# Records handed to the producer but not yet acknowledged; order holds because records are
# handed over one by one, in order, and the producer keeps per-partition order.
MAX_IN_FLIGHT = 1000
HTTP_ATTEMPTS = 4
RETRY_STATUSES = frozenset({429, 502, 503, 504})
KEPT_REJECTIONS = 20
# A history load logs its progress this often (events), for logs where no bar is drawn.
PROGRESS_EVERY = 10_000
MAX_RETRY_AFTER_S = 30.0


@dataclass
class SimulationReport:
    """What a run sent where, what came back refused, and how fast it went."""

    seed: int
    target: Literal["kafka", "http"]
    start: datetime
    end: datetime
    series: int
    recon_patterns: int
    truth_path: Path | None
    sent: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def events_per_second(self) -> float:
        return self.total_sent / self.seconds if self.seconds > 0 else 0.0


class Sink(Protocol):
    async def send(self, event: ScenarioEvent) -> str | None:
        """Send one event; a reason when it was refused, else None."""

    async def drain(self) -> None:
        """Wait until everything sent has been acknowledged."""


async def simulate(
    settings: Settings,
    config: SimulationConfig,
    *,
    target: Literal["kafka", "http"] = "kafka",
    api_url: str | None = None,
    api_key: str | None = None,
    progress: bool = False,
) -> SimulationReport:
    """Generate the scenario of `config` and send it, writing the ground truth if asked."""
    if target == "http" and (api_url is None or api_key is None):
        raise ValueError("the http target needs api_url and api_key")
    scenario = generate(
        config, plate_key=settings.require_plate_key(), plate_key_id=settings.plate_key_id
    )
    if config.truth_path is not None:
        scenario.write_truth(config.truth_path)
    report = SimulationReport(
        seed=config.seed,
        target=target,
        start=scenario.start,
        end=scenario.end,
        series=len(scenario.series),
        recon_patterns=len(scenario.recon),
        truth_path=config.truth_path,
    )
    logger.info(
        "simulation started",
        extra={"seed": config.seed, "target": target, "events": len(scenario.events)},
    )
    began = time.monotonic()
    if target == "kafka":
        async with KafkaSink(settings) as kafka:
            await send_events(scenario.events, kafka, config.rate, progress, report)
    else:
        assert api_url is not None and api_key is not None
        async with HttpSink(api_url, api_key) as api:
            await send_events(scenario.events, api, config.rate, progress, report)
    report.seconds = time.monotonic() - began
    logger.info(
        "simulation finished",
        extra={
            "seed": config.seed,
            "sent": report.total_sent,
            "rejected": report.rejected,
            "seconds": round(report.seconds, 2),
        },
    )
    return report


async def send_events(
    events: Sequence[ScenarioEvent],
    sink: Sink,
    rate: float | None,
    progress: bool,
    report: SimulationReport,
) -> None:
    """Send in order; with a rate, event i leaves at i / rate seconds from the start."""
    sent: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with _progress_bar(progress) as bar:
        task = bar.add_task("simulating", total=len(events))
        for index, event in enumerate(events):
            if rate is not None:
                delay = began + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing, not waiting for an effect
            reason = await sink.send(event)
            if reason is None:
                sent[event.truth.event_type] += 1
            else:
                report.rejected += 1
                if len(report.rejections) < KEPT_REJECTIONS:
                    report.rejections.append(f"{event.truth.event_id}: {reason}")
            bar.advance(task)
            if (index + 1) % PROGRESS_EVERY == 0:
                elapsed = loop.time() - began
                logger.info(
                    "simulation progress",
                    extra={"sent": index + 1, "of": len(events),
                           "events_per_s": round((index + 1) / elapsed) if elapsed else None},
                )  # fmt: skip
        await sink.drain()
    report.sent = dict(sent)


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def source_of(model: SimEvent) -> str:
    """The CloudEvents source: the organisation that would have sent the event."""
    match model:
        case AlarmActivation():
            organisation = model.alarm_centre
        case IncidentReport():
            organisation = model.reporting_org
        case ReconSighting():
            organisation = model.reporter_org
    return f"/simulator/{organisation}"


class KafkaSink:
    """Publishes with the catalogue's keys and CloudEvents encoding, acks awaited in a window.

    `heterdaad.kafka.publish` waits for each acknowledgement, which caps a run at one record
    per round trip; here records are handed over in order and acknowledged in batches.
    """

    def __init__(self, settings: Settings, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer = make_producer(settings)
        self._pending: deque[asyncio.Future[object]] = deque()
        self._max_in_flight = max_in_flight

    async def __aenter__(self) -> KafkaSink:
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                await self.drain()
        finally:
            await self._producer.stop()

    async def send(self, event: ScenarioEvent) -> str | None:
        spec = event.spec
        try:
            admit(event.model)
        except ValidationError as error:
            # What the API would answer with a 422: the same policy, without the round trip.
            logger.warning(
                "event refused by the intake policy",
                extra={"event_id": str(event.truth.event_id), "reason": explain(error)},
            )
            return explain(error)
        record = encode(spec, event.model, source_of(event.model))
        acknowledged = await self._producer.send(
            spec.name(self._settings.topic_prefix),
            value=record.value,
            key=record.key,
            headers=record.headers,
        )
        self._pending.append(acknowledged)
        if len(self._pending) >= self._max_in_flight:
            await self._pending.popleft()
        return None

    async def drain(self) -> None:
        while self._pending:
            await self._pending.popleft()


class HttpSink:
    """Posts each event as the JSON body of its model to the ingest API, with retries."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # `transport` lets tests answer in-process instead of over the network.
        self._client = httpx.AsyncClient(
            base_url=api_url,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> HttpSink:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def send(self, event: ScenarioEvent) -> str | None:
        path = API_PATHS[event.truth.event_type]
        body = event.model.model_dump_json()
        reason = "not sent"
        for attempt in range(HTTP_ATTEMPTS):
            wait = 0.2 * 2**attempt
            try:
                response = await self._client.post(path, content=body)
            except httpx.TransportError as error:
                reason = f"{type(error).__name__}: {error}"
            else:
                if response.is_success:
                    return None
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRY_STATUSES:
                    break
                wait = _retry_after(response) or wait
            if attempt + 1 < HTTP_ATTEMPTS:
                await asyncio.sleep(wait)  # the API is busy or rate-limiting: back off
        logger.warning(
            "event refused by the ingest API",
            extra={"event_id": str(event.truth.event_id), "path": path, "reason": reason},
        )
        return reason

    async def drain(self) -> None:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    """The seconds a 429 or 503 asks to wait (the ingest API sends whole seconds), capped."""
    try:
        return min(float(response.headers["Retry-After"]), MAX_RETRY_AFTER_S)
    except (KeyError, ValueError):
        return None
