"""Reported robberies become alerts; an undecodable record goes to the dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from heterdaad.kafka import make_producer, publish
from heterdaad.thresholds.time import TimeModel
from schemas.alerts import Alert, AlertKind, Severity
from schemas.common import PoliceUnit
from schemas.events import PersonDescription, Weapon
from schemas.topics import ALERTS, INCIDENT_REPORTS
from schemas.wire import DLQ_REASON, decode_as
from streams.report_robberies import robbery_alert
from tests import factories
from tests.kafka_helpers import eventually, publish_all, read_keys, read_topic
from tests.processes import running

if TYPE_CHECKING:
    from pathlib import Path

    from heterdaad.settings import Settings


@pytest.mark.parametrize(
    ("minutes_ago", "severity", "historical"),
    [
        (-1, Severity.CRITICAL, False),  # a minute ahead of our clock (skew): now, in the act
        (5, Severity.CRITICAL, False),  # offenders may still be near: in the act
        (29, Severity.CRITICAL, False),  # just inside the default window of 30 minutes
        (31, Severity.HIGH, False),  # past 'in the act': still warns, less urgent
        (120, Severity.HIGH, False),  # reported hours later: still warned, less urgent
        (23 * 60, Severity.HIGH, False),  # inside robbery_live_hours (24)
        (25 * 60, Severity.MEDIUM, True),  # a day late: history, never urgent
        (6 * 24 * 60, Severity.MEDIUM, True),  # the README's report of six days ago
        (640 * 24 * 60, Severity.MEDIUM, True),  # a CBL import of a month long past
    ],
)
def test_severity_follows_time_since_the_robbery(
    bare_settings: Settings, minutes_ago: int, severity: Severity, historical: bool
) -> None:
    settings = bare_settings.model_copy(update={"time": TimeModel()})
    now = datetime.now(UTC)
    occurred_at = now - timedelta(minutes=minutes_ago)
    report = factories.incident_report(occurred_at=occurred_at)
    alert = robbery_alert(report, settings, now)
    assert (alert.severity, alert.historical) == (severity, historical)
    assert alert.occurred_at == occurred_at
    assert alert.evidence[0].occurred_at == occurred_at


def test_alert_names_unit_area_lookout_and_evidence(bare_settings: Settings) -> None:
    report = factories.incident_report()
    alert = robbery_alert(report, bare_settings, datetime.now(UTC))
    assert alert.kind is AlertKind.ROBBERY_REPORTED
    assert alert.police_unit is PoliceUnit.AMSTERDAM
    assert alert.area.radius_m == bare_settings.robbery_alert_radius_m
    assert alert.lookout.vehicle_colour == "zwart"
    assert [link.event_id for link in alert.evidence] == [report.event_id]
    # Whom officers may meet: on the alert for every recipient, no person in it (a stranger's:
    # weapons and the number of offenders reached nobody).
    armed = robbery_alert(factories.incident_report(weapons=[Weapon.FIREARM]), bare_settings,
                          datetime.now(UTC))  # fmt: skip
    assert (armed.lookout.weapons, armed.lookout.offender_count) == ([Weapon.FIREARM], 2)
    # A replay of the same report gives the same alert, so it is never notified twice.
    assert robbery_alert(report, bare_settings, datetime.now(UTC)).alert_id == alert.alert_id


def test_clothing_two_offenders_share_is_one_item_to_look_out_for(bare_settings: Settings) -> None:
    # The desk's lookout listed "grijs trainingspak" twice for two offenders dressed alike.
    offenders = [PersonDescription(clothing=["grijs trainingspak", "pet"]),
                 PersonDescription(clothing=["grijs trainingspak"])]  # fmt: skip
    report = factories.incident_report(offenders=offenders)
    alert = robbery_alert(report, bare_settings, datetime.now(UTC))
    assert alert.lookout.clothing == ["grijs trainingspak", "pet"]


@pytest.mark.integration
async def test_worker_alerts_and_dead_letters(settings: Settings, tmp_path: Path) -> None:
    report = factories.incident_report()
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            INCIDENT_REPORTS.name(settings.topic_prefix), key=b"x", value=b"not an event"
        )
        await publish(
            producer, INCIDENT_REPORTS, report, prefix=settings.topic_prefix, source="urn:t"
        )
    finally:
        await producer.stop()

    with running(settings, "worker", log=tmp_path / "worker.log") as worker:
        [alert_record] = await read_topic(
            settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), count=1, timeout=90,
            while_alive=worker, where=lambda r: r.key.startswith(b"robbery_reported:"),
        )  # fmt: skip
        [dead] = await read_topic(
            settings.kafka_bootstrap, INCIDENT_REPORTS.dead_letter_name(settings.topic_prefix),
            count=1, timeout=30,
        )  # fmt: skip

    alert = decode_as(Alert, ALERTS, alert_record.value, list(alert_record.headers))
    assert alert.evidence[0].event_id == report.event_id
    assert dead.value == b"not an event"
    assert b"not a binary-mode CloudEvent" in dict(dead.headers)[DLQ_REASON]


# Apache Kafka's default record-batch size limit.
KAFKA_MAX_MESSAGE_BYTES = 1_048_588


async def set_max_message_bytes(settings: Settings, topic: str, limit: int) -> None:
    """Set the topic's record-batch size limit on the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(limit)})]
        )
    finally:
        await admin.close()


async def committed_offsets(settings: Settings, topic: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                group_id=settings.app_id, enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(INCIDENT_REPORTS.partitions)]
        return {tp.partition: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()


@pytest.mark.integration
async def test_refused_alert_stops_the_worker_before_its_offset_is_committed(
    settings: Settings, tmp_path: Path
) -> None:
    alerts = ALERTS.name(settings.topic_prefix)
    reports = INCIDENT_REPORTS.name(settings.topic_prefix)
    # The broker refuses every alert (too large, which no retry mends) until the limit goes.
    await set_max_message_bytes(settings, alerts, 64)
    events = [factories.incident_report() for _ in range(5)]
    keys = {f"robbery_reported:{e.event_id}".encode() for e in events}
    await publish_all(settings, *events)
    log = tmp_path / "worker.log"
    with running(settings, "worker", log=log) as worker:

        async def stopped() -> bool:
            return worker.poll() is not None

        await eventually(stopped, timeout=90)
    assert worker.returncode != 0
    # Faust would have committed past the lost alerts; no offset of the reports moved.
    assert set((await committed_offsets(settings, reports)).values()) <= {None, 0}

    await set_max_message_bytes(settings, alerts, KAFKA_MAX_MESSAGE_BYTES)
    with running(settings, "worker", log=log) as worker:
        # Each alert at least once: a repeat has the same id, which downstream keeps once.
        await read_keys(settings.kafka_bootstrap, alerts, keys, while_alive=worker)
