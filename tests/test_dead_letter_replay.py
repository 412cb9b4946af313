"""Choosing dead letters to send back: the selection, the refusals, one per event id."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

import heterdaad.events.consumer as consumer_module
from assembly.dead_letters_cli import listed_line
from heterdaad.dead_letter_replay import (
    DeadLetterRecord,
    Selection,
    parse_offsets,
    plan,
    refusal,
)
from heterdaad.events import Batch, EventConsumer, Refusal
from heterdaad.events.dead_letters import letter
from heterdaad.kafka import make_producer
from schemas.alerts import Alert
from schemas.topics import ALERTS, INCIDENT_REPORTS
from schemas.wire import DLQ_MAX_VALUE_BYTES, UndecodableRecord, WireRecord, decode, encode
from tests import factories
from tests.factories import PLATE_PSEUDONYM
from tests.kafka_helpers import eventually, publish_all, read_topic, records_up_to_now

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import asyncpg

    from heterdaad.settings import Settings
    from schemas.common import Contract
    from schemas.topics import TopicSpec

PREFIX = "heterdaad."
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OLD_READER = "bulletin: Extra inputs are not permitted"
NOW, SKEW = AT + timedelta(days=1), timedelta(minutes=2)  # the command's clock, the edges' skew


def dead(
    value: bytes | None = None,
    *,
    offset: int = 0,
    reason: str = OLD_READER,
    topic: str = ALERTS.name(PREFIX),
    headers: list[tuple[str, bytes]] | None = None,
    key: bytes | None = b"k",
    at: datetime = AT,
    record: WireRecord | None = None,
) -> DeadLetterRecord:
    """A dead letter as the real writer makes it (heterdaad.events.dead_letters.letter), of a
    valid alert unless `value` says otherwise."""
    if value is None:
        record = record or encode(ALERTS, factories.alert(), "urn:test")
        value, key, headers = record.value, record.key, record.headers
    made = letter(key=key, value=value, headers=headers or [], reason=reason, topic=topic,
                  partition=1, offset=41, stage="sink")  # fmt: skip
    return DeadLetterRecord(topic=ALERTS.dead_letter_name(PREFIX), partition=0, offset=offset,
                            timestamp=at, key=made.key, value=made.value,
                            headers=tuple(made.headers))  # fmt: skip


def test_an_alert_an_older_reader_set_aside_goes_back_with_its_original_headers() -> None:
    record = encode(ALERTS, factories.alert(), "urn:test")
    found = dead(record=record)
    assert refusal(found, ALERTS, PREFIX, now=NOW, skew=SKEW) is None
    assert found.value == record.value
    assert found.original_headers() == record.headers  # the x-heterdaad-dlq-* ones left out
    assert (found.stage, found.reason_class) == ("sink", "invalid_fields")
    assert found.source == f"{ALERTS.name(PREFIX)}/1/41"


REFUSED = [
    # read from a worker's internal topic: not a record of the source topic
    (dict(topic="heterdaad-link_series-reports"), "not from heterdaad.alerts.v1"),
    # set aside from another source topic's records
    (dict(topic=INCIDENT_REPORTS.name(PREFIX)), "not from heterdaad.alerts.v1"),
    # no CloudEvent at all: this release cannot decode it either
    (dict(value=b"{not json", reason="not a binary-mode CloudEvent: x"), "cannot decode it"),
    # the sink's collision: another event holds the id, it would be refused again
    (dict(reason="event id 1 is taken: another event holds it"), "another event holds"),
    # cut to the first 512 KiB
    (dict(value=b"x" * (DLQ_MAX_VALUE_BYTES + 1)), "only the start of the value"),
    # a raw plate in it was masked by the writer: the original is not known
    (dict(value=b'{"note": "12-ABC-3"}'), "plate-shaped text was masked"),
]


@pytest.mark.parametrize(("made", "why"), REFUSED)
def test_what_cannot_go_back_unchanged_is_refused_with_its_reason(
    made: dict[str, object], why: str
) -> None:
    reason = refusal(dead(**made), ALERTS, PREFIX, now=NOW, skew=SKEW)  # type: ignore[arg-type]
    assert reason is not None and why in reason


def test_a_masked_plate_in_the_reason_alone_refuses_nothing() -> None:
    # The reason header is the dead letter's own, and is not sent back.
    found = dead(reason="make: 12-ABC-3 is too long")
    assert refusal(found, ALERTS, PREFIX, now=NOW, skew=SKEW) is None


def test_an_event_still_ahead_of_the_clock_is_refused_and_one_now_past_goes_back() -> None:
    # The intake and the sink set aside a report dated ahead of their clock; sent back while
    # it still was, it was set aside again by both (or, within their wider margin, taken and
    # shown as "just now" before it happened).
    ahead = "occurred_at: lies in the future by more than the allowed clock skew (12 minutes)"
    soon = NOW + timedelta(minutes=11)
    record = encode(INCIDENT_REPORTS, factories.incident_report(occurred_at=soon), "urn:test")
    found = dead(record=record, reason=ahead, topic=INCIDENT_REPORTS.name(PREFIX))
    why = refusal(found, INCIDENT_REPORTS, PREFIX, now=NOW, skew=SKEW)
    assert why is not None and "still ahead of the clock" in why
    # Once its time has come the readers take it, as a late report.
    assert refusal(found, INCIDENT_REPORTS, PREFIX, now=soon, skew=SKEW) is None


def test_an_event_set_aside_by_two_readers_is_sent_once() -> None:
    first = dead(offset=3)
    again = DeadLetterRecord(**{**first.__dict__, "offset": 4})  # the other worker's letter
    other = dead(offset=5)
    letters = [first, again, other, dead(b"{bad", offset=6)]
    replay = plan(letters, ALERTS, PREFIX, now=NOW, skew=SKEW)
    assert [found.offset for found in replay.send] == [3, 5]
    assert [found.offset for found in replay.repeats] == [4]
    assert [found.offset for found, _ in replay.refused] == [6]


SELECTIONS = [
    # nothing said: all
    (Selection(), [0, 1, 2]),
    # offsets as listed
    (Selection(offsets=parse_offsets("0,2")), [0, 2]),
    # a reason class
    (Selection(reason_class="not_cloudevent"), [1]),
    # from a time on
    (Selection(since=AT + timedelta(hours=1)), [2]),
    # all of them together
    (Selection(parse_offsets("1-2"), "invalid_fields", AT), [2]),
]


@pytest.mark.parametrize(("selection", "offsets"), SELECTIONS)
def test_a_selection_takes_by_offset_reason_class_and_time(
    selection: Selection, offsets: list[int]
) -> None:
    letters = [dead(offset=0), dead(b"{", offset=1, reason="not a binary-mode CloudEvent: x"),
               dead(offset=2, at=AT + timedelta(hours=2))]  # fmt: skip
    assert [found.offset for found in letters if selection.takes(found)] == offsets


@pytest.mark.parametrize(
    ("text", "offsets"), [("3", {3}), ("3,7", {3, 7}), ("10-12, 4", {4, 10, 11, 12})]
)
def test_offsets_are_single_or_ranges(text: str, offsets: set[int]) -> None:
    chosen = parse_offsets(text)
    assert {offset for offset in range(20) if offset in chosen} == offsets


def test_a_wide_range_of_offsets_is_kept_as_a_range() -> None:
    # `--offsets 0-99999999999` was made a set of every offset: the command took all memory
    # and was killed. Run where memory is bounded, so that such a set fails here at once.
    check = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))\n"
        "from heterdaad.dead_letter_replay import parse_offsets\n"
        "chosen = parse_offsets('3, 0-99999999999')\n"
        "assert 99999999999 in chosen and 100000000000 not in chosen and -1 not in chosen\n"
    )
    finished = subprocess.run([sys.executable, "-c", check], capture_output=True, check=False)
    assert finished.returncode == 0, finished.stderr.decode()[-500:]


@pytest.mark.parametrize("text", ["", "a", "5-3", "-2", "1-"])
def test_what_is_no_offset_is_named(text: str) -> None:
    with pytest.raises(ValueError, match=r"offset|ends before"):
        parse_offsets(text)


# Through real Kafka and PostgreSQL: a reader of the release before sets a valid alert aside,
# the operator lists and replays it with the command, and the upgraded reader takes it.


class _OlderRelease:
    """The decode of a reader of the release before alerts gained a field: every alert is
    refused as it refused them (docs/operations.md, "Upgrading")."""

    def __call__(
        self, spec: TopicSpec, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> Contract:
        decode(spec, value, headers)  # what this one cannot decode either keeps its reason
        raise UndecodableRecord(OLD_READER)


def _command(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    env |= {"HETERDAAD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "HETERDAAD_DATABASE_URL": settings.database_url,
            "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
            "HETERDAAD_TOPIC_PREFIX": settings.topic_prefix, "HETERDAAD_APP_ID": settings.app_id,
            "HETERDAAD_KAFKA_FLAVOUR": settings.kafka_flavour}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "assembly.cli", "dead-letters", *arguments],
                          env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


async def _read_alerts(
    settings: Settings, group_id: str, until: Callable[[list[Alert]], bool]
) -> list[Alert]:
    """What the grouped reader hands its handler until `until` holds."""
    handed: list[Alert] = []

    async def handle(batch: Batch[Alert]) -> list[Refusal]:
        handed.extend(batch.models)
        return []

    stop = asyncio.Event()
    async with EventConsumer(settings, [ALERTS], Alert, stage="sink", group_id=group_id) as reader:
        task = asyncio.create_task(reader.run(handle, stop))
        try:
            await eventually(lambda: _true(until(handed) or task.done()), timeout=60)
        finally:
            stop.set()
            await task
    return handed


async def _true(value: bool) -> bool:
    return value


@pytest.mark.integration
async def test_a_dead_lettered_alert_is_listed_replayed_and_taken_by_the_upgraded_reader(
    settings: Settings, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = factories.alert()
    await publish_all(settings, alert)
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(ALERTS.name(settings.topic_prefix), value=b"{not json")
    finally:
        await producer.stop()
    group = f"{settings.app_id}-sink"
    dlq = ALERTS.dead_letter_name(settings.topic_prefix)

    with monkeypatch.context() as older:
        older.setattr(consumer_module, "decode", _OlderRelease())
        # the older reader hands nothing on: it dead-letters both and commits past them
        async with EventConsumer(settings, [ALERTS], Alert, stage="sink", group_id=group) as old:
            stop = asyncio.Event()
            task = asyncio.create_task(old.run(_nothing, stop))
            await read_topic(settings.kafka_bootstrap, dlq, count=2)
            stop.set()
            await task

    listed = _command(settings, "list", "--topic", "alerts.v1")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()[1:]
    assert len(lines) == 2
    by_class = {line.split("\t")[6]: line.split("\t") for line in lines}
    assert by_class["invalid_fields"][5] == str(alert.alert_id)
    assert by_class["invalid_fields"][3] == "sink" and by_class["invalid_fields"][7] == OLD_READER
    assert "not_cloudevent" in by_class
    # no value and no key in the list: the plate's pseudonym and the dedup key stay out
    assert PLATE_PSEUDONYM not in listed.stdout and alert.dedup_key not in listed.stdout

    dry = _command(settings, "replay", "--topic", "alerts.v1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send 1, refused 1" in dry.stdout
    assert "cannot decode it either" in dry.stderr

    replayed = _command(settings, "replay", "--topic", "alerts.v1", "--reason-class",
                        "invalid_fields", "--actor", "beheer")  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert f"sent 1 to {ALERTS.name(settings.topic_prefix)}, refused 0" in replayed.stdout

    # the upgraded reader, in the same group, takes the alert as it was sent
    handed = await _read_alerts(settings, group, lambda handed: bool(handed))
    assert handed == [alert]
    sent = [record for record in await records_up_to_now(
        settings.kafka_bootstrap, ALERTS.name(settings.topic_prefix), ALERTS.partitions)
        if record.key == alert.dedup_key.encode()]  # fmt: skip
    assert [(r.value, r.headers) for r in sent[1:]] == [(sent[0].value, sent[0].headers)]
    assert len(await records_up_to_now(settings.kafka_bootstrap, dlq, 1)) == 2, "none again"

    [row] = await db.fetch("SELECT actor, subject, details FROM audit_log WHERE action = $1",
                           "dead_letters_replayed")  # fmt: skip
    details = json.loads(row["details"])
    assert (row["actor"], row["subject"]) == ("beheer", "alerts.v1.dlq")
    assert details["sent"] == 1 and details["event_ids"] == [str(alert.alert_id)]


async def _nothing(batch: Batch[Alert]) -> list[Refusal]:
    return []


@pytest.mark.integration
async def test_the_command_refuses_a_report_still_ahead_by_the_edges_skew(
    settings: Settings,
) -> None:
    # 5 minutes ahead: past the edges' 2 minutes, within the readers' 12. Sent back with the
    # readers' margin, the demo took such a report and showed it as "just now", early.
    soon = datetime.now(UTC) + timedelta(minutes=5)
    record = encode(INCIDENT_REPORTS, factories.incident_report(occurred_at=soon), "urn:test")
    made = letter(key=record.key, value=record.value, headers=record.headers, stage="intake",
                  reason="occurred_at: lies in the future by more than the allowed clock skew "
                  "(12 minutes)", topic=INCIDENT_REPORTS.name(settings.topic_prefix),
                  partition=0, offset=7)  # fmt: skip
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(INCIDENT_REPORTS.dead_letter_name(settings.topic_prefix),
                                     key=made.key, value=made.value,
                                     headers=made.headers)  # fmt: skip
    finally:
        await producer.stop()
    dry = _command(settings, "replay", "--topic", "incident-reports.v1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send 0, refused 1" in dry.stdout
    assert "still ahead of the clock" in dry.stderr and "(2 minutes)" in dry.stderr


def test_a_listed_line_escapes_what_the_record_s_writer_put_in_its_reason() -> None:
    # A field name of the record, quoted in the reason, cleared the operator's screen and
    # added a column to the list.
    hostile = "\x1b[2J\x1b[31mEVIL\tcol\rX: Extra inputs are not permitted"
    line = listed_line(dead(reason=hostile))
    assert line.count("\t") == 7
    assert line.endswith("\\u001b[2J\\u001b[31mEVIL\\tcol\\rX: Extra inputs are not permitted")
    assert not any(ord(c) < 32 and c != "\t" for c in line)


def test_a_replay_that_chooses_nothing_asks_for_all() -> None:
    # `replay --topic alerts.v1` alone would put the topic's whole dead-letter history back
    # on the live topic: refused before anything is read, with what to say instead.
    from typer.testing import CliRunner

    from assembly.cli import app

    outcome = CliRunner().invoke(app, ["dead-letters", "replay", "--topic", "alerts.v1"])
    assert outcome.exit_code == 2, (outcome.output, outcome.exception)
    assert "--all" in outcome.output and "--offsets" in outcome.output
