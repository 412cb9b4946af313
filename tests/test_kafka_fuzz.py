"""Fuzzing raw Kafka records: the codec refuses only with a reason; bad records are dead-lettered
once per owner while the worker and the sink keep going and still process the good ones.

Three parts:
- pure decode fuzzing of `schemas.wire.decode` for every topic of the catalogue (fast, default);
- garbage, broken envelopes, wrong types, mutated fields, tombstones and huge values produced to
  the topics while a real worker and a real sink run as processes (a few hundred records by
  default, 10,000 with `pytest -m long tests/test_kafka_fuzz.py`);
- records at the edges: near the broker's size limit, and records that decode but that the
  database refuses (both dead-lettered; each was a bug, see docs/security-tests.md).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from hypothesis import HealthCheck, Phase, event, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from consumers.sink import SUNK, Sink
from heterdaad.event_time import ENTERING, ahead_of_clock, read_skew
from heterdaad.kafka import make_producer
from schemas.alerts import EvidenceLink, alert_id_for
from schemas.topics import (
    ALARM_ACTIVATIONS,
    ALARM_TASKS,
    ALERTS,
    CATALOGUE,
    INCIDENT_REPORTS,
    RECON_SIGHTINGS,
)
from schemas.wire import (
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_STAGE,
    DLQ_TOPIC,
    DLQ_TRUNCATED,
    UndecodableRecord,
    dead_letter_value,
    decode,
    encode,
)
from streams.intake import SOURCES, STAGE
from tests import factories
from tests.kafka_helpers import eventually, read_keys, read_topic
from tests.processes import running

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    import asyncpg
    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings
    from schemas.common import Contract
    from schemas.topics import TopicSpec

T = TypeVar("T")

# --- valid records to start from --------------------------------------------------------------


def _alert(ident: uuid.UUID) -> Contract:
    dedup_key = f"fuzz:{ident}"
    return factories.alert(alert_id=alert_id_for(dedup_key), dedup_key=dedup_key)


# A valid model of each topic with a given id, so that good records can be found again.
VALID: dict[str, Callable[[uuid.UUID], Contract]] = {
    ALARM_ACTIVATIONS.suffix: lambda ident: factories.alarm_activation(event_id=ident),
    # Each at a branch of its own: a mutated ce_source is another source, and two sources'
    # reports at one branch within minutes are one robbery, alerted once (report_robberies).
    INCIDENT_REPORTS.suffix: lambda ident: factories.incident_report(
        event_id=ident, branch=factories.branch(branch_id=f"fz-{ident.hex[:12]}")
    ),
    RECON_SIGHTINGS.suffix: lambda ident: factories.recon_sighting(event_id=ident),
    ALERTS.suffix: _alert,
    ALARM_TASKS.suffix: lambda ident: factories.alarm_task(task_id=ident),
}
CE_HEADERS = (
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_specversion",
    "ce_time",
    "content-type",
    "ce_subject",
    "ce_partitionkey",
)
# Who dead-letters a bad record of each topic when a worker and a sink run: the worker's intake
# (one agent per source topic, streams/intake.py, whatever the stages behind it) and the sink.
OWNERS: dict[str, frozenset[str]] = {
    # Alarm activations: the intake, for verify_alarms, and the sink.
    ALARM_ACTIVATIONS.suffix: frozenset({"intake", "sink"}),
    # Incident reports, taken by five stages: the intake decodes them once, and the sink.
    INCIDENT_REPORTS.suffix: frozenset({"intake", "sink"}),
    # Sightings, taken by two stages: the intake, and the sink.
    RECON_SIGHTINGS.suffix: frozenset({"intake", "sink"}),
    # Alerts: no worker stage reads them; the sink (and notify, not running here).
    ALERTS.suffix: frozenset({"sink"}),
    # Alarm tasks: the sink, into the store the centres read (docs/alarm-tasks.md).
    ALARM_TASKS.suffix: frozenset({"sink"}),
    # Audit records: the sink alone.
}
# The topics fuzzed through running processes: every topic a worker stage or the sink reads.
FUZZED = tuple(spec for spec in CATALOGUE if spec.suffix in OWNERS)
# Huge; records up to the broker's limit of about 1 MiB have a test of their own at the end.
HUGE_MAX = 900_000

_BASE = fuzz_settings(
    deadline=None,  # no timed tests
    database=None,  # nothing written to the work tree; a failure prints its reproduction
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@dataclass(frozen=True)
class RawRecord:
    """A record as a producer might send it, and which mutation made it (for failures)."""

    spec: TopicSpec
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    how: str

    @classmethod
    def valid(cls, spec: TopicSpec, model: Contract) -> RawRecord:
        wire = encode(spec, model, "urn:heterdaad:test")
        return cls(spec, wire.key, wire.value, tuple(wire.headers), "valid")

    def refusal(self, skew: timedelta) -> str | None:
        """Why the codec refuses it, or its time too far ahead of the clock (a source topic's
        event, heterdaad/event_time.py), or None: the oracle of what must be dead-lettered."""
        try:
            model = decode(self.spec, self.value, list(self.headers))
        except UndecodableRecord as error:
            return error.reason
        if self.spec in ENTERING:
            return ahead_of_clock(model, now=datetime.now(UTC), skew=skew)
        return None

    def describe(self) -> str:
        value = self.value if self.value is None else self.value[:300]
        where = f"{self.how} on {self.spec.suffix}"
        return f"{where}: key={self.key!r} value={value!r} headers={self.headers!r}"


# --- strategies ---------------------------------------------------------------------------------


def _text(storable: bool) -> st.SearchStrategy[str]:
    # Storable text leaves out NUL, so that such records are stored and checked as stored: the
    # contract refuses NUL in text fields but not inside dicts (audit details), where
    # PostgreSQL refuses it and the sink dead-letters the record (a test of its own, at the end).
    if storable:
        return st.text(st.characters(exclude_characters="\x00"), max_size=40)
    return st.text(max_size=40)


# Offsets rather than st.timezones(): building that strategy costs more than a whole example.
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-11))])


def _json_values(storable: bool) -> st.SearchStrategy[Any]:
    # Storable numbers are finite: NaN and Infinity decode but PostgreSQL's jsonb refuses them.
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.floats(allow_nan=not storable, allow_infinity=not storable)
        | _text(storable)
        | st.uuids().map(str)
        | st.datetimes(timezones=_ZONES).map(lambda moment: moment.isoformat())
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(_text(storable), inner, max_size=4)
        ),
        max_leaves=10,
    )


# Built once: strategies are costly to build and free to reuse.
TEXT = {storable: _text(storable) for storable in (True, False)}
JSON_VALUES = {storable: _json_values(storable) for storable in (True, False)}


def _places(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place inside a JSON document where a mutation may strike."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for name, inner in value.items():
            found += _places(inner, (*prefix, name))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _places(inner, (*prefix, index))
    return found


@st.composite
def _mutated_json(draw: st.DrawFn, value: bytes, storable: bool) -> bytes:
    """The document with one to three places replaced, removed or given a stray neighbour."""
    document = copy.deepcopy(json.loads(value))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = _places(document)
        if not places:
            break
        *parents, last = draw(st.sampled_from(places))
        holder: Any = document
        for step in parents:
            holder = holder[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove":
            del holder[last]
        elif action == "add" and isinstance(holder, dict):
            holder[draw(TEXT[storable])] = draw(JSON_VALUES[storable])
        else:
            holder[last] = draw(JSON_VALUES[storable])
    # allow_nan: a producer in another language may well write NaN; the codec must cope.
    return json.dumps(document, allow_nan=True).encode()


@st.composite
def _mutated_bytes(draw: st.DrawFn, value: bytes) -> bytes:
    """The bytes with a few flipped, inserted or deleted: broken JSON, odd UTF-8, cut short."""
    data = bytearray(value)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=8))]
        else:
            del data[position:]
    return bytes(data)


_HEADER_NAMES = st.sampled_from(CE_HEADERS) | st.text(max_size=20)
_JUNK_HEADERS = st.lists(st.tuples(_HEADER_NAMES, st.binary(max_size=60)), max_size=8)


@st.composite
def _mutated_headers(draw: st.DrawFn, headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """One header of a valid envelope dropped, replaced, renamed, duplicated or made non-UTF-8."""
    headers = list(headers)
    index = draw(st.integers(min_value=0, max_value=len(headers) - 1))
    name, value = headers[index]
    action = draw(st.sampled_from(["drop", "replace", "rename", "duplicate", "not_utf8"]))
    if action == "drop":
        del headers[index]
    elif action == "replace":
        headers[index] = (name, draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode)))
    elif action == "rename":
        headers[index] = (draw(st.text(max_size=20)), value)
    elif action == "duplicate":
        headers.insert(draw(st.integers(0, len(headers))), (name, draw(st.binary(max_size=60))))
    else:
        headers[index] = (name, value + b"\xff\xfe")
    return headers


HOWS = (
    "valid",
    "valid",  # twice: good records must be interleaved with the bad throughout
    "garbage",
    "tombstone",
    "no_envelope",
    "wrong_type",
    "other_topic",
    "header_mutation",
    "field_mutation",
    "field_mutation",
    "byte_mutation",
    "huge",
)


@st.composite
def raw_records(
    draw: st.DrawFn, specs: tuple[TopicSpec, ...], *, storable: bool, huge_max: int
) -> RawRecord:
    spec = draw(st.sampled_from(specs))
    how = draw(st.sampled_from(HOWS))
    event(how)
    wire = encode(spec, VALID[spec.suffix](draw(st.uuids())), "urn:heterdaad:test:fuzz")
    key: bytes | None = wire.key
    value: bytes | None = wire.value
    headers = list(wire.headers)
    if how == "garbage":
        value, headers = draw(st.binary(max_size=400)), draw(_JUNK_HEADERS)
    elif how == "tombstone":
        value = None
        headers = draw(st.sampled_from([headers, []]))
    elif how == "no_envelope":
        headers = draw(_JUNK_HEADERS)
    elif how == "wrong_type":
        others = [other.ce_type for other in CATALOGUE if other is not spec]
        ce_type = draw(st.sampled_from(others) | st.text(max_size=40)).encode()
        headers = [(name, ce_type if name == "ce_type" else raw) for name, raw in headers]
    elif how == "other_topic":
        # A whole valid event of another topic, envelope and all: produced to the wrong topic.
        other = draw(st.sampled_from([other for other in CATALOGUE if other is not spec]))
        misplaced = encode(other, VALID[other.suffix](draw(st.uuids())), "urn:heterdaad:test")
        key, value, headers = misplaced.key, misplaced.value, list(misplaced.headers)
    elif how == "header_mutation":
        headers = draw(_mutated_headers(headers))
    elif how == "field_mutation":
        value = draw(_mutated_json(wire.value, storable))
    elif how == "byte_mutation":
        value = draw(_mutated_bytes(wire.value))
    elif how == "huge":
        size = draw(st.integers(min_value=100_000, max_value=huge_max))
        if draw(st.booleans()):
            # Valid JSON padded with whitespace: a huge record that decodes.
            value = wire.value + b" " * size
        else:
            value = random.Random(draw(st.integers())).randbytes(size)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        key = draw(st.none() | st.binary(max_size=40))
    if value is None and key is None:
        key = wire.key  # a record with neither is not something a Kafka client can send
    return RawRecord(spec, key, value, tuple(headers), how)


# --- the codec: only UndecodableRecord, always with a reason ------------------------------------


def _check_decode(record: RawRecord) -> None:
    try:
        model = decode(record.spec, record.value, list(record.headers))
    except UndecodableRecord as error:
        event(f"refused: {_reason_kind(error.reason)}")
        assert isinstance(error.reason, str) and error.reason.strip(), record.describe()
        return
    # Whatever decodes is an event of the topic's model, under the topic's own type.
    assert isinstance(model, record.spec.value_model), record.describe()
    assert (record.spec.ce_type.encode(), "ce_type") in {(v, n) for n, v in record.headers}
    event("decoded")


def _reason_kind(reason: str) -> str:
    """A coarse label of a reason, for `--hypothesis-show-statistics`."""
    for kind in ("no value", "not a binary-mode CloudEvent", "ce_type", "Invalid JSON"):
        if kind in reason:
            return kind
    return "a field"


DECODE_CASES = 1_700  # per topic: 10,200 in all, the default run
LONG_DECODE_CASES = 20_000  # per topic: 120,000 in all


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.suffix)
@fuzz_settings(_BASE, max_examples=DECODE_CASES, derandomize=True)
@given(data=st.data())
def test_decode_only_refuses_with_a_reason(spec: TopicSpec, data: st.DataObject) -> None:
    _check_decode(data.draw(raw_records((spec,), storable=False, huge_max=200_000)))


@pytest.mark.long
@pytest.mark.timeout(4 * 3600)
@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.suffix)
@fuzz_settings(_BASE, max_examples=LONG_DECODE_CASES)
@given(data=st.data())
def test_decode_only_refuses_with_a_reason_long(spec: TopicSpec, data: st.DataObject) -> None:
    _check_decode(data.draw(raw_records((spec,), storable=False, huge_max=200_000)))


def test_the_owners_are_those_of_the_code() -> None:
    # OWNERS is written out so that a change of who dead-letters what is a decision here too.
    from_code = {
        spec.suffix: frozenset({"sink", *([STAGE] if spec in SOURCES else [])})
        for spec in SUNK
    }  # fmt: skip
    assert from_code == OWNERS


def test_every_topic_has_a_valid_example() -> None:
    # A new topic without an example here would be left out of the fuzzing unnoticed.
    assert set(VALID) == {spec.suffix for spec in CATALOGUE}
    for spec in CATALOGUE:
        wire = encode(spec, VALID[spec.suffix](uuid.uuid4()), "urn:heterdaad:test")
        assert decode(spec, wire.value, wire.headers) is not None


@pytest.mark.parametrize("moment", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_time_no_reader_can_hold_is_refused_with_its_field(moment: str) -> None:
    # Year 1 at +01:00 is year 0 in UTC: the sink and notify once stopped for good on it.
    spec = INCIDENT_REPORTS
    wire = encode(spec, VALID[spec.suffix](uuid.uuid4()), "urn:heterdaad:test")
    body = json.loads(wire.value) | {"occurred_at": moment}
    with pytest.raises(UndecodableRecord) as refused:
        decode(spec, json.dumps(body).encode(), wire.headers)
    assert str(refused.value) == (
        "occurred_at: Value error, lies outside 1970-01-01 to 9999-01-01 (UTC)"
    )


@pytest.mark.parametrize(
    ("field", "moment"),
    [("occurred_at", "2026-12-07T07:00:00+23:59"), ("received_at", "2026-12-07T07:00:00-16:00")],
)
def test_an_offset_no_place_has_is_refused_with_its_field(field: str, moment: str) -> None:
    # Python takes offsets up to ±23:59, PostgreSQL none past ±15:59: an activation verified
    # at +23:59 stopped the sink on every restart (its task settling reads the time from the
    # stored JSON), a report at +23:59 the unit's desk list.
    spec = ALARM_ACTIVATIONS
    wire = encode(spec, VALID[spec.suffix](uuid.uuid4()), "urn:heterdaad:test")
    body = json.loads(wire.value) | {field: moment}
    with pytest.raises(UndecodableRecord) as refused:
        decode(spec, json.dumps(body).encode(), wire.headers)
    assert str(refused.value) == (
        f"{field}: Value error, has a UTC offset beyond ±14:00, which no place has"
    )


# --- through a running worker and sink ----------------------------------------------------------


def draw_records(count: int, *, derandomize: bool) -> list[RawRecord]:
    """`count` records over the fuzzed topics, drawn by hypothesis ahead of producing them."""
    drawn: list[RawRecord] = []

    @fuzz_settings(_BASE, max_examples=count, derandomize=derandomize, phases=[Phase.generate])
    @given(record=raw_records(FUZZED, storable=True, huge_max=HUGE_MAX))
    def collect(record: RawRecord) -> None:
        drawn.append(record)

    collect()
    assert len(drawn) >= 0.9 * count, f"hypothesis drew {len(drawn)} of {count} records"
    # Hypothesis draws the same uuid again and again (e3e70682-…). Two events under one id are
    # a collision, which the sink dead-letters (id_taken, tests/consumers/test_sink.py); here
    # each id comes once, so that a dead letter is the codec's or the database's refusal.
    seen: set[uuid.UUID] = set()
    unique = []
    for record in drawn:
        event_id = _event_id_of(record.value)
        if event_id is None or event_id not in seen:
            unique.append(record)
        if event_id is not None:
            seen.add(event_id)
    return unique


def _event_id_of(value: bytes | None) -> uuid.UUID | None:
    """The event id a record's value names, if it names one a decoder would read."""
    if value is None:
        return None
    try:
        named = json.loads(value).get("event_id")
        return uuid.UUID(named) if isinstance(named, str) else None
    except (ValueError, AttributeError, RecursionError):  # not JSON, an object, a uuid
        return None


@dataclass(frozen=True)
class Sent:
    """A record as it landed: where, and whether the codec refuses it."""

    record: RawRecord
    partition: int
    offset: int
    refusal: str | None


async def _produce(settings: Settings, records: list[RawRecord]) -> list[Sent]:
    producer = make_producer(settings, max_request_size=1_048_576)
    await producer.start()
    try:
        pending = [
            await producer.send(
                record.spec.name(settings.topic_prefix),
                key=record.key,
                value=record.value,
                headers=list(record.headers),
            )
            for record in records
        ]
        landed = await asyncio.gather(*pending)
    finally:
        await producer.stop()
    skew = read_skew(timedelta(seconds=settings.clock_skew_seconds))
    return [
        Sent(record, metadata.partition, metadata.offset, record.refusal(skew))
        for record, metadata in zip(records, landed, strict=True)
    ]


async def _caught_up(settings: Settings, group_id: str, specs: tuple[TopicSpec, ...]) -> bool:
    """Whether the group committed every record now on the topics."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await reader.start()
    try:
        partitions = [
            TopicPartition(spec.name(settings.topic_prefix), partition)
            for spec in specs
            for partition in range(spec.partitions)
        ]
        ends = await reader.end_offsets(partitions)
        for partition in partitions:
            if (await reader.committed(partition) or 0) < ends[partition]:
                return False
        return True
    finally:
        await reader.stop()


async def _whole_topic(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now on a one-partition topic."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partition = TopicPartition(topic, 0)
        end = (await reader.end_offsets([partition]))[partition]
    finally:
        await reader.stop()
    if end == 0:
        return []
    return await read_topic(settings.kafka_bootstrap, topic, count=end, timeout=120)


class Watch:
    """The worker and sink processes: fails as soon as one exits or a worker agent crashes.

    Faust keeps the process up when an agent crashes, but the agent's partitions then stall:
    for alerting that is as bad as an exit, so the worker's log is watched for it.
    """

    def __init__(
        self, worker: subprocess.Popen[bytes], sink: subprocess.Popen[bytes], logs: dict[str, Path]
    ) -> None:
        self.processes = {"worker": worker, "sink": sink}
        self.logs = logs
        self._read = 0

    def check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-4000:]
                raise AssertionError(f"the {name} exited with {process.returncode}:\n{tail}")
        with self.logs["worker"].open("rb") as log:
            log.seek(self._read)
            new = log.read()
        self._read += len(new)
        crashed = [line for line in new.splitlines() if b"Crashed reason=" in line]
        if crashed:
            raise AssertionError(f"a worker agent crashed: {crashed[0].decode(errors='replace')}")


async def _within(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    try:
        return await eventually(probe, timeout=timeout, interval=1.0)
    except TimeoutError:
        raise AssertionError(f"{what} within {timeout:.0f} s") from None


DeadLetterKey = tuple[str, int, int, str]  # source topic, partition, offset, stage


def _expected_dead_letters(settings: Settings, sent: list[Sent]) -> Counter[DeadLetterKey]:
    expected: Counter[DeadLetterKey] = Counter()
    for item in sent:
        if item.refusal is None:
            continue
        topic = item.record.spec.name(settings.topic_prefix)
        for stage in OWNERS[item.record.spec.suffix]:
            expected[(topic, item.partition, item.offset, stage)] += 1
    return expected


def _dead_letter_key(record: ConsumerRecord[bytes, bytes]) -> DeadLetterKey:
    headers = dict(record.headers)
    return (
        headers[DLQ_TOPIC].decode(),
        int(headers[DLQ_PARTITION]),
        int(headers[DLQ_OFFSET]),
        headers[DLQ_STAGE].decode(),
    )


async def _fuzz_worker_and_sink(
    settings: Settings,
    db: asyncpg.Connection,
    tmp_path: Path,
    records: list[RawRecord],
) -> None:
    """Produce the records with a worker and a sink running, then account for every one."""
    timeout = 120 + len(records) / 20
    logs = {"worker": tmp_path / "worker.log", "sink": tmp_path / "sink.log"}
    with (
        running(settings, "worker", log=logs["worker"]) as worker,
        running(settings, "sink", log=logs["sink"]) as sink,
    ):
        watch = Watch(worker, sink, logs)
        sent = await _produce(settings, records)
        sources = tuple(spec for spec in FUZZED if spec in SOURCES)

        async def consumed() -> bool:
            watch.check()
            worker_done = await _caught_up(settings, settings.app_id, sources)
            return worker_done and await _caught_up(settings, f"{settings.app_id}-sink", FUZZED)

        await _within(consumed, timeout, "the worker and the sink did not consume every record")

        expected = _expected_dead_letters(settings, sent)

        async def all_dead_letters() -> list[ConsumerRecord[bytes, bytes]] | None:
            watch.check()
            found = []
            for spec in FUZZED:
                found += await _whole_topic(settings, spec.dead_letter_name(settings.topic_prefix))
            return found if len(found) >= sum(expected.values()) else None

        dead = await _within(
            all_dead_letters, timeout, f"fewer than {sum(expected.values())} dead letters"
        )

        # Valid incident reports still become robbery alerts, however much garbage surrounds them.
        wanted = {
            f"robbery_reported:{_event_id(item.record)}".encode()
            for item in sent
            if item.record.spec is INCIDENT_REPORTS and item.refusal is None
        }
        await read_keys(settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), wanted,
                        timeout=timeout, while_alive=worker)  # fmt: skip
        watch.check()

    _account(settings, sent, expected, dead)
    await _assert_good_ones_stored(db, sent)


def _account(
    settings: Settings,
    sent: list[Sent],
    expected: Counter[DeadLetterKey],
    dead: list[ConsumerRecord[bytes, bytes]],
) -> None:
    """Exactly one dead letter per bad record per owner: none missing, none twice, none for a
    good record; each says why and keeps the original value."""
    by_origin = {
        (item.record.spec.name(settings.topic_prefix), item.partition, item.offset): item.record
        for item in sent
    }

    def describe(key: DeadLetterKey) -> str:
        origin = by_origin.get(key[:3])
        return f"by {key[3]}: " + (origin.describe() if origin else f"no record sent at {key[:3]}")

    found = Counter(_dead_letter_key(record) for record in dead)
    missing, extra = expected - found, found - expected
    assert not missing, "not dead-lettered:\n" + "\n".join(describe(key) for key in missing)
    assert not extra, "dead-lettered wrongly or twice:\n" + "\n".join(
        f"{describe(key)} ({count} too many)" for key, count in extra.items()
    )
    for record in dead:
        origin = by_origin[_dead_letter_key(record)[:3]]
        assert dict(record.headers)[DLQ_REASON].strip(), origin.describe()
        # The value whole, or its first DLQ_MAX_VALUE_BYTES with the original length noted.
        whole, cut = dead_letter_value(origin.value)
        assert record.value == whole, origin.describe()
        assert [(k, v) for k, v in record.headers if k == DLQ_TRUNCATED] == cut


async def _assert_good_ones_stored(db: asyncpg.Connection, sent: list[Sent]) -> None:
    good = [item.record for item in sent if item.refusal is None]
    for spec, table, column in (
        (ALARM_ACTIVATIONS, "event", "event_id"),
        (INCIDENT_REPORTS, "event", "event_id"),
        (RECON_SIGHTINGS, "event", "event_id"),
        (ALERTS, "alert", "alert_id"),
        (ALARM_TASKS, "alarm_task", "task_id"),
    ):
        ids = {_event_id(record) for record in good if record.spec is spec}
        stored = await db.fetch(
            f"SELECT {column} FROM {table} WHERE {column} = ANY($1::uuid[])", list(ids)
        )
        assert {str(row[column]) for row in stored} == ids, f"good records of {spec.suffix}"


def _event_id(record: RawRecord) -> str:
    model = decode(record.spec, record.value, list(record.headers))
    for field in ("event_id", "alert_id", "audit_id", "task_id"):
        if field in type(model).model_fields:
            return str(getattr(model, field))
    raise AssertionError(f"{type(model).__name__} has no id")


DEFAULT_RECORDS = 400
LONG_RECORDS = 11_000  # at least 10,000 even if hypothesis draws a few less


@pytest.mark.integration
async def test_bad_records_are_dead_lettered_once_per_owner(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    records = draw_records(DEFAULT_RECORDS, derandomize=True)
    await _fuzz_worker_and_sink(settings, db, tmp_path, records)


@pytest.mark.integration
@pytest.mark.long
@pytest.mark.timeout(4 * 3600)
async def test_bad_records_are_dead_lettered_once_per_owner_long(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    records = draw_records(LONG_RECORDS, derandomize=False)
    await _fuzz_worker_and_sink(settings, db, tmp_path, records)


# --- records at the edges -----------------------------------------------------------------------


@pytest.mark.integration
async def test_records_near_the_size_limit_are_dead_lettered_once_per_owner(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # The broker takes records of up to about 1 MiB (message.max.bytes 1048588); garbage that
    # big is still garbage, and its dead letter (value plus headers) must get out too: it keeps
    # the value's first DLQ_MAX_VALUE_BYTES and notes the length.
    records = [
        RawRecord(spec, b"k", random.Random(size).randbytes(size), (), f"garbage of {size} bytes")
        for spec in (INCIDENT_REPORTS, ALARM_ACTIVATIONS)
        for size in (990_000, 1_040_000, 1_048_000)
    ]
    records.append(RawRecord.valid(INCIDENT_REPORTS, factories.incident_report()))
    await _fuzz_worker_and_sink(settings, db, tmp_path, records)


def _patched(spec: TopicSpec, model: Contract, text: str, replacement: str) -> RawRecord:
    """A valid record with a piece of its JSON replaced as text: what another producer (or a
    bug in one of ours) might write."""
    wire = encode(spec, model, "urn:heterdaad:test")
    assert text in wire.value.decode(), text
    value = wire.value.decode().replace(text, replacement).encode()
    return RawRecord(spec, wire.key, value, tuple(wire.headers), f"patched {replacement}")


@pytest.mark.integration
async def test_a_record_the_database_refuses_is_dead_lettered_by_the_sink(
    settings: Settings, db: asyncpg.Connection
) -> None:
    # Each decodes today (the contract refuses control characters in its text fields, but not
    # inside dicts, and takes NaN) and each is refused by jsonb.
    similar = EvidenceLink(
        event_id=uuid.uuid4(), event_type="incident_report", similarity={"kleur": 0.5}
    )
    poison = [
        # NaN in an alert's evidence similarity: Python's JSON may accept it, jsonb does not.
        _patched(ALERTS, factories.alert(evidence=[similar]), '"kleur":0.5', '"kleur":NaN'),
        # A NUL in a key of an alert's evidence similarity, stored in the alert's payload.
        _patched(ALERTS, factories.alert(evidence=[similar]), '"kleur"', '"kle\\u0000ur"'),
    ]
    after = factories.incident_report()
    sent = await _produce(settings, [*poison, RawRecord.valid(INCIDENT_REPORTS, after)])

    stop = asyncio.Event()
    async with Sink(settings) as sink:
        task = asyncio.create_task(sink.run(stop))

        async def stored_after() -> bool:
            if task.done():
                raise AssertionError(f"the sink stopped: {task.exception()!r}")
            rows = await db.fetchval(
                "SELECT count(*) FROM event WHERE event_id = $1", after.event_id
            )
            return bool(rows)

        try:
            await _within(stored_after, 60, "the record after the poison was not stored")
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)

    # However a fix goes (the contract refusing such text, or the sink dead-lettering what the
    # database refuses), the sink accounts for each poison record in the dead letters.
    dead: list[ConsumerRecord[bytes, bytes]] = []
    for spec in (ALERTS,):
        dead += await _whole_topic(settings, spec.dead_letter_name(settings.topic_prefix))
    stages = Counter(_dead_letter_key(record) for record in dead)
    for item in sent[: len(poison)]:
        origin = (item.record.spec.name(settings.topic_prefix), item.partition, item.offset)
        assert stages[(*origin, "sink")] == 1, item.record.describe()
