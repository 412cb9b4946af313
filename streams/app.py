"""The Faust application: one app per process, its topics from the catalogue, its stages."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import faust

from heterdaad import logs, metrics
from heterdaad.event_time import read_skew
from heterdaad.kafka import SCRAM_MECHANISM, client_options
from schemas.topics import ALARM_TASKS, ALERTS, CATALOGUE, DEAD_LETTER_PARTITIONS
from streams import reread
from streams.dead_letters import SetAside
from streams.intake import Intake
from streams.roles import STAGES, role_app_id, role_settings
from streams.supervision import CrashCount, StopWorkerOnCrash
from streams.transport import broker_scheme

if TYPE_CHECKING:
    from faust.types import TopicT

    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec
    from streams.roles import Role

logger = logging.getLogger(__name__)


class Topics:
    """The app's handles on the catalogue topics; records stay bytes, the codec decodes them.

    A stage takes a source topic's records through `intake` (decoded once, streams/intake.py).
    """

    def __init__(self, app: faust.App, settings: Settings) -> None:
        prefix = settings.topic_prefix
        self.intake = Intake(read_skew(timedelta(seconds=settings.clock_skew_seconds)))
        self.set_aside = SetAside()
        self._by_suffix: dict[str, TopicT] = {}
        self._dead_letters: dict[str, TopicT] = {}
        for spec in CATALOGUE:
            self._by_suffix[spec.suffix] = app.topic(
                spec.name(prefix),
                key_type=bytes,
                value_type=bytes,
                partitions=spec.partitions,
                # The topics are created by `heterdaad topics create` with their configs;
                # Faust must not re-declare them with its own defaults.
                internal=False,
            )
            self._dead_letters[spec.suffix] = app.topic(
                spec.dead_letter_name(prefix),
                key_type=bytes,
                value_type=bytes,
                partitions=DEAD_LETTER_PARTITIONS,
            )
        self.alerts = self[ALERTS]
        self.alarm_tasks = self[ALARM_TASKS]

    def __getitem__(self, spec: TopicSpec) -> TopicT:
        return self._by_suffix[spec.suffix]

    def dead_letter(self, spec: TopicSpec) -> TopicT:
        return self._dead_letters[spec.suffix]


class Worker(faust.Worker):
    """Faust's worker, logging the project's lines (JSON, or readable on a terminal; ids from
    `extra` included) instead of its own coloured text; one line per record, flushed, so a
    killed worker's log is whole."""

    # The setting `log_format`, given by the command that runs the worker.
    log_format: logs.LogFormat = "auto"

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        logs.configure(logging.getLevelName(level), self.log_format)

    async def on_first_start(self) -> None:
        # A restart loop shows here: each successor of a crashed worker counts one more.
        crashes = CrashCount(Path(self.app.conf.datadir)).read()
        metrics.WORKER_CRASHES_IN_A_ROW.set(crashes)
        logger.info(
            "worker starting", extra={"app_id": self.app.conf.id, "crashes_in_a_row": crashes}
        )
        await super().on_first_start()

    def on_worker_shutdown(self) -> None:
        # Reached on a stop by signal; a crashed agent leaves by os._exit and never gets here.
        CrashCount(Path(self.app.conf.datadir)).clear()
        super().on_worker_shutdown()


def _credentials(settings: Settings) -> faust.SASLCredentials | None:
    # The same principal and CA as the service's other clients (heterdaad.kafka.client_options).
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    options = client_options(settings)
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        mechanism=SCRAM_MECHANISM,
        ssl_context=options["ssl_context"],
    )


def create_app(settings: Settings, role: Role = "all") -> faust.App:
    """A Faust app wired to the settings' broker, with the stages of `role` registered (every
    stage by default; streams/roles.py), in the role's own app id and consumer group."""
    app_id = role_app_id(settings, role)
    datadir = settings.state_dir / "faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    hosts = settings.kafka_bootstrap.split(",")
    # Faust makes app.producer with the consumer's transport (broker_consumer), not with
    # broker_producer's: our transport must be named for all three to take effect.
    brokers = [f"{broker_scheme(settings.kafka_idempotence)}://{host}" for host in hosts]
    app = faust.App(
        app_id,
        broker=brokers,
        broker_consumer=brokers,
        broker_producer=brokers,
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        producer_max_batch_size=settings.kafka_max_batch_bytes,
        # Faust's default lingers 0 ms: one produce request per record (bench/RESULTS.md).
        producer_linger=settings.kafka_linger_ms / 1000,
        # Group joins take half the session timeout on Tansu; 10 s keeps rebalances short on
        # both brokers while a worker stuck longer than that is rightly considered gone.
        broker_session_timeout=10.0,
        broker_rebalance_timeout=10.0,
        broker_heartbeat_interval=1.0,
        topic_replication_factor=1,
        topic_partitions=3,
        # Tables live in memory and are rebuilt from their changelog topics after a restart.
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        autodiscover=False,
        datadir=str(datadir),
        # A crashed agent ends the process (streams/supervision.py) rather than being restarted
        # in place, where a stage whose stream failed stayed dead in a live-looking worker.
        agent_supervisor=type(
            "StopWorkerOnCrash", (StopWorkerOnCrash,), {"crashes": CrashCount(datadir)}
        ),
        # No stage runs a leader-only timer: no leader topic, one internal topic less to create.
        topic_disable_leader=True,
        broker_credentials=_credentials(settings),
    )
    topics = Topics(app, settings)
    # Imported here so that each stage module can import this one for its types.
    from streams import (
        detect_hotspots,
        link_reconnaissance,
        link_series,
        report_robberies,
        verify_alarms,
    )

    stages = {
        stage.__name__.rpartition(".")[2]: stage
        for stage in (
            report_robberies,
            verify_alarms,
            link_series,
            detect_hotspots,
            link_reconnaissance,
        )
    }
    registered = role_settings(settings, role)
    for name in STAGES[role]:
        stages[name].register(app, topics, registered)
    # One agent per source topic a stage subscribed to above, fanning out to those stages;
    # a role reads no source topic that none of its stages takes.
    topics.intake.register(app, topics)
    reread.register(app, settings.worker_reread_after_rebalance_seconds)
    return app
