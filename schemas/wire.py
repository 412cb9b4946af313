"""Records on Kafka: CloudEvents Kafka binding, binary mode (ce_* headers, JSON value)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from schemas.pseudonym import mask_plates
from schemas.topics import spec_for_ce_type

if TYPE_CHECKING:
    from collections.abc import Sequence

    from schemas.common import Contract
    from schemas.topics import TopicSpec

ModelT = TypeVar("ModelT", bound="Contract")

Headers = list[tuple[str, bytes]]

CONTENT_TYPE = "application/json"
# Dead-letter records keep the original value and headers; these say where it came from and why.
DLQ_REASON = "x-heterdaad-dlq-reason"
DLQ_TOPIC = "x-heterdaad-dlq-topic"
DLQ_PARTITION = "x-heterdaad-dlq-partition"
DLQ_OFFSET = "x-heterdaad-dlq-offset"
DLQ_STAGE = "x-heterdaad-dlq-stage"
DLQ_AT = "x-heterdaad-dlq-at"
DLQ_TRUNCATED = "x-heterdaad-dlq-truncated"
# A record near the broker's 1 MiB limit plus our headers would not fit the dead-letter topic;
# the start of it is enough to see what it was.
DLQ_MAX_VALUE_BYTES = 512 * 1024


class _RawDataFormat(JSONFormat):
    """JSON format that leaves the data as bytes, so pydantic parses the value exactly once."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


@dataclass(frozen=True)
class WireRecord:
    key: bytes
    value: bytes
    headers: Headers


class UndecodableRecord(Exception):
    """A record that is not a valid event of its topic; the reason goes to the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(
    spec: TopicSpec, model: Contract, source: str, *, data: bytes | None = None
) -> WireRecord:
    """A model as a binary-mode CloudEvent for the spec's topic.

    `data`: the model's JSON (`model.model_dump_json().encode()`) when the caller made it
    already, to digest what it publishes (the API's receipts): one serialisation, not two.
    """
    if not isinstance(model, spec.value_model):
        raise TypeError(f"{spec.suffix} carries {spec.value_model.__name__}, not {type(model)}")
    key = spec.key_of(model)
    event = CloudEvent(
        attributes={
            "id": _event_id(model),
            "source": source,
            "type": spec.ce_type,
            "specversion": "1.0",
            "time": datetime.now(UTC),
            "datacontenttype": CONTENT_TYPE,
            "subject": key,
            "partitionkey": key,
        },
        data=model.model_dump_json().encode() if data is None else data,
    )
    message = to_binary(event, JSONFormat())
    return WireRecord(
        key=key.encode(),
        value=message.value,
        headers=[(name, value) for name, value in message.headers.items()],
    )


def decode(spec: TopicSpec, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Contract:
    """The model a record carries, or UndecodableRecord saying what is wrong with it."""
    if value is None:
        raise UndecodableRecord("record has no value")
    header_map = {name: raw for name, raw in headers}
    try:
        event = from_binary(
            KafkaMessage(headers=header_map, key=None, value=value), _RawDataFormat()
        )
    except Exception as error:  # the SDK raises several kinds for missing or bad attributes
        raise UndecodableRecord(f"not a binary-mode CloudEvent: {error}") from error
    ce_type = event.get_type()
    if ce_type != spec.ce_type:
        known = spec_for_ce_type(ce_type)
        found = f"{ce_type} (belongs on {known.suffix})" if known else repr(ce_type)
        raise UndecodableRecord(f"ce_type {found} does not belong on {spec.suffix}")
    try:
        return spec.value_model.model_validate_json(value)
    except ValidationError as error:
        raise UndecodableRecord(explain(error)) from error


def decode_as(
    model: type[ModelT], spec: TopicSpec, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> ModelT:
    decoded = decode(spec, value, headers)
    assert isinstance(decoded, model)
    return decoded


def explain(error: ValidationError) -> str:
    """One line naming each offending field and why, for dead letters and 4xx answers."""
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "(record)"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def dead_letter_headers(
    headers: Sequence[tuple[str, bytes]],
    *,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    stage: str,
) -> Headers:
    """The original headers plus where the record came from and why it could not be used."""
    # Plates masked: a reason may quote the value, a header may hold anything (issue 11 #11).
    kept = [
        (name, mask_plates(value) if value else value)
        for name, value in headers
        if not name.startswith("x-heterdaad-dlq-")
    ]
    return [
        *kept,
        (DLQ_REASON, mask_plates(reason[:4000].encode())),
        (DLQ_TOPIC, topic.encode()),
        (DLQ_PARTITION, str(partition).encode()),
        (DLQ_OFFSET, str(offset).encode()),
        (DLQ_STAGE, stage.encode()),
        (DLQ_AT, datetime.now(UTC).isoformat().encode()),
    ]


def dead_letter_value(value: bytes | None) -> tuple[bytes, Headers]:
    """The value kept in a dead letter (cut to DLQ_MAX_VALUE_BYTES) and a header if it was cut.

    Plate-shaped text in it is masked: a dead letter is kept for days and read by whoever
    investigates it, and a record that could not be decoded was never pseudonymised.
    """
    value = value or b""
    if len(value) <= DLQ_MAX_VALUE_BYTES:
        return mask_plates(value), []
    cut = mask_plates(value[:DLQ_MAX_VALUE_BYTES])
    return cut, [(DLQ_TRUNCATED, str(len(value)).encode())]


def _event_id(model: Contract) -> str:
    for field in ("event_id", "alert_id", "task_id", "audit_id"):
        if field in type(model).model_fields:
            return str(getattr(model, field))
    raise TypeError(f"{type(model).__name__} has no id field")
