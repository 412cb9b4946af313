"""The topic catalogue: name, key, value model, partitions, retention and DLQ of each topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.alerts import Alert
from schemas.events import AlarmActivation, IncidentReport, ReconSighting
from schemas.tasks import AlarmTask

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from schemas.common import Contract

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalogue, with its name still relative to the deployment's prefix."""

    suffix: str
    value_model: type[Contract]
    ce_type: str
    key_field: str
    key_of: Callable[[Contract], str]
    description: str
    partitions: int = 3
    retention_ms: int | None = 30 * DAY_MS
    compacted: bool = False
    # Topics that carry personal data (plate pseudonyms, descriptions) keep it no longer than
    # the configured personal-data retention, whichever is shorter.
    personal_data: bool = False

    def name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}"

    def dead_letter_name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}.dlq"

    def configs(self, personal_data_retention_ms: int) -> dict[str, str]:
        """Topic-level configs for CreateTopics."""
        configs = {"cleanup.policy": "compact" if self.compacted else "delete"}
        retention = self.retention_ms
        if self.personal_data:
            retention = min(retention or personal_data_retention_ms, personal_data_retention_ms)
        if retention is not None:
            configs["retention.ms"] = str(retention)
        return configs


def _attr(name: str) -> Callable[[Contract], str]:
    def key_of(model: Contract) -> str:
        value: object = model
        for part in name.split("."):
            value = getattr(value, part)
        return str(value)

    return key_of


ALARM_ACTIVATIONS = TopicSpec(
    suffix="alarm-activations.v1",
    value_model=AlarmActivation,
    ce_type="nl.heterdaad.alarm-activation.v1",
    key_field="site.site_id",
    key_of=_attr("site.site_id"),
    description="Panic and hold-up button activations forwarded by private alarm centres. "
    "Keyed by site so every signal of one site is seen in order by one worker.",
    retention_ms=7 * DAY_MS,
)
INCIDENT_REPORTS = TopicSpec(
    suffix="incident-reports.v1",
    value_model=IncidentReport,
    ce_type="nl.heterdaad.incident-report.v1",
    key_field="branch.branch_id",
    key_of=_attr("branch.branch_id"),
    description="Robberies, attempts, ram raids and ATM attacks reported by retailers and the "
    "supermarket trade association's tool.",
    personal_data=True,
)
RECON_SIGHTINGS = TopicSpec(
    suffix="recon-sightings.v1",
    value_model=ReconSighting,
    ce_type="nl.heterdaad.recon-sighting.v1",
    key_field="event_id",
    key_of=_attr("event_id"),
    description="Suspected reconnaissance (voorverkenning) reported by shop staff.",
    personal_data=True,
)
ALERTS = TopicSpec(
    suffix="alerts.v1",
    value_model=Alert,
    ce_type="nl.heterdaad.alert.v1",
    key_field="dedup_key",
    key_of=_attr("dedup_key"),
    description="Alerts raised by the stream processors, keyed by dedup key, police view.",
    personal_data=True,
)
ALARM_TASKS = TopicSpec(
    suffix="alarm-tasks.v1",
    value_model=AlarmTask,
    ce_type="nl.heterdaad.alarm-task.v1",
    key_field="site_id",
    key_of=_attr("site_id"),
    description="Tasks for alarm centres: verify an unverified activation, check a silent site.",
    retention_ms=7 * DAY_MS,
)
CATALOGUE: tuple[TopicSpec, ...] = (
    ALARM_ACTIVATIONS,
    INCIDENT_REPORTS,
    RECON_SIGHTINGS,
    ALERTS,
    ALARM_TASKS,
)

# Dead letters keep the raw record (which may hold personal data) for inspection, not for ever.
DEAD_LETTER_RETENTION_MS = 14 * DAY_MS
DEAD_LETTER_PARTITIONS = 1


def spec_for_ce_type(ce_type: str) -> TopicSpec | None:
    return next((spec for spec in CATALOGUE if spec.ce_type == ce_type), None)


def all_topics(
    prefix: str, personal_data_retention_days: int
) -> Iterator[tuple[str, int, dict[str, str]]]:
    """(name, partitions, configs) of every topic and dead-letter topic, for creating them."""
    personal_ms = personal_data_retention_days * DAY_MS
    dead_letter_ms = min(DEAD_LETTER_RETENTION_MS, personal_ms)
    for spec in CATALOGUE:
        yield spec.name(prefix), spec.partitions, spec.configs(personal_ms)
        yield (
            spec.dead_letter_name(prefix),
            DEAD_LETTER_PARTITIONS,
            {"cleanup.policy": "delete", "retention.ms": str(dead_letter_ms)},
        )
