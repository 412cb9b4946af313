"""Reading the dead-letter topics and publishing chosen dead letters again to their source topic.

A record a reader could not use lies on `<topic>.dlq` with its reason (heterdaad/events/
dead_letters.py, streams/dead_letters.py). A reader of an older release dead-letters valid
records of a newer writer (docs/operations.md, "Upgrading"); once the reader is upgraded, the
replay sends them back unchanged (key, value, the original headers) for it to take. Readers
keep one event per event id (consumers/event_ids.py, deterministic alert ids), so a record the
replay sends again, or one another reader did use, is a repeat and changes nothing.

What cannot be the original record or would only be dead-lettered again is refused, each with
its reason (`refusal`). Nothing here prints a record's value: it may hold names and
descriptions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from heterdaad.audit import AuditRow, write_audit_rows
from heterdaad.event_time import ENTERING, ahead_of_clock
from heterdaad.events.dead_letters import dead_letters_now
from heterdaad.kafka import make_producer
from heterdaad.metrics import reason_class
from schemas.pseudonym import SIDECODES
from schemas.wire import (
    DLQ_AT,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_STAGE,
    DLQ_TOPIC,
    DLQ_TRUNCATED,
    UndecodableRecord,
    decode,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import asyncpg
    from aiokafka.structs import ConsumerRecord

    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)

DLQ_HEADER_PREFIX = "x-heterdaad-dlq-"
REPLAYED = "dead_letters_replayed"  # the audit action
# The id every record of the catalogue carries (schemas/wire.encode): one event, one id.
EVENT_ID_HEADER = "ce_id"


def _masked_plate_pattern() -> re.Pattern[bytes]:
    """A plate as the dead-letter writer masks it (schemas.pseudonym.mask_plates): every letter
    and digit a `*`, the separators kept, in any sidecode's shape."""
    shapes = {
        separator.join(rb"\*" * len(group) for group in groups)
        for groups in SIDECODES.values()
        for separator in (b"-", b"", b" ")
    }
    alternatives = b"|".join(sorted(shapes))
    before, after = rb"(?<![A-Za-z0-9*-])", rb"(?![A-Za-z0-9*]|-[A-Za-z0-9*])"
    return re.compile(before + b"(?:" + alternatives + b")" + after)


MASKED_PLATE = _masked_plate_pattern()


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of a dead-letter topic, where it lies and what its headers say."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        found = next((value for key, value in self.headers if key == name), b"")
        return found.decode(errors="replace")

    @property
    def reason(self) -> str:
        return self.header(DLQ_REASON)

    @property
    def reason_class(self) -> str:
        return reason_class(self.reason)

    @property
    def stage(self) -> str:
        return self.header(DLQ_STAGE)

    @property
    def source(self) -> str:
        """Where the record was read: topic/partition/offset."""
        return f"{self.header(DLQ_TOPIC)}/{self.header(DLQ_PARTITION)}/{self.header(DLQ_OFFSET)}"

    @property
    def event_id(self) -> str:
        return self.header(EVENT_ID_HEADER)

    @property
    def set_aside_at(self) -> str:
        return self.header(DLQ_AT) or self.timestamp.isoformat()

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had on its source topic, without the dead-letter ones."""
        return [(name, value) for name, value in self.headers
                if not name.startswith(DLQ_HEADER_PREFIX)]  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """Which dead letters a replay takes: offsets on the dead-letter topic, a reason class
    (heterdaad.metrics.reason_class), a time from which on; None takes all."""

    offsets: Offsets | None = None
    reason_class: str | None = None
    since: datetime | None = None

    def takes(self, letter: DeadLetterRecord) -> bool:
        return (
            (self.offsets is None or letter.offset in self.offsets)
            and (self.reason_class is None or letter.reason_class == self.reason_class)
            and (self.since is None or letter.timestamp >= self.since)
        )


@dataclass(frozen=True)
class Offsets:
    """Offsets on a dead-letter topic as the ranges given: `0-99999999999` is two numbers, not
    a set of a hundred billion (it took all memory and the command was killed)."""

    ranges: tuple[range, ...]

    def __contains__(self, offset: object) -> bool:
        return any(offset in span for span in self.ranges)


def parse_offsets(text: str) -> Offsets:
    """Offsets as `3,7,10-20`; ValueError naming what is not one."""
    ranges: list[range] = []
    for part in (piece.strip() for piece in text.split(",")):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"{part!r} is not an offset or a range of offsets (3 or 10-20)")
        low, high = int(first), int(last or first)
        if high < low:
            raise ValueError(f"{part!r} ends before it starts")
        ranges.append(range(low, high + 1))
    return Offsets(tuple(ranges))


def refusal(
    letter: DeadLetterRecord, spec: TopicSpec, prefix: str, *, now: datetime, skew: timedelta
) -> str | None:
    """Why the dead letter cannot go back to `spec`'s topic unchanged, or None if it can.
    `skew` is how far ahead of `now` an event time may lie: the edges' (clock_skew_seconds),
    not the readers' wider one, since a replay enters events as an edge does; a report sent
    back 11 minutes early was taken and shown as "just now", 11 minutes before it happened."""
    if letter.header(DLQ_TOPIC) != spec.name(prefix):
        return (f"set aside from {letter.header(DLQ_TOPIC) or 'an unnamed topic'}, not from "
                f"{spec.name(prefix)}: only records of the source topic go back")  # fmt: skip
    if truncated := letter.header(DLQ_TRUNCATED):
        return f"only the start of the value was kept (it had {truncated} bytes)"
    kept = (letter.value, *(value for _, value in letter.original_headers()))
    if any(MASKED_PLATE.search(part) for part in kept):
        # mask_plates hides a raw plate in a dead letter; the original is then not known.
        return "plate-shaped text was masked in the dead letter: the record as sent is not known"
    if letter.reason_class == "id_taken":
        return "another event holds its event id: the sink would refuse it again"
    try:
        model = decode(spec, letter.value, letter.original_headers())
    except UndecodableRecord as error:
        return f"this release cannot decode it either ({error.reason[:200]})"
    if spec in ENTERING and (ahead := ahead_of_clock(model, now=now, skew=skew)) is not None:
        # As an edge refuses it; the worker's intake and the sink may set it aside again.
        return f"its time is still ahead of the clock ({ahead})"
    if not letter.event_id:
        return "it carries no event id (ce_id), so a repeat could not be told"
    return None


@dataclass(frozen=True)
class Plan:
    """What a replay sends, what it refuses and why, and what it leaves as a repeat."""

    send: tuple[DeadLetterRecord, ...]
    refused: tuple[tuple[DeadLetterRecord, str], ...]
    repeats: tuple[DeadLetterRecord, ...]  # an event id sent already in this replay


def plan(
    letters: Iterable[DeadLetterRecord],
    spec: TopicSpec,
    prefix: str,
    *,
    now: datetime,
    skew: timedelta,
) -> Plan:
    """The replay of `letters`: each event id sent once (one record may be dead-lettered by
    several readers, docs/operations.md), the refused ones with their reason (`refusal`)."""
    send, refused, repeats = [], [], []
    sent_ids: set[str] = set()
    for letter in letters:
        if (why := refusal(letter, spec, prefix, now=now, skew=skew)) is not None:
            refused.append((letter, why))
        elif letter.event_id in sent_ids:
            repeats.append(letter)
        else:
            sent_ids.add(letter.event_id)
            send.append(letter)
    return Plan(tuple(send), tuple(refused), tuple(repeats))


async def read_dead_letters(settings: Settings, spec: TopicSpec) -> list[DeadLetterRecord]:
    """Every record on `spec`'s dead-letter topic up to its end now, in offset order."""
    return [_dead_letter(record) for record in await dead_letters_now(settings, spec)]


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetterRecord:
    return DeadLetterRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key,
        value=record.value or b"",
        headers=tuple(record.headers),
    )


async def publish_again(
    settings: Settings,
    spec: TopicSpec,
    letters: Sequence[DeadLetterRecord],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Send each dead letter to its source topic as it was (key, value, original headers);
    the number the broker acknowledged. A failure stops it: what was acknowledged stays sent."""
    topic, sent = spec.name(settings.topic_prefix), 0
    producer = make_producer(settings)
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(topic, key=letter.key, value=letter.value,
                                         headers=letter.original_headers())  # fmt: skip
            sent += 1
            if progress is not None:
                progress(sent, len(letters))
    finally:
        await producer.stop()
        logger.info("dead letters published again",
                    extra={"topic": spec.suffix, "sent": sent, "chosen": len(letters)})  # fmt: skip
    return sent


async def audit_replay(
    connection: asyncpg.Connection, actor: str, spec: TopicSpec, replay: Plan, sent: int
) -> None:
    """Who sent which dead letters back, and what was refused why (offsets on the dead-letter
    topic and event ids only: the trail holds no record's content)."""
    details = {
        "sent": sent,
        "offsets": [letter.offset for letter in replay.send[:sent]],
        "event_ids": [letter.event_id for letter in replay.send[:sent]],
        "refused": {str(letter.offset): why for letter, why in replay.refused},
        "repeats": [letter.offset for letter in replay.repeats],
    }
    await write_audit_rows(connection, [AuditRow(datetime.now(UTC), actor, REPLAYED,
                                                 f"{spec.suffix}.dlq", details)])  # fmt: skip
