"""Every long-running service as a child process: /healthz, /readyz, and /metrics whose
counters moved by what was pushed through real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heterdaad.kafka import make_producer, publish
from heterdaad.thresholds.operations import MetricsSettings
from infra.local import free_port
from producers.sia import frames
from producers.sia.codes import SIA_DCS
from schemas.topics import ALARM_ACTIVATIONS, ALERTS, INCIDENT_REPORTS
from tests import factories
from tests.consumers.test_notify_service import FAST, _robbery, _subscribe
from tests.consumers.test_notify_webhook import WebhookReceiver
from tests.kafka_helpers import eventually
from tests.processes import running
from tests.producers import bodies
from tests.producers.intake_support import register

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _with_ports(settings: Settings, **update: object) -> Settings:
    ports = MetricsSettings(
        worker_port=free_port(), sink_port=free_port(), notify_port=free_port(),
        sia_port=free_port(),
    )  # fmt: skip
    return settings.model_copy(update={"metrics": ports, **update})


async def _get(url: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(url)
    except httpx.TransportError:
        return None  # not listening yet


async def _scrape(port: int) -> Samples:
    response = await _get(f"http://127.0.0.1:{port}/metrics")
    assert response is not None and response.status_code == 200
    return _parse(response.text)


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` that has these labels (and any others)."""
    wanted = set(labels.items())
    return sum(value for (found, have), value in samples.items()
               if found == name and wanted <= have)  # fmt: skip


async def _ready(port: int, timeout: float = 90) -> dict[str, object]:
    """/healthz answers live, then /readyz answers ready; returns the readiness body."""

    async def probe() -> dict[str, object] | None:
        live = await _get(f"http://127.0.0.1:{port}/healthz")
        if live is None or live.json() != {"live": True}:
            return None
        ready = await _get(f"http://127.0.0.1:{port}/readyz")
        assert ready is not None
        body: dict[str, object] = ready.json()
        return body if ready.status_code == 200 and body["ready"] is True else None

    return await eventually(probe, timeout=timeout, interval=0.5)


@contextlib.contextmanager
def _parts(settings: Settings, tmp_path: Path, *commands: tuple[str, ...]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for command in commands:
            log = tmp_path / f"{'-'.join(command)}.log"
            stack.enter_context(running(settings, *command, log=log))
        yield


async def test_worker_sink_and_notify_count_what_flows(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    reports = [factories.incident_report() for _ in range(2)]
    async with WebhookReceiver() as receiver:
        await _subscribe(db, receiver.hook("ah"), None)
        served = _with_ports(settings, notify=FAST)
        ports = served.metrics
        producer = make_producer(served)
        await producer.start()
        try:
            for report in reports:
                await publish(producer, INCIDENT_REPORTS, report,
                              prefix=served.topic_prefix, source="urn:t")  # fmt: skip
            await producer.send_and_wait(
                INCIDENT_REPORTS.name(served.topic_prefix), key=b"x", value=b"not an event"
            )
            await publish(producer, ALARM_ACTIVATIONS, factories.alarm_activation(),
                          prefix=served.topic_prefix, source="urn:t")  # fmt: skip
            # One alert straight to the alerts topic, near the subscribed branch: a webhook.
            await publish(producer, ALERTS, _robbery(), prefix=served.topic_prefix,
                          source="urn:t")  # fmt: skip
        finally:
            await producer.stop()

        with _parts(served, tmp_path, ("worker",), ("sink",), ("notify", "run")):
            for port in (ports.worker_port, ports.sink_port, ports.notify_port):
                await _ready(port)

            async def settled() -> tuple[Samples, Samples, Samples] | None:
                worker = await _scrape(ports.worker_port)
                sink = await _scrape(ports.sink_port)
                notify = await _scrape(ports.notify_port)
                alerts_out = _value(worker, "heterdaad_events_published_total", topic="alerts.v1")
                done = (
                    _value(worker, "heterdaad_decisions_total", stage="report_robberies",
                           outcome="alert") == len(reports)
                    and _value(sink, "heterdaad_events_consumed_total",
                               topic="alerts.v1") == alerts_out + 1
                    and _value(notify, "heterdaad_events_consumed_total",
                               topic="alerts.v1") == alerts_out + 1
                    and _total(worker, "heterdaad_decisions_total",
                               stage="link_series") == len(reports)
                    and _total(worker, "heterdaad_decisions_total", stage="verify_alarms") >= 1
                    and _value(notify, "heterdaad_webhook_deliveries_total",
                               result="delivered") >= 1
                    and sum(_value(worker, "heterdaad_consumer_lag",
                                   topic="incident-reports.v1", partition=str(p))
                            for p in range(INCIDENT_REPORTS.partitions)) == 0
                )  # fmt: skip
                return (worker, sink, notify) if done else None

            worker, sink, notify = await eventually(settled, timeout=120, interval=1)

    # The worker: each report read once (by the intake, one agent per topic), the bad record once.
    assert _value(worker, "heterdaad_events_consumed_total", topic="incident-reports.v1") == 2
    assert _value(worker, "heterdaad_dead_letters_total", topic="incident-reports.v1",
                  reason="not_cloudevent") == 1  # fmt: skip
    assert _value(worker, "heterdaad_events_published_total", topic="alerts.v1") >= 2
    assert _value(worker, "heterdaad_events_consumed_total", topic="alarm-activations.v1") == 1
    # Series linkage decided each report once, whatever it decided.
    assert _total(worker, "heterdaad_decisions_total", stage="link_series") == 2
    # Lag is reported per partition, the prefix of the deployment left out.
    assert all(
        ("heterdaad_consumer_lag",
         frozenset({"topic": "incident-reports.v1", "partition": str(p)}.items())) in worker
        for p in range(INCIDENT_REPORTS.partitions)
    )  # fmt: skip
    # The sink stores every report and dead-letters the bad record on its own.
    assert _value(sink, "heterdaad_events_consumed_total", topic="incident-reports.v1") == 2
    assert _value(sink, "heterdaad_dead_letters_total", topic="incident-reports.v1",
                  reason="not_cloudevent") == 1  # fmt: skip
    # Notify: the police desk row, the webhook with its latency and the alert's age.
    assert _value(notify, "heterdaad_decisions_total", stage="notify_desk",
                  outcome="delivered") >= 1  # fmt: skip
    delivered = _value(notify, "heterdaad_webhook_deliveries_total", result="delivered")
    assert delivered == len(receiver.delivered("ah"))
    assert _value(notify, "heterdaad_webhook_request_seconds_count") == delivered
    assert _value(notify, "heterdaad_alert_age_at_delivery_seconds_count", channel="webhook",
                  historical="false") >= 1  # fmt: skip


SIA_SITE = (
    "INSERT INTO alarm_site (site_id, alarm_centre, subscriber_account, branch_id, sia_key,"
    " sia_plain_frames) VALUES ('site-1234', 'pac-1', '1234', 'a-001', NULL, TRUE)"
)


async def test_api_sia_receiver_and_desk_answer_and_count(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = await register(db)
    await db.execute(SIA_SITE)
    served = _with_ports(settings, api_port=free_port(), desk_port=free_port())
    api = f"http://127.0.0.1:{served.api_port}"
    desk = f"http://127.0.0.1:{served.desk_port}"
    sia = served.metrics.sia_port
    with _parts(served, tmp_path, ("api",), ("receiver", "sia"), ("desk", "serve")):
        await _ready(served.desk_port)
        await _ready(sia)

        async def api_live() -> bool:
            answer = await _get(f"{api}/healthz")
            return answer is not None and answer.status_code == 200

        await eventually(api_live, timeout=60, interval=0.5)
        # No worker runs: the API's /readyz says alarms would not be judged, and why.
        not_ready = await _get(f"{api}/readyz")
        assert not_ready is not None and not_ready.status_code == 503
        assert not_ready.json()["ready"] is False

        async with httpx.AsyncClient(timeout=30) as client:
            posted = await client.post(
                f"{api}/v1/incident-reports", json=bodies.incident_report(branch_id="a-001"),
                headers=registry.auth("retail-a"),
            )  # fmt: skip
            # The other retailer may not report for this branch: refused, and counted so.
            refused = await client.post(
                f"{api}/v1/incident-reports", json=bodies.incident_report(branch_id="a-001"),
                headers=registry.auth("retail-b"),
            )  # fmt: skip
        assert posted.status_code == 202, posted.text
        assert refused.status_code == 403, refused.text
        api_metrics = await _get(f"{api}/metrics")
        assert api_metrics is not None
        api_samples = _parse(api_metrics.text)
        assert _value(api_samples, "heterdaad_events_published_total",
                      topic="incident-reports.v1") == 1  # fmt: skip
        assert _total(api_samples, "heterdaad_decisions_total", stage="api_intake") == 2
        for outcome in ("202", "403"):
            assert _value(api_samples, "heterdaad_decisions_total", stage="api_intake",
                          outcome=outcome) == 1  # fmt: skip

        frame = frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501", timestamp=datetime.now(UTC))
        reader, writer = await asyncio.open_connection("127.0.0.1", served.sia_port)
        try:
            writer.write(frame)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"\r"), 30)
        finally:
            writer.close()
            await writer.wait_closed()
        assert b"ACK" in answer
        sia_samples = await _scrape(sia)
        assert _value(sia_samples, "heterdaad_events_published_total",
                      topic=ALARM_ACTIVATIONS.suffix) == 1  # fmt: skip
        assert _value(sia_samples, "heterdaad_decisions_total", stage="sia_receiver",
                      outcome="ack") == 1  # fmt: skip

        # The desk reads new alerts only: one published now reaches its screens, aged.
        producer = make_producer(served)
        await producer.start()
        try:
            await publish(producer, ALERTS, factories.alert(), prefix=served.topic_prefix,
                          source="urn:t")  # fmt: skip
        finally:
            await producer.stop()

        async def desk_counted() -> Samples | None:
            answer = await _get(f"{desk}/metrics")
            assert answer is not None and answer.status_code == 200
            samples = _parse(answer.text)
            consumed = _value(samples, "heterdaad_events_consumed_total", topic="alerts.v1")
            return samples if consumed == 1 else None

        desk_samples = await eventually(desk_counted, timeout=30, interval=0.5)
        assert _value(desk_samples, "heterdaad_alert_age_at_delivery_seconds_count",
                      channel="desk", historical="false") == 1  # fmt: skip
