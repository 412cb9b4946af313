"""The intake: one agent per source topic decodes each record once and fans it out to the
stages; every internal topic speaks one codec; a bad record is dead-lettered exactly once."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from heterdaad.kafka import make_producer, publish
from schemas.topics import ALERTS, CATALOGUE, DEAD_LETTER_PARTITIONS, INCIDENT_REPORTS
from schemas.wire import DLQ_REASON, DLQ_STAGE, UndecodableRecord
from streams.alarm_state import ActivationInput, ReportInput, TimeoutTick, route
from streams.app import Topics, create_app
from streams.codec import MODEL_HEADER, decode_internal, encode_internal
from streams.hotspot_tracking import observation_of
from streams.intake import SOURCES, STAGE, gather_agent_name
from streams.link_series import LinkageWindow
from tests import factories
from tests.kafka_helpers import eventually, publish_all, read_keys, records_up_to_now
from tests.processes import running

if TYPE_CHECKING:
    from heterdaad.settings import Settings

STREAMS = Path(__file__).resolve().parents[2] / "streams"


def test_each_source_topic_has_exactly_one_agent(bare_settings: Settings) -> None:
    app = create_app(bare_settings)
    prefix = bare_settings.topic_prefix
    readers = {
        spec.suffix: sorted(name for name, agent in app.agents.items()
                            if spec.name(prefix) in agent.channel.topics)
        for spec in CATALOGUE
    }  # fmt: skip
    for spec in SOURCES:
        [agent] = readers[spec.suffix]
        assert agent.endswith(gather_agent_name(spec)), agent
    # No other topic of the catalogue is read by the worker: the stages read internal topics.
    assert all(not readers[spec.suffix] for spec in CATALOGUE if spec not in SOURCES), readers


def test_the_stages_each_source_topic_fans_out_to(bare_settings: Settings) -> None:
    # The registration create_app does, on an app of its own, to see who subscribed.
    from streams import (
        detect_hotspots,
        link_reconnaissance,
        link_series,
        report_robberies,
        verify_alarms,
    )

    app = faust.App("subscriptions", autodiscover=False, web_enabled=False)
    topics = Topics(app, bare_settings)
    for stage in (report_robberies, verify_alarms, link_series, detect_hotspots,
                  link_reconnaissance):  # fmt: skip
        stage.register(app, topics, bare_settings)
    stages = {spec.suffix: topics.intake.stages(spec) for spec in SOURCES}
    sightings = ["link_reconnaissance"]
    if bare_settings.hotspots.include_sightings:
        sightings.insert(0, "detect_hotspots")
    assert stages == {
        "alarm-activations.v1": ["verify_alarms"],
        "incident-reports.v1": ["report_robberies", "verify_alarms", "link_series",
                                "detect_hotspots", "link_reconnaissance"],
        "recon-sightings.v1": sightings,
    }  # fmt: skip


def _calls(module: Path, method: str) -> list[ast.Call]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "app"
    ]


@pytest.mark.parametrize(
    "module",
    sorted(m for m in STREAMS.glob("*.py") if m.name not in ("app.py", "codec.py", "intake.py")),
    ids=lambda m: m.name,
)
def test_stages_declare_no_topic_and_read_no_source_topic(module: Path) -> None:
    # A topic declared with app.topic in a stage would bypass the one codec (InternalTopic);
    # an agent on a source topic (app.agent(topics[SPEC])) would decode its records again.
    assert not [call.lineno for call in _calls(module, "topic")]
    on_sources = [call.lineno for call in _calls(module, "agent")
                  if call.args and isinstance(call.args[0], ast.Subscript)]  # fmt: skip
    assert not on_sources, f"an agent on a source topic at lines {on_sources}"


@pytest.mark.parametrize(
    "model",
    [
        ActivationInput(activation=factories.alarm_activation()),
        route(factories.incident_report(), 250.0)[0][1],
        TimeoutTick(at=factories.incident_report().occurred_at),
        observation_of(factories.incident_report()),
        factories.incident_report(),
        factories.recon_sighting(),
    ],
    ids=lambda model: type(model).__name__,
)
def test_codec_round_trip(model: BaseModel) -> None:
    value, headers = encode_internal(model)
    carries: dict[str, type[BaseModel]] = {type(model).__name__: type(model),
                                           "Other": ReportInput}  # fmt: skip
    assert decode_internal(carries, value, headers) == model
    # The headers as Faust hands them to an agent: a mapping.
    assert decode_internal(carries, value, dict(headers)) == model


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (None, [(MODEL_HEADER, b"TimeoutTick")], "record has no value"),  # a tombstone
        (b'{"at": "2026-12-01T10:00:00Z"}', [], "no x-heterdaad-model header"),  # old format
        (b"{}", [(MODEL_HEADER, b"Alert")], "b'Alert' is none of TimeoutTick"),  # not declared
        (b'{"at": "yesterday"}', [(MODEL_HEADER, b"TimeoutTick")], "at: Input should be"),
        (b"not json", [(MODEL_HEADER, b"TimeoutTick")], "Invalid JSON"),
    ],
)
def test_codec_refuses_with_a_reason(
    value: bytes | None, headers: list[tuple[str, bytes]], reason: str
) -> None:
    with pytest.raises(UndecodableRecord) as refused:
        decode_internal({"TimeoutTick": TimeoutTick}, value, headers)
    assert reason in refused.value.reason


async def _consumed(settings: Settings, count: int) -> bool:
    """Whether the worker committed the first `count` records of incident-reports."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                              group_id=settings.app_id, enable_auto_commit=False)  # fmt: skip
    await reader.start()
    try:
        name = INCIDENT_REPORTS.name(settings.topic_prefix)
        partitions = [TopicPartition(name, p) for p in range(INCIDENT_REPORTS.partitions)]
        return sum([await reader.committed(tp) or 0 for tp in partitions]) >= count
    finally:
        await reader.stop()


@pytest.mark.integration
async def test_bad_report_is_dead_lettered_once_and_every_stage_gets_the_good_ones(
    settings: Settings, tmp_path: Path
) -> None:
    reports = [factories.incident_report(), factories.incident_report()]
    producer = make_producer(settings)
    await producer.start()
    try:
        await publish(producer, INCIDENT_REPORTS, reports[0], prefix=settings.topic_prefix,
                      source="urn:t")  # fmt: skip
        await producer.send_and_wait(
            INCIDENT_REPORTS.name(settings.topic_prefix), key=b"x", value=b"not an event"
        )
        await publish(producer, INCIDENT_REPORTS, reports[1], prefix=settings.topic_prefix,
                      source="urn:t")  # fmt: skip
    finally:
        await producer.stop()

    with running(settings, "worker", log=tmp_path / "worker.log") as worker:
        wanted = {f"robbery_reported:{report.event_id}".encode() for report in reports}
        await read_keys(settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), wanted,
                        timeout=120, while_alive=worker)  # fmt: skip
        await eventually(lambda: _consumed(settings, 3), timeout=60)
        app = create_app(settings)
        # The stages' own topics, read from the app: a new stage is covered without a word here.
        internal = {
            topic: agent.channel.partitions or app.conf.topic_partitions
            for agent in app.agents.values()
            if getattr(agent.channel, "internal", False)
            for topic in agent.channel.topics
        }
        found = {
            topic: await records_up_to_now(settings.kafka_bootstrap, topic, partitions)
            for topic, partitions in internal.items()
        }
        assert worker.poll() is None

    dead = await records_up_to_now(
        settings.kafka_bootstrap, INCIDENT_REPORTS.dead_letter_name(settings.topic_prefix),
        DEAD_LETTER_PARTITIONS,
    )  # fmt: skip
    # Five stages take incident reports; the record is set aside once, by the intake.
    [letter] = dead
    assert letter.value == b"not an event"
    assert dict(letter.headers)[DLQ_STAGE] == STAGE.encode()
    assert b"not a binary-mode CloudEvent" in dict(letter.headers)[DLQ_REASON]
    # Every stage with a topic of its own got each good report, as many times as it routes it
    # (a robbery report reaches up to four grid cells of alarm verification), and nothing else.
    assert len(found) == 4, sorted(found)
    for topic, records in found.items():
        assert all(dict(r.headers)[MODEL_HEADER] for r in records), topic
        for report in reports:
            copies = [r for r in records if str(report.event_id).encode() in r.value]
            expected = len(route(report, settings.alarms.report_match_radius_m))
            assert len(copies) == (expected if topic.endswith("by_cell") else 1), topic
        assert len(records) == sum(
            len(route(report, settings.alarms.report_match_radius_m))
            if topic.endswith("by_cell") else 1
            for report in reports
        ), topic  # fmt: skip


async def _settled(settings: Settings, topic: str, partitions: int) -> bool:
    """Whether the worker committed every record `topic` holds now."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                              group_id=settings.app_id, enable_auto_commit=False)  # fmt: skip
    await reader.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await reader.end_offsets(tps)
        return all([(await reader.committed(tp) or 0) >= ends[tp] for tp in tps])
    finally:
        await reader.stop()


@pytest.mark.integration
async def test_a_report_far_in_the_future_written_straight_is_dead_lettered_and_reaches_no_stage(
    settings: Settings, tmp_path: Path
) -> None:
    # Past every edge (they refuse it: producers/edge_policy.py), straight to the topic: a
    # robbery 200 days ahead once became a critical live alert and moved the series stage's
    # window 200 days ahead, whose horizon would forget every report it kept.
    now = datetime.now(UTC)
    before = factories.incident_report(occurred_at=now - timedelta(hours=3))
    future = factories.incident_report(occurred_at=now + timedelta(days=200))
    after = factories.incident_report(
        occurred_at=now - timedelta(hours=1), branch=factories.branch(branch_id="ah-2002")
    )
    await publish_all(settings, before)
    await publish_all(settings, future)
    await publish_all(settings, after)
    reports_topic = f"{settings.app_id}-link_series-reports"
    window_topic = f"{settings.app_id}-nation_to_series_window-changelog"

    with running(settings, "worker", log=tmp_path / "worker.log") as worker:
        wanted = {f"robbery_reported:{report.event_id}".encode() for report in (before, after)}
        await read_keys(settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), wanted,
                        timeout=120, while_alive=worker)  # fmt: skip
        await eventually(lambda: _consumed(settings, 3), timeout=60)
        await eventually(lambda: _settled(settings, reports_topic, 1), timeout=60)
        assert worker.poll() is None
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    alerts = await records_up_to_now(bootstrap, ALERTS.name(prefix), ALERTS.partitions)
    reached = await records_up_to_now(bootstrap, reports_topic, 1)
    windows = await records_up_to_now(bootstrap, window_topic, 1)
    dead = await records_up_to_now(
        bootstrap, INCIDENT_REPORTS.dead_letter_name(prefix), DEAD_LETTER_PARTITIONS
    )

    window = LinkageWindow.model_validate_json(windows[-1].value)
    # No alert of any stage is about it (the two of now may link as a series: that is theirs).
    about = [alert.key for alert in alerts if str(future.event_id).encode() in alert.value]
    assert not about, f"alerts {about}; the series window's newest {window.newest}"
    assert wanted <= {alert.key for alert in alerts}
    # Both robberies of now are in the series window, which stayed at now.
    assert window.newest == max(before.occurred_at, after.occurred_at)
    assert set(window.retained) == {before.event_id, after.event_id}
    # No stage's topic got it: not the series stage's, whose fan-out every report takes.
    assert [str(future.event_id).encode() in record.value for record in reached] == [False] * 2
    [letter] = dead
    assert str(future.event_id).encode() in letter.value
    assert dict(letter.headers)[DLQ_STAGE] == STAGE.encode()
    assert dict(letter.headers)[DLQ_REASON] == (
        b"occurred_at: lies in the future by more than the allowed clock skew (12 minutes)"
    )
