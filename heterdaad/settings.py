"""The one settings object: every host, port, key and threshold comes from here."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from heterdaad.language import Language
from heterdaad.logs import LogFormat
from heterdaad.thresholds.alarms import AlarmThresholds
from heterdaad.thresholds.desk import DeskThresholds
from heterdaad.thresholds.digest import DigestThresholds
from heterdaad.thresholds.hotspots import HotspotThresholds
from heterdaad.thresholds.notify import NotifyThresholds
from heterdaad.thresholds.operations import MetricsSettings
from heterdaad.thresholds.reconnaissance import ReconThresholds
from heterdaad.thresholds.series import SeriesThresholds
from heterdaad.thresholds.time import TimeModel


class SettingMissing(ValueError):
    """A setting a command needs is not set; the CLI says which and how to set it."""

    def __init__(self, variable: str, why: str, example: str) -> None:
        super().__init__(f"{variable} is not set: {why}")
        self.variable = variable
        self.why = why
        self.example = example


class ApiLimits(BaseModel):
    """Limits the ingest API puts on callers (HETERDAAD_API_LIMITS__<FIELD> variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest body of a single event or the web form."
    )
    max_batch_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest body of a /batch request."
    )
    max_batch_items: int = Field(500, ge=1, le=10_000, description="Most events in one batch.")
    events_per_second: float = Field(
        50.0, gt=0, description="Sustained events per second per organisation (token refill)."
    )
    event_burst: int = Field(
        1000, ge=1, description="Events an organisation may send at once (bucket size)."
    )
    publish_timeout_seconds: float = Field(
        10.0, gt=0, description="How long to wait for the broker's acknowledgement before 503."
    )
    broker_retry_seconds: int = Field(
        5, ge=1, description="Retry-After of a 503, and the interval of reconnect attempts."
    )
    database_wait_seconds: float = Field(
        5.0,
        gt=0,
        description="How long a request waits for a free database connection before 503. While "
        "the broker is away every request holds one for up to publish_timeout_seconds; without "
        "a bound the queue for the pool grows and the 503s turn into hangs.",
    )

    task_wait_max_seconds: float = Field(
        30.0,
        gt=0,
        le=120,
        description="Longest long-poll of GET /v1/alarm-tasks?wait=: below the idle timeouts of "
        "common proxies, so a centre's poll ends with an answer, not a cut connection.",
    )
    task_poll_seconds: float = Field(
        0.2,
        gt=0,
        le=5,
        description="How often a long-poll looks for new tasks when it hears nothing: the sink's "
        "notification wakes it at once, this is the fallback should that be lost.",
    )

    maintenance_max_days: float = Field(
        14.0,
        gt=0,
        le=62,
        description="Longest maintenance window an alarm centre may set on a site of its own "
        "through the API (POST /v1/alarm-sites/{site_id}/maintenance): presses made in it are "
        "ignored, so a forgotten end silences a site for at most this long. The operator's "
        "`heterdaad org maintenance` has no such bound.",
    )

    refused_audit_per_second: float = Field(
        1.0,
        gt=0,
        description="Audit rows a second, per organisation, for refused requests (one row per "
        "request, with its counts); beyond it they are counted into the next row, so refused "
        "batches cannot flood the audit log. The service log has every one.",
    )
    refused_audit_burst: int = Field(
        10, ge=1, description="Refused requests audited at once before the rate applies."
    )

    @model_validator(mode="after")
    def _a_full_batch_fits(self) -> ApiLimits:
        # Otherwise a full batch would be refused with 429 for ever.
        if self.event_burst < self.max_batch_items:
            raise ValueError("event_burst must be at least max_batch_items")
        return self


class Settings(BaseSettings):
    """Read from HETERDAAD_* environment variables (and a .env file), validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="HETERDAAD_",
        env_file=".env",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    # Where the services are.
    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers, comma separated host:port."
    )
    kafka_flavour: Literal["apache", "tansu"] = Field(
        "apache",
        description="The broker: 'apache' (Apache Kafka; idempotent producers) or 'tansu' (the "
        "embedded default, which refuses InitProducerId and under-reports end offsets of "
        "multi-record batches: producers there run without idempotence, one record a batch). "
        "Event ids keep consumers idempotent either way.",
    )
    kafka_linger_ms: int = Field(
        5,
        ge=0,
        le=1000,
        description="How long a producer waits to fill a batch before sending it (every "
        "producer: the worker's Faust producer and the services' aiokafka ones). 0 sends each "
        "record in its own request as soon as it is queued, which costs a busy worker a third "
        "of its time in socket writes; every record may be delayed this long.",
    )
    database_url: str = Field(
        "postgresql://heterdaad:heterdaad@127.0.0.1:15432/heterdaad",
        description="PostgreSQL DSN for asyncpg.",
    )
    database_schema: str = Field(
        "heterdaad", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema."
    )
    topic_prefix: str = Field(
        "heterdaad.", pattern=r"^[a-zA-Z0-9._-]*$", description="Prefix of every topic name."
    )
    app_id: str = Field("heterdaad", description="Faust application id (consumer group).")

    # Local services started by `heterdaad infra up` (Apache Kafka from Maven, Debian PostgreSQL).
    state_dir: Path = Field(Path(".heterdaad"), description="Data, pid and log files.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "heterdaad", description="Downloaded Kafka jars."
    )
    kafka_version: str = Field("4.1.1", description="Apache Kafka version assembled by infra.")
    kafka_port: int = Field(19092, ge=1, le=65535, description="Port of the local Apache Kafka.")
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    postgres_port: int = Field(15432, ge=1, le=65535)
    # Kafka security: the production profile (`heterdaad infra up --secure`, compose) is
    # SASL_SSL with one SCRAM principal per service; PLAINTEXT is for tests on loopback.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT (loopback tests) or SASL_SSL (TLS + SCRAM-SHA-512)."
    )
    kafka_sasl_username: str | None = Field(None, description="This service's Kafka principal.")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="The principal's SCRAM password; from the environment, no default."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA that signed the broker's certificate."
    )
    worker_reread_after_rebalance_seconds: float = Field(
        3.0,
        ge=0,
        le=300,
        description="After each rebalance, once its recovery has completed and this long has "
        "passed, a worker reads every partition again from its committed offset, once: Faust "
        "now and then loses records it fetched during the recovery (streams/reread.py). "
        "0 turns it off.",
    )
    worker_ready_max_lag: int = Field(
        1000,
        ge=0,
        description="Records a worker's consumer group may have unprocessed on one of its input "
        "topics before the worker (`heterdaad worker-ready`) and the API's /readyz say not "
        "ready: about 10 s of a heavy burst of alarm activations.",
    )

    # Privacy.
    plate_key: SecretStr | None = Field(
        None,
        description="Key of the keyed hash that pseudonymises licence plates (at least 32 "
        "characters). Required by every service that receives plates.",
    )
    plate_key_id: str = Field(
        "k1", pattern=r"^[a-z0-9]{1,8}$", description="Id of the plate key, kept in pseudonyms."
    )
    personal_data_retention_days: int = Field(
        28, ge=1, le=3650, description="Days before plate pseudonyms and descriptions are deleted."
    )
    audit_retention_days: int = Field(
        5 * 365 + 1,
        ge=365,
        le=10 * 365 + 2,
        description="Days the audit log (who posted, read, logged in, was refused) is kept. "
        "Default five years: the Wet politiegegevens has logs of collection, consultation and "
        "disclosure kept so that lawfulness can be checked, and police data may be kept and "
        "used for up to five years; the log outlives what it describes (docs/security-tests.md).",
    )
    retention_every_hours: float = Field(
        24,
        gt=0,
        le=24 * 7,
        description="How often the sink runs retention (personal data, audit log), and once at "
        "start; `heterdaad db retention` runs it by hand.",
    )

    # Validation.
    clock_skew_seconds: int = Field(
        120, ge=0, le=3600, description="How far in the future an event time may lie."
    )
    max_event_age_days: int = Field(
        1826,
        ge=1,
        le=36_500,
        description="How far in the past an event time may lie when it enters (five years: a "
        "deployment loads its history, the CBL tool exports it); older is refused (422).",
    )

    # Stream thresholds a working group would tune.
    robbery_alert_radius_m: float = Field(
        3000, gt=0, le=50_000, description="Radius around a reported robbery that is warned."
    )

    # When things happened, what is live and what is history (docs/time.md).
    time: TimeModel = TimeModel()

    alarms: AlarmThresholds = AlarmThresholds()
    series: SeriesThresholds = SeriesThresholds()
    hotspots: HotspotThresholds = HotspotThresholds()
    reconnaissance: ReconThresholds = ReconThresholds()
    notify: NotifyThresholds = NotifyThresholds()
    digest: DigestThresholds = DigestThresholds()

    # Police desk (consumers/desk, docs/desk.md).
    desk: DeskThresholds = DeskThresholds()
    desk_host: str = "127.0.0.1"
    desk_port: int = Field(8090, ge=1, le=65535)

    # Health and metrics of the consumers (docs/operations.md).
    metrics: MetricsSettings = MetricsSettings()

    # People.
    language: Language = Field("nl", description="Language of user-facing text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: LogFormat = Field(
        "auto",
        description="json: one JSON object per line; console: one readable line per record, "
        "control characters escaped; auto: console on a terminal, else json.",
    )

    # HTTP.
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Addresses (comma-separated, or *) of the TLS-terminating reverse proxies "
        "whose X-Forwarded-Proto and X-Forwarded-For the API and the desk believe: behind "
        "one, the scheme is https, so session cookies are sent Secure.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=1, le=65535)
    api_limits: ApiLimits = ApiLimits()
    public_url: str | None = Field(
        None,
        description="Address at which staff reach the API (for /meld login links), e.g. "
        "https://meld.example.nl; default http://api_host:api_port.",
    )
    meld_session_hours: float = Field(
        8,
        gt=0,
        le=24,
        description="How long a /meld staff session lasts: one shift. Logging out ends it "
        "earlier.",
    )
    meld_code_days: float = Field(
        7, gt=0, le=90, description="How long an unused /meld login code stays valid."
    )

    # SIA DC-09 receiver for alarm panels and alarm centres.
    sia_host: str = "127.0.0.1"
    sia_port: int = Field(7777, ge=1, le=65535)
    sia_supervision_hours: float = Field(
        25, gt=0, le=24 * 14, description="Silence after which a site is reported 'site silent'."
    )
    sia_supervision_check_seconds: float = Field(
        60, gt=0, le=3600, description="How often the receiver looks for silent sites."
    )
    sia_idle_timeout_seconds: float = Field(
        60,
        gt=0,
        le=3600,
        description="How long a connection may take to deliver its next whole frame before it "
        "is closed (idle, or sending slowly). A link kept open must poll (NULL) more often.",
    )
    sia_max_connections: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Connections held at once; a new one beyond it closes the one idle longest, "
        "so a flood of idle connections never keeps a real alarm out. Keep well under the "
        "process's file limit.",
    )

    @model_validator(mode="after")
    def _history_counts_as_long_as_it_is_kept(self) -> Settings:
        # A report may be late by as much as its personal data is kept; else a monthly CBL
        # import would be stored but never linked (docs/time.md).
        if self.time.late_bound_days < self.personal_data_retention_days:
            raise ValueError("time.late_bound_days must be at least personal_data_retention_days")
        if self.audit_retention_days < self.personal_data_retention_days:
            # The log of who saw personal data must outlive that data.
            raise ValueError("audit_retention_days must be at least personal_data_retention_days")
        return self

    @model_validator(mode="after")
    def _sasl_ssl_is_complete(self) -> Settings:
        # Refused at start-up, not at the first connection: a service must not half-start.
        if self.kafka_security_protocol == "SASL_SSL":
            missing = [
                f"HETERDAAD_{name.upper()}"
                for name in ("kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"SASL_SSL needs {', '.join(missing)}")
        return self

    @field_validator("plate_key")
    @classmethod
    def _plate_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (a random secret, not a password)")
        return value

    def require_plate_key(self) -> bytes:
        """The plate key, or a clear start-up error for services that handle plates."""
        if self.plate_key is None:
            raise SettingMissing(
                "HETERDAAD_PLATE_KEY",
                "services that receive licence plates need a secret of at least 32 characters "
                "to pseudonymise them",
                example="\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\"",
            )
        return self.plate_key.get_secret_value().encode()

    def uvicorn_options(self) -> dict[str, Any]:
        """How the API and the desk run under uvicorn: which proxies' forwarded headers count."""
        return {"proxy_headers": True, "forwarded_allow_ips": self.trusted_proxies}

    @property
    def api_url(self) -> str:
        """Where staff reach the API: public_url, else the address it listens on."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def kafka_idempotence(self) -> bool:
        return self.kafka_flavour == "apache"

    @property
    def kafka_max_batch_bytes(self) -> int:
        """aiokafka's max_batch_size: 1 byte makes every batch a single record (see Tansu)."""
        return 16384 if self.kafka_flavour == "apache" else 1

    def to_env(self) -> dict[str, str]:
        """These settings as HETERDAAD_* variables, to hand to a child process."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, BaseModel):
                value = value.model_dump_json()
            env[f"HETERDAAD_{name.upper()}"] = str(value)
        return env


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
