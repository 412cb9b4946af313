"""Worker roles: a worker runs the stages of its role only, reads only their topics, and runs
in its role's consumer group; without a role it runs every stage, as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from assembly.cli import app as cli
from schemas.alerts import Alert, AlertKind
from schemas.events import AlarmSignal
from schemas.tasks import AlarmTask
from schemas.topics import ALARM_ACTIVATIONS, ALARM_TASKS, ALERTS, INCIDENT_REPORTS
from schemas.wire import decode
from streams.app import create_app
from streams.roles import STAGES, UnknownRole, parse_role, role_app_id
from streams.topology import input_topics, internal_topics, worker_topics
from tests import factories
from tests.kafka_helpers import eventually, publish_all, read_topic, records_up_to_now
from tests.processes import running
from tests.streams.test_link_series import crew_report, east, series_alerts
from tests.streams.test_verify_alarms import fast, live, site

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings
    from schemas.events import AlarmActivation, IncidentReport

# The Faust agents each role declares: the intake's gather agents only for the topics its
# stages take, and the stages' own agents.
AGENTS = {
    "all": {"gather_alarm_activations", "gather_incident_reports", "gather_recon_sightings",
            "verify_alarms", "link_robberies", "track_hotspots", "link_reconnaissance"},
    # report_robberies has no agent of its own: the intake calls it (streams/intake.py).
    "live": {"gather_alarm_activations", "gather_incident_reports", "verify_alarms"},
    "patterns": {"gather_incident_reports", "gather_recon_sightings", "link_robberies",
                 "track_hotspots", "link_reconnaissance"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("all", "all"),
        ("live", "live"),
        (" LIVE", "live"),
        (" Patterns ", "patterns"),  # as typed in a compose file or a shell
    ],
)
def test_a_role_is_read_as_typed(text: str, role: str) -> None:
    assert parse_role(text) == role


# `alarms`, the live role's name before it ran report_robberies too, was never released.
@pytest.mark.parametrize("text", ["alarms", "verify_alarms", "", "all,live"])
def test_an_unknown_role_is_refused_naming_it_and_the_known_ones(text: str) -> None:
    with pytest.raises(UnknownRole) as refused:
        parse_role(text)
    assert repr(text) in str(refused.value)
    assert "all, live, patterns" in str(refused.value)


@pytest.mark.parametrize("command", [["worker"], ["worker-ready"]])
def test_the_worker_commands_refuse_an_unknown_role_before_starting(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--role", "hotspots"])
    assert result.exit_code == 2
    assert "unknown worker role 'hotspots'" in result.output


def test_the_split_runs_every_stage_once() -> None:
    # Every stage of `all` in exactly one of the two roles of a split.
    split = [*STAGES["live"], *STAGES["patterns"]]
    assert sorted(split) == sorted(STAGES["all"])
    assert len(set(split)) == len(split)


@pytest.mark.parametrize("role", sorted(AGENTS))
def test_a_role_declares_the_agents_of_its_stages_only(bare_settings: Settings, role: str) -> None:
    faust_app = create_app(bare_settings, parse_role(role))
    assert set(faust_app.agents) == AGENTS[role]
    assert faust_app.conf.id == role_app_id(bare_settings, parse_role(role))


def test_live_keeps_the_deployments_group_and_patterns_has_its_own(
    bare_settings: Settings,
) -> None:
    # `live` reads and keeps what the one worker of before had: the group (and so the offsets
    # report_robberies goes on from), the tables' changelogs and the repartition topic of
    # verify_alarms, under the same names.
    one, live_worker = create_app(bare_settings), create_app(bare_settings, "live")
    patterns = create_app(bare_settings, "patterns")
    assert live_worker.conf.id == one.conf.id == bare_settings.app_id
    assert {name for name, _, _ in internal_topics(live_worker)} < {
        name for name, _, _ in internal_topics(one)
    }
    # `patterns` has all its own: a shared topic or group would hand a record to one of them.
    own = f"{bare_settings.app_id}-patterns"
    assert patterns.conf.id == own
    assert all(name.startswith(own + "-") for name, _, _ in internal_topics(patterns))
    assert not {name for name, _, _ in internal_topics(patterns)} & {
        name for name, _, _ in internal_topics(one)
    }
    # Only the source topics a role's stages take.
    assert ALARM_ACTIVATIONS.name(bare_settings.topic_prefix) not in input_topics(patterns)
    # `heterdaad topics create` makes the topics of either way of running.
    created = {name for name, _, _ in worker_topics(bare_settings)}
    assert {name for name, _, _ in internal_topics(patterns)} <= created
    assert {name for name, _, _ in internal_topics(one)} <= created
    # Two processes on one machine keep their state apart.
    assert live_worker.conf.datadir != patterns.conf.datadir


# --- through Kafka, each worker a real process ----------------------------------------------


def _crew() -> list[IncidentReport]:
    """Two robberies by one crew, 3 km and a day apart: a series of two to link_series."""
    return [crew_report(east(km), days) for km, days in ((0, 3), (3, 2))]


def _press_and_report() -> tuple[AlarmActivation, str, IncidentReport]:
    """A duress press (its verify task is due at once) and a robbery report elsewhere."""
    press = live(site(1), 1, signal=AlarmSignal.DURESS)
    return press, f"verify:{site(1).site_id}:{press.event_id}", factories.incident_report()


async def _task(settings: Settings, key: str, worker: subprocess.Popen[bytes]) -> AlarmTask:
    def ours(record: ConsumerRecord[bytes, bytes]) -> bool:
        task = decode(ALARM_TASKS, record.value, list(record.headers))
        return isinstance(task, AlarmTask) and task.dedup_key == key

    topic = ALARM_TASKS.name(settings.topic_prefix)
    (record,) = await read_topic(settings.kafka_bootstrap, topic, count=1, timeout=120,
                                 while_alive=worker, where=ours)  # fmt: skip
    task = decode(ALARM_TASKS, record.value, list(record.headers))
    assert isinstance(task, AlarmTask)
    return task


def _robbery_alert_of(report: IncidentReport) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    def ours(record: ConsumerRecord[bytes, bytes]) -> bool:
        alert = decode(ALERTS, record.value, list(record.headers))
        return (
            isinstance(alert, Alert)
            and alert.kind is AlertKind.ROBBERY_REPORTED
            and [link.event_id for link in alert.evidence] == [report.event_id]
        )

    return ours


async def _alerts_now(settings: Settings) -> list[Alert]:
    topic = ALERTS.name(settings.topic_prefix)
    records = await records_up_to_now(settings.kafka_bootstrap, topic, ALERTS.partitions)
    alerts = [decode(ALERTS, r.value, list(r.headers)) for r in records]
    return [alert for alert in alerts if isinstance(alert, Alert)]


async def _committed(settings: Settings, group: str, topic: str) -> dict[int, int] | None:
    """The group's committed offset of each partition of `topic`, when it has read them all
    to their end; None while it has not."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(topic, p) for p in range(INCIDENT_REPORTS.partitions)]
        ends = await consumer.end_offsets(tps)
        # A partition nobody wrote to has nothing to commit.
        done = {tp.partition: offsets[tp].offset if tp in offsets else 0 for tp in tps
                if ends[tp] == 0 or (tp in offsets and offsets[tp].offset >= ends[tp])}  # fmt: skip
        return done if len(done) == len(tps) else None
    finally:
        await consumer.stop()
        await admin.close()


async def _groups_offsets(settings: Settings, group: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return {tp.topic for tp in await admin.list_consumer_group_offsets(group)}
    finally:
        await admin.close()


@pytest.mark.integration
async def test_the_live_worker_decides_a_press_and_alerts_a_robbery_report_now(
    settings: Settings, tmp_path: Path
) -> None:
    settings = fast(settings)
    press, key, report = _press_and_report()
    crew = _crew()
    await publish_all(settings, report, *crew, press)
    with running(settings, "worker", "--role", "live", log=tmp_path / "w.log") as worker:
        task = await _task(settings, key, worker)
        # The robbery alert comes from the live worker: not behind the series stage.
        alerts = ALERTS.name(settings.topic_prefix)
        (robbery,) = await read_topic(
            settings.kafka_bootstrap, alerts, count=1, timeout=120, while_alive=worker,
            where=_robbery_alert_of(report),
        )  # fmt: skip
        # Once it has committed past the crew's reports, link_series would have alerted
        # their series before that commit.
        reports = INCIDENT_REPORTS.name(settings.topic_prefix)
        await eventually(lambda: _committed(settings, settings.app_id, reports), timeout=60)
        assert worker.poll() is None
    assert task.activation_ids == [press.event_id]
    # In the deployment's own name, as with one worker of every stage.
    assert dict(robbery.headers)["ce_source"] == f"urn:heterdaad:stream:{settings.app_id}".encode()
    sent = await _alerts_now(settings)
    robberies = {a.evidence[0].event_id for a in sent if a.kind is AlertKind.ROBBERY_REPORTED}
    assert robberies == {report.event_id, *(r.event_id for r in crew)}
    assert AlertKind.SERIES not in {a.kind for a in sent}, "link_series ran in the live role"
    # No other group than the deployment's read anything.
    assert await _groups_offsets(settings, role_app_id(settings, "patterns")) == set()


@pytest.mark.integration
async def test_the_patterns_worker_links_a_series_and_alerts_no_robbery_nor_press(
    settings: Settings, tmp_path: Path
) -> None:
    settings = fast(settings)
    press, _, report = _press_and_report()
    crew = _crew()
    await publish_all(settings, press, report, *crew)
    with running(settings, "worker", "--role", "patterns", log=tmp_path / "w.log") as worker:
        await series_alerts(settings, worker, until=f"series:{crew[0].event_id}:2")
        group = role_app_id(settings, "patterns")
        reports = INCIDENT_REPORTS.name(settings.topic_prefix)
        await eventually(lambda: _committed(settings, group, reports), timeout=60)
        assert worker.poll() is None
    # It never read the press: no offset of the activations, no task, no hold-up alert.
    read = await _groups_offsets(settings, group)
    assert ALARM_ACTIVATIONS.name(settings.topic_prefix) not in read
    assert reports in read
    tasks = ALARM_TASKS.name(settings.topic_prefix)
    assert await records_up_to_now(settings.kafka_bootstrap, tasks, ALARM_TASKS.partitions) == []
    kinds = {a.kind for a in await _alerts_now(settings)}
    assert AlertKind.HOLD_UP_IN_PROGRESS not in kinds
    # Robbery alerts are the live worker's: a split sends each once, and the patterns group's
    # first start, which replays the reports from the earliest, sends none of the history.
    assert AlertKind.ROBBERY_REPORTED not in kinds, "report_robberies ran in the patterns role"
    # Nor did the deployment's group, which the live role reads in.
    assert await _groups_offsets(settings, settings.app_id) == set()


@pytest.mark.integration
async def test_without_a_role_the_worker_runs_every_stage(
    settings: Settings, tmp_path: Path
) -> None:
    settings = fast(settings)
    press, key, report = _press_and_report()
    await publish_all(settings, report, press)
    with running(settings, "worker", log=tmp_path / "w.log") as worker:
        await _task(settings, key, worker)
        alerts = ALERTS.name(settings.topic_prefix)
        await read_topic(settings.kafka_bootstrap, alerts, count=1, timeout=120,
                         while_alive=worker, where=_robbery_alert_of(report))  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("role", ["live", "patterns"])
def test_worker_ready_asks_the_group_of_its_role(settings: Settings, role: str) -> None:
    # No worker runs: not ready, and the group named is the role's (the compose healthchecks).
    result = subprocess.run(
        [sys.executable, "-m", "assembly.cli", "worker-ready", "--role", role],
        env=os.environ | settings.to_env(), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    group = role_app_id(settings, parse_role(role))
    assert f"consumer group {group} has no active member" in json.loads(result.stdout)["problems"]
