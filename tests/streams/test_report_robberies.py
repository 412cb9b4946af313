"""Reported robberies become alerts; an undecodable record goes to the dead letters."""

from __future__ import annotations

import uuid
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
from schemas.events import IncidentReport, PersonDescription, Weapon
from schemas.topics import ALERTS, INCIDENT_REPORTS
from schemas.wire import DLQ_REASON, decode_as
from streams.report_robberies import BranchRobberies, judge, robbery_alert
from tests import factories
from tests.kafka_helpers import (
    eventually,
    publish_all,
    read_keys,
    read_topic,
    records_up_to_now,
)
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


SHOP = ("buurtsuper", "/producers/api/buurtsuper")
CBL_TOOL = ("cbl", "/producers/api/cbl")
SHOP_EXPORT = ("buurtsuper", "/producers/cbl-import/buurtsuper")
T0 = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=120)


@pytest.mark.parametrize(
    ("arrivals", "outcomes"),
    [
        # Each arrival: (report, source, minutes after T0); its outcome: "alert" or the report
        # it is a copy of.
        # The shop's post, then the trade association's report of it: one alert.
        ([("a", SHOP, 0), ("b", CBL_TOOL, 15)], ["alert", "a"]),
        # The copy may say the robbery happened earlier, and arrive later (any order).
        ([("a", SHOP, 0), ("b", CBL_TOOL, -90)], ["alert", "a"]),
        # The shop's own CBL export, imported after its live post: another channel.
        ([("a", SHOP, 0), ("b", SHOP_EXPORT, 5)], ["alert", "a"]),
        # The same source twice is two robberies (a source gives a robbery one id).
        ([("a", SHOP, 0), ("b", SHOP, 60)], ["alert", "alert"]),
        # Just within the window, and just past it.
        ([("a", SHOP, 0), ("b", CBL_TOOL, 120)], ["alert", "a"]),
        ([("a", SHOP, 0), ("b", CBL_TOOL, 121)], ["alert", "alert"]),
        # A third source reports it too: still one alert.
        ([("a", SHOP, 0), ("b", CBL_TOOL, 10), ("c", SHOP_EXPORT, 20)], ["alert", "a", "a"]),
        # A source that reported this robbery already reports another one: alerted.
        ([("a", SHOP, 0), ("b", CBL_TOOL, 10), ("c", CBL_TOOL, 40)], ["alert", "a", "alert"]),
        # Of two robberies, the copy joins the nearer one.
        ([("a", SHOP, 0), ("b", SHOP, 100), ("c", CBL_TOOL, 80)], ["alert", "alert", "b"]),
        # Read again after a restart: the alert again (same id), the copy again.
        ([("a", SHOP, 0), ("b", CBL_TOOL, 5), ("a", SHOP, 0), ("b", CBL_TOOL, 5)],
         ["alert", "a", "alert", "a"]),
        # A robbery two windows before the newest at the branch is dropped; one within them
        # still meets a copy that comes in late and out of order (a history import).
        ([("a", SHOP, 0), ("b", SHOP, 241), ("c", CBL_TOOL, 1)], ["alert", "alert", "alert"]),
        ([("a", SHOP, 0), ("b", SHOP, 239), ("c", CBL_TOOL, 1)], ["alert", "alert", "a"]),
    ],
)
def test_a_robbery_reported_by_two_sources_is_alerted_once(
    arrivals: list[tuple[str, tuple[str, str], int]], outcomes: list[str]
) -> None:
    ids = {name: uuid.uuid4() for name, _, _ in arrivals}
    names = {event_id: name for name, event_id in ids.items()}
    state = BranchRobberies()
    found = []
    for name, source, minutes in arrivals:
        judgement = judge(state, ids[name], source, T0 + timedelta(minutes=minutes), WINDOW)
        found.append("alert" if judgement.copy_of is None else names[judgement.copy_of])
        state = judgement.state
    assert found == outcomes


def test_state_keeps_two_windows_behind_the_newest_robbery() -> None:
    state = BranchRobberies()
    # A year of one branch's robberies, a day apart, posted newest first; then the trade
    # association's reports of them, oldest first.
    for source, days in ((SHOP, range(365, 0, -1)), (CBL_TOOL, range(1, 366))):
        for day in days:
            state = judge(state, uuid.uuid4(), source, T0 - timedelta(days=day), WINDOW).state
    assert state.newest == T0 - timedelta(days=1)
    [kept] = state.robberies
    assert kept.occurred_at == T0 - timedelta(days=1)
    assert kept.sources == {SHOP, CBL_TOOL}


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


async def robbery_alert_keys(settings: Settings) -> list[bytes]:
    """The keys of every robbery alert on alerts.v1 now (other stages write there too)."""
    records = await records_up_to_now(settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix),
                                      ALERTS.partitions)  # fmt: skip
    return [r.key for r in records if r.key.startswith(b"robbery_reported:")]


@pytest.mark.integration
async def test_worker_alerts_a_robbery_two_sources_report_once_across_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)

    def report(org: str, minutes_ago: int) -> IncidentReport:
        return factories.incident_report(reporting_org=org, occurred_at=now - timedelta(
            minutes=minutes_ago))  # fmt: skip

    # One branch, so one partition: each report is decided in the order published.
    posted, reported_again, next_robbery = report("buurtsuper", 300), report("cbl", 290), \
        report("buurtsuper", 240)  # fmt: skip
    exported, later = report("buurtsuper", 295), report("cbl", 60)
    alerts = ALERTS.name(settings.topic_prefix)

    def key(r: IncidentReport) -> bytes:
        return f"robbery_reported:{r.event_id}".encode()

    with running(settings, "worker", log=tmp_path / "worker-1.log") as worker:
        await publish_all(settings, posted, source="/producers/api/buurtsuper")
        # The trade association reports the same robbery ten minutes off: a copy.
        await publish_all(settings, reported_again, source="/producers/api/cbl")
        # The shop posts again an hour later: its second robbery, alerted.
        await publish_all(settings, next_robbery, source="/producers/api/buurtsuper")
        await read_keys(settings.kafka_bootstrap, alerts, [key(posted), key(next_robbery)],
                        timeout=90, while_alive=worker)  # fmt: skip
    # A worker of the live role (the same group and table): the robberies alerted come back
    # from the changelog, and the shop's CBL export of the first, imported now, is a copy.
    with running(settings, "worker", "--role", "live", log=tmp_path / "worker-2.log") as worker:
        await publish_all(settings, exported, source="/producers/cbl-import/buurtsuper")
        await publish_all(settings, later, source="/producers/api/cbl")
        # Published after the export, on its partition: once it is alerted, the export is
        # decided; the stop below flushes whatever the worker sent.
        await read_keys(settings.kafka_bootstrap, alerts, [key(later)], timeout=90,
                        while_alive=worker)  # fmt: skip

    assert sorted(set(await robbery_alert_keys(settings))) == sorted(
        [key(posted), key(next_robbery), key(later)]
    )


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
