"""The SIA DC-09 receiver: code mapping, frames, answers, and real frames over TCP to Kafka."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pysiaalarm.event import SIAEvent

from producers.sia import SiaReceiver, frames
from producers.sia.accounts import SiaAccount
from producers.sia.codes import ADM_CID, NULL, SIA_DCS, Report, Signal, interpret, sia_reports
from producers.sia.handling import MAX_EVENTS_PER_FRAME, FrameHandler, RetransmissionMemory
from producers.sia.supervision import Link, silent_links
from schemas.common import BranchType
from schemas.events import AlarmActivation, AlarmSignal, AlarmSite
from schemas.topics import ALARM_ACTIVATIONS
from schemas.wire import decode_as
from tests.factories import DAM_SQUARE
from tests.kafka_helpers import eventually, read_topic

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import asyncpg

    from heterdaad.settings import Settings

P = AlarmSignal

# --- the code mapping ----------------------------------------------------------------------

MAPPING_CASES = [
    # SIA panic button, zone 501.
    (Report(SIA_DCS, sia_code="PA", number="501"), Signal(P.PANIC, "501", None)),
    # SIA hold-up with the user id modifier: the zone is the button, the user who pressed it.
    (Report(SIA_DCS, sia_code="HA", number="3", user="12"), Signal(P.HOLD_UP, "3", "12")),
    # Lower-case codes are the same codes.
    (Report(SIA_DCS, sia_code="ha", number="3"), Signal(P.HOLD_UP, "3", None)),
    # Panic restore, both SIA spellings.
    (Report(SIA_DCS, sia_code="PR", number="501"), Signal(P.RESTORE, "501", None)),
    (Report(SIA_DCS, sia_code="PH", number="501"), Signal(P.RESTORE, "501", None)),
    # Hold-up restore, both SIA spellings.
    (Report(SIA_DCS, sia_code="HR", number="3"), Signal(P.RESTORE, "3", None)),
    (Report(SIA_DCS, sia_code="HH", number="3"), Signal(P.RESTORE, "3", None)),
    # Automatic test: its number means nothing.
    (Report(SIA_DCS, sia_code="RP", number="0"), Signal(P.TEST, None, None)),
    # Manual test: its number is the user who ran it.
    (Report(SIA_DCS, sia_code="RX", number="7"), Signal(P.TEST, None, "7")),
    # Cancel report: the user who cancelled.
    (Report(SIA_DCS, sia_code="OC", number="4"), Signal(P.CANCEL, None, "4")),
    # DU is the Dealer ID in SIA, not duress: not forwarded.
    (Report(SIA_DCS, sia_code="DU", number="1"), None),
    # Burglary is not ours to forward (the panel gets DUH, not a false ACK).
    (Report(SIA_DCS, sia_code="BA", number="2"), None),
    # A SIA frame without a code.
    (Report(SIA_DCS), None),
    # The DC-09 null message is a link test, whatever else it holds.
    (Report(NULL), Signal(P.LINK_TEST, None, None)),
    # Contact ID 120 panic, zone 501.
    (
        Report(ADM_CID, cid_qualifier="1", cid_event="120", number="501"),
        Signal(P.PANIC, "501", None),
    ),
    # Contact ID 121 duress: the number is the user who entered the duress code.
    (
        Report(ADM_CID, cid_qualifier="1", cid_event="121", number="012"),
        Signal(P.DURESS, None, "012"),
    ),
    # Contact ID 122 silent panic: a hold-up button.
    (
        Report(ADM_CID, cid_qualifier="1", cid_event="122", number="003"),
        Signal(P.HOLD_UP, "003", None),
    ),
    # Contact ID 123 audible panic.
    (
        Report(ADM_CID, cid_qualifier="1", cid_event="123", number="004"),
        Signal(P.PANIC, "004", None),
    ),
    # Contact ID 124/125 duress with access or egress granted.
    (Report(ADM_CID, cid_qualifier="1", cid_event="124", number="5"), Signal(P.DURESS, None, "5")),
    (Report(ADM_CID, cid_qualifier="1", cid_event="125", number="5"), Signal(P.DURESS, None, "5")),
    # Qualifier 3 is the restore of any of them.
    (
        Report(ADM_CID, cid_qualifier="3", cid_event="120", number="501"),
        Signal(P.RESTORE, "501", None),
    ),
    (
        Report(ADM_CID, cid_qualifier="3", cid_event="122", number="003"),
        Signal(P.RESTORE, "003", None),
    ),
    # Qualifier 6 (still present) repeats what was reported: not a new activation.
    (Report(ADM_CID, cid_qualifier="6", cid_event="122", number="003"), None),
    # Contact ID 406 cancel by user 9.
    (
        Report(ADM_CID, cid_qualifier="1", cid_event="406", number="009"),
        Signal(P.CANCEL, None, "009"),
    ),
    # A restore of a cancel means nothing.
    (Report(ADM_CID, cid_qualifier="3", cid_event="406", number="009"), None),
    # Contact ID periodic test, zone field 000 means "none".
    (Report(ADM_CID, cid_qualifier="1", cid_event="602", number="000"), Signal(P.TEST, None, None)),
    # A test is a test whatever its qualifier.
    (Report(ADM_CID, cid_qualifier="3", cid_event="602", number="000"), Signal(P.TEST, None, None)),
    # Contact ID manual test by user 2.
    (
        Report(ADM_CID, cid_qualifier="1", cid_event="601", number="002"),
        Signal(P.TEST, None, "002"),
    ),
    # Contact ID burglary (130) is not forwarded.
    (Report(ADM_CID, cid_qualifier="1", cid_event="130", number="001"), None),
    # A message type we do not know.
    (Report("SIA-XYZ", sia_code="PA"), None),
]


@pytest.mark.parametrize(("report", "expected"), MAPPING_CASES)
def test_interpret(report: Report, expected: Signal | None) -> None:
    assert interpret(report) == expected


def _sia(code: str, number: str | None = None, user: str | None = None) -> Report:
    return Report(SIA_DCS, sia_code=code, number=number, user=user)


# A SIA DC-03 data block from its first code on, the user read before it, and its events.
BLOCK_CASES = [
    # One event, as most panels send it.
    ("PA501", None, [_sia("PA", "501")]),
    # Fire, then a hold-up: two events (the tester's frame that lost the hold-up).
    ("FA501/HA502", None, [_sia("FA", "501"), _sia("HA", "502")]),
    # Hold-up, then a panic restore.
    ("HA777/PR501", None, [_sia("HA", "777"), _sia("PR", "501")]),
    # The user read before the block holds for every event until another id comes.
    (
        "HA3/id13/HA4/PA5",
        "12",
        [_sia("HA", "3", "12"), _sia("HA", "4", "13"), _sia("PA", "5", "13")],
    ),
    # Modifiers in an order pysiaalarm does not read before the first code: not events.
    ("id12/ti10:05/HA3", None, [_sia("HA", "3", "12")]),
    # A peripheral and a second area are modifiers too; the area is not carried.
    ("pi5/HA3/ri2/HA3", None, [_sia("HA", "3"), _sia("HA", "3")]),
    # A "/" in the text between carets separates nothing.
    ("HA3^kassa 2/achter^/PA4", None, [_sia("HA", "3"), _sia("PA", "4")]),
    # An empty field is an event without a code (never forwarded).
    ("HA3/", None, [_sia("HA", "3"), Report(SIA_DCS)]),
]


@pytest.mark.parametrize(("block", "user", "expected"), BLOCK_CASES)
def test_sia_reports(block: str, user: str | None, expected: list[Report]) -> None:
    assert sia_reports(block, user) == expected


# --- frames --------------------------------------------------------------------------------

KEY_128 = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def test_crc_is_the_one_pysiaalarm_checks() -> None:
    for message in ['"NULL"0000L0#1234[]', '"SIA-DCS"0001L0#1234[#1234|Nri1/PA501]']:
        assert frames.crc16(message) == SIAEvent._crc_calc(message)


def test_header_refuses_a_wrong_crc_and_a_wrong_length() -> None:
    frame = frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501").decode().strip()
    assert frames.parse_header(frame).account == "1234"
    wrong_crc = ("0000" if not frame.startswith("0000") else "FFFF") + frame[4:]
    with pytest.raises(frames.FrameError, match="CRC"):
        frames.parse_header(wrong_crc)
    with pytest.raises(frames.FrameError, match="length"):
        frames.parse_header(frame[:-1])
    with pytest.raises(frames.FrameError, match="not a DC-09"):
        frames.parse_header("hello")


def test_encrypted_ack_carries_padding_and_a_timestamp() -> None:
    now = datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)
    frame = frames.build_frame(SIA_DCS, 42, "5678", "Nri1/PA501", key=KEY_128)
    header = frames.parse_header(frame.decode().strip())
    answer = frames.ack(header, KEY_128, now).decode()
    match = re.fullmatch(r'\n[0-9A-F]{8}"\*ACK"0042L0#5678\[([0-9A-F]+)\r', answer)
    assert match is not None
    assert frames.decrypt(match[1], KEY_128).endswith("|]_12:00:05,03-01-2025")


def test_nak_has_the_fixed_fields_of_the_standard() -> None:
    now = datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)
    answer = frames.nak(now).decode()
    assert answer[9:] == '"NAK"0000R0L0A0[]_12:00:05,03-01-2025\r'
    assert frames.crc16(answer[9:-1]) == answer[1:5]


# --- answering without broker or database ----------------------------------------------------

PLAIN_SITE = AlarmSite(site_id="site-plain", location=DAM_SQUARE, branch_type=BranchType.JEWELLER)
PLAIN = SiaAccount(PLAIN_SITE, "pac-noord", "1234", key=None, supervision=None, plain_frames=True)
KEYED = SiaAccount(PLAIN_SITE, "pac-noord", "5678", key=KEY_128, supervision=None)
# Registered without a key and not marked for plain frames: SIA does not hear it at all.
KEYLESS = SiaAccount(PLAIN_SITE, "pac-noord", "4321", key=None, supervision=None)


class Recorder:
    """Stands in for the broker: remembers what was published, or fails on request (from the
    start, or once `fail_after` activations were published)."""

    def __init__(self, *, fail: bool = False, fail_after: int | None = None) -> None:
        self.published: list[AlarmActivation] = []
        self.fail = fail
        self.fail_after = fail_after

    async def publish(self, activation: AlarmActivation) -> None:
        if self.fail or len(self.published) == self.fail_after:
            raise TimeoutError("broker does not answer")
        self.published.append(activation)


async def _lookup(account: str, line: str | None) -> SiaAccount | None:
    return {"1234": PLAIN, "5678": KEYED, "4321": KEYLESS}.get(account)


def _handler(
    recorder: Recorder, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FrameHandler:
    return FrameHandler(_lookup, recorder.publish, clock)


def _text(frame: bytes) -> str:
    return frame.decode().strip()


def _token(answer: bytes | None) -> str:
    assert answer is not None
    match = re.search(r'"(\*?[A-Z]+)"', answer.decode())
    assert match is not None
    return match[1]


async def test_a_frame_is_acked_only_once_published() -> None:
    recorder = Recorder()
    reply = await _handler(recorder).handle(
        _text(frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501")), "t"
    )
    assert _token(reply.answer) == "ACK"
    [activation] = recorder.published
    assert (activation.signal, activation.button_id) == (AlarmSignal.PANIC, "501")


async def test_a_frame_that_cannot_be_published_gets_no_answer() -> None:
    # No ACK for what the broker does not have: the panel retransmits or uses its backup path.
    reply = await _handler(Recorder(fail=True)).handle(
        _text(frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501")), "t"
    )
    assert reply.answer is None


# Collected long before they run: stamped at a fixed time, judged by a clock stopped there.
FRAMED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ANSWER_CASES = [
    # An account nobody registered.
    (frames.build_frame(SIA_DCS, 1, "9999", "Nri1/PA501", timestamp=FRAMED_AT), "NAK"),
    # A plain frame for an account that has a key could have been written by anyone.
    (frames.build_frame(SIA_DCS, 1, "5678", "Nri1/PA501", timestamp=FRAMED_AT), "NAK"),
    # A plain frame for a keyless account an admin did not mark for plain frames.
    (frames.build_frame(SIA_DCS, 1, "4321", "Nri1/HA3", timestamp=FRAMED_AT), "NAK"),
    # An encrypted frame for an account without a key cannot be read.
    (frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501", key=KEY_128, timestamp=FRAMED_AT), "NAK"),
    # Encrypted with another key: garbage after decryption.
    (
        frames.build_frame(SIA_DCS, 1, "5678", "Nri1/PA501", key=bytes(16), timestamp=FRAMED_AT),
        "NAK",
    ),
    # Stamped five minutes ago: a replay, or a panel clock far off.
    (
        frames.build_frame(
            SIA_DCS,
            1,
            "5678",
            "Nri1/PA501",
            key=KEY_128,
            timestamp=FRAMED_AT - timedelta(minutes=5),
        ),
        "NAK",
    ),
    # Stamped a minute ahead of us.
    (
        frames.build_frame(
            SIA_DCS, 1, "1234", "Nri1/PA501", timestamp=FRAMED_AT + timedelta(minutes=1)
        ),
        "NAK",
    ),
    # Well-formed, known account, a burglary: not ours, so DUH rather than a false ACK.
    (frames.build_frame(SIA_DCS, 1, "1234", "Nri1/BA2", timestamp=FRAMED_AT), "DUH"),
    # A message type we cannot read from a known account.
    (frames.build_frame("SIA-XYZ", 1, "1234", "Nri1/PA501", timestamp=FRAMED_AT), "DUH"),
    # Encrypted Contact ID hold-up: encrypted ACK.
    (
        frames.build_frame(ADM_CID, 1, "5678", "1122 01 003", key=KEY_128, timestamp=FRAMED_AT),
        "*ACK",
    ),
    # Plain null message: a link test, ACKed.
    (frames.build_frame(NULL, 0, "1234", "", timestamp=FRAMED_AT), "ACK"),
]


@pytest.mark.parametrize(("frame", "token"), ANSWER_CASES)
async def test_answers(frame: bytes, token: str) -> None:
    recorder = Recorder()
    reply = await _handler(recorder, clock=lambda: FRAMED_AT).handle(_text(frame), "t")
    assert _token(reply.answer) == token
    assert bool(recorder.published) == token.endswith("ACK")


def _frame_naming(header_account: str, data_account: str, key: bytes | None = None) -> bytes:
    """A hold-up whose data names another account than its header, as no panel writes it."""
    data = f"#{data_account}|Nri1/PA501]{frames.format_timestamp(FRAMED_AT)}"
    if key is not None:
        message = f'"*SIA-DCS"0001L0#{header_account}[{frames.encrypt("|" + data, key)}'
    else:
        message = f'"SIA-DCS"0001L0#{header_account}[{data}'
    return f"\n{frames.crc16(message)}{len(message):04X}{message}\r".encode()


@pytest.mark.parametrize(
    ("frame", "token"),
    [
        # Plain, for the plain-frame site 1234, its data naming the keyed site 5678.
        (_frame_naming("1234", "5678"), "NAK"),
        # Encrypted with 5678's key, its data naming 1234: before, ACKed and forwarded as an
        # alarm at 5678's site, whatever the data said.
        (_frame_naming("5678", "1234", KEY_128), "NAK"),
        # The same number written with a leading zero is the same account.
        (_frame_naming("5678", "05678", KEY_128), "*ACK"),
        (_frame_naming("1234", "1234"), "ACK"),
    ],
)
async def test_a_frame_whose_data_names_another_account_is_refused(
    frame: bytes, token: str
) -> None:
    recorder = Recorder()
    reply = await _handler(recorder, clock=lambda: FRAMED_AT).handle(_text(frame), "t")
    assert _token(reply.answer) == token
    assert len(recorder.published) == (1 if token.endswith("ACK") else 0)


def _resequenced(frame: bytes, sequence: int) -> bytes:
    """The same frame under another sequence number, length and CRC redone: a replay as an
    attacker who captured it sends it (the sequence number is outside the encryption)."""
    message = re.sub(r'^("\*?[A-Z-]+")\d{4}', rf"\g<1>{sequence:04d}", _text(frame)[8:])
    return f"\n{frames.crc16(message)}{len(message):04X}{message}\r".encode()


async def test_a_replayed_encrypted_frame_under_new_sequence_numbers_is_refused() -> None:
    # Issue 11, finding 14: one captured hold-up replayed gave 4 ACKs and 4 activations.
    recorder = Recorder()
    handler = _handler(recorder, clock=lambda: FRAMED_AT)
    captured = frames.build_frame(SIA_DCS, 1, "5678", "Nri1/HA3", key=KEY_128, timestamp=FRAMED_AT)
    replays = [_resequenced(captured, sequence) for sequence in (2, 3, 4)]
    # The first copy is taken, its replays are not; the panel's own retransmission (same
    # sequence number) still is, with the first copy's event id.
    sent = [captured, *replays, captured]
    tokens = [_token((await handler.handle(_text(frame), "t")).answer) for frame in sent]
    assert tokens == ["*ACK", "NAK", "NAK", "NAK", "*ACK"]
    assert len(recorder.published) == 2
    assert len({activation.event_id for activation in recorder.published}) == 1
    # A second press, encrypted anew, is a new message even with the same content and time.
    again = frames.build_frame(SIA_DCS, 2, "5678", "Nri1/HA3", key=KEY_128, timestamp=FRAMED_AT)
    assert _token((await handler.handle(_text(again), "t")).answer) == "*ACK"


ENUMERATION_PROBES = {
    # An automatic test in plain text, the cheapest probe.
    "plain_test": lambda account: frames.build_frame(
        SIA_DCS, 1, account, "Nri0/RP0", timestamp=FRAMED_AT
    ),
    # An automatic test encrypted with a guessed key.
    "encrypted_test": lambda account: frames.build_frame(
        SIA_DCS, 1, account, "Nri0/RP0", key=bytes(16), timestamp=FRAMED_AT
    ),
    # A message type nobody reads, encrypted with a guessed key.
    "unread_type": lambda account: frames.build_frame(
        "SIA-XYZ", 1, account, "Nri0/RP0", key=bytes(16), timestamp=FRAMED_AT
    ),
}


@pytest.mark.parametrize("probe", sorted(ENUMERATION_PROBES))
async def test_an_answer_does_not_tell_whether_an_account_exists(probe: str) -> None:
    # Issue 11, finding 3: an RP frame was ACKed for a known account and NAKed for others.
    answers = {}
    for account in ("5678", "4321", "9999"):  # keyed, keyless (not plain), unknown
        frame = ENUMERATION_PROBES[probe](account)
        reply = await _handler(Recorder(), clock=lambda: FRAMED_AT).handle(_text(frame), "t")
        assert reply.answer is not None
        # A NAK has fixed fields; a DUH echoes the account it was sent for (and its CRC
        # differs with it), so the message after CRC and length is compared.
        answers[account] = reply.answer.decode()[9:].replace(account, "ACCOUNT")
    assert len(set(answers.values())) == 1, answers


async def test_plain_frames_are_marked_unauthenticated() -> None:
    recorder = Recorder()
    handler = _handler(recorder, clock=lambda: FRAMED_AT)
    for frame in (
        frames.build_frame(SIA_DCS, 1, "1234", "Nri1/HA3", timestamp=FRAMED_AT),
        frames.build_frame(SIA_DCS, 1, "5678", "Nri1/HA3", key=KEY_128, timestamp=FRAMED_AT),
    ):
        await handler.handle(_text(frame), "t")
    assert [activation.unauthenticated for activation in recorder.published] == [True, False]


BLOCK_ANSWER_CASES = [
    # A fire we do not forward does not hide the hold-up after it.
    ("1234", "Nri1/FA501/HA502", "ACK", [(P.HOLD_UP, "502", None)]),
    # Both events forwarded, not only the first.
    ("1234", "Nri1/HA777/PR501", "ACK", [(P.HOLD_UP, "777", None), (P.RESTORE, "501", None)]),
    # Each event with the user of the id modifier before it.
    ("1234", "Nid12/ri1/HA3/id13/PA4", "ACK", [(P.HOLD_UP, "3", "12"), (P.PANIC, "4", "13")]),
    # Encrypted: the same, with an encrypted ACK.
    ("5678", "Nri1/FA501/HA502", "*ACK", [(P.HOLD_UP, "502", None)]),
    # Fire and burglary: nothing of ours in the block.
    ("1234", "Nri1/FA501/BA2", "DUH", []),
]


@pytest.mark.parametrize(("account", "data", "token", "published"), BLOCK_ANSWER_CASES)
async def test_every_event_of_a_block_is_handled(
    account: str, data: str, token: str, published: list[tuple[AlarmSignal, str, str | None]]
) -> None:
    recorder = Recorder()
    key = KEY_128 if account == "5678" else None
    frame = frames.build_frame(SIA_DCS, 21, account, data, key=key, timestamp=FRAMED_AT)
    reply = await _handler(recorder, clock=lambda: FRAMED_AT).handle(_text(frame), "t")
    assert _token(reply.answer) == token
    got = [(a.signal, a.button_id, a.user_id) for a in recorder.published]
    assert got == published
    assert len({activation.event_id for activation in recorder.published}) == len(published)


async def test_the_events_of_a_block_keep_their_ids_when_sent_again() -> None:
    recorder = Recorder(fail_after=1)
    handler = _handler(recorder, clock=lambda: FRAMED_AT)
    block = frames.build_frame(SIA_DCS, 21, "1234", "Nri1/HA3/PA4", timestamp=FRAMED_AT)
    # The broker takes the hold-up and fails on the panic: no answer, the panel sends again.
    assert (await handler.handle(_text(block), "t")).answer is None
    recorder.fail_after = None
    restamped = frames.build_frame(
        SIA_DCS, 21, "1234", "Nri1/HA3/PA4", timestamp=FRAMED_AT + timedelta(seconds=2)
    )
    assert _token((await handler.handle(_text(restamped), "t")).answer) == "ACK"
    first, hold_up, panic = recorder.published
    assert [a.signal for a in (first, hold_up, panic)] == [P.HOLD_UP, P.HOLD_UP, P.PANIC]
    # The hold-up again is a duplicate of the first, not a new press.
    assert hold_up.event_id == first.event_id != panic.event_id
    # After a restart, the block's first event has the id the frame with it alone has.
    alone = Recorder()
    frame = frames.build_frame(SIA_DCS, 21, "1234", "Nri1/HA3", timestamp=FRAMED_AT)
    await _handler(alone, clock=lambda: FRAMED_AT).handle(_text(frame), "t")
    assert [a.event_id for a in alone.published] == [first.event_id]


def test_a_retransmission_keeps_its_event_id_even_when_restamped() -> None:
    memory = RetransmissionMemory(window=timedelta(minutes=10))
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    first = memory.event_id("pac:1234:0001:PA", now, now)
    assert (
        memory.event_id(
            "pac:1234:0001:PA", now + timedelta(seconds=30), now + timedelta(seconds=30)
        )
        == first
    )
    assert memory.event_id("pac:1234:0002:PA", now, now) != first
    # After a restart the same frame (same timestamp) still gets the same id.
    assert RetransmissionMemory().event_id("pac:1234:0001:PA", now, now) == first


# --- link supervision, pure -------------------------------------------------------------------

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=25)

SILENCE_CASES = [
    # Heard an hour ago: fine.
    (Link("a", T0 - timedelta(hours=1), None), False),
    # Heard 26 hours ago with the default 25 h: silent.
    (Link("a", T0 - timedelta(hours=26), None), True),
    # Exactly at the limit: not yet.
    (Link("a", T0 - DAY, None), False),
    # Its own interval of 2 h overrides the default.
    (Link("a", T0 - timedelta(hours=3), timedelta(hours=2)), True),
    # Its own interval of a week: 26 hours is fine.
    (Link("a", T0 - timedelta(hours=26), timedelta(days=7)), False),
]


@pytest.mark.parametrize(("link", "silent"), SILENCE_CASES)
def test_silent_links(link: Link, silent: bool) -> None:
    assert (silent_links([link], T0, DAY) == [link]) is silent


# --- through TCP, Kafka and PostgreSQL --------------------------------------------------------

KEYS = {16: KEY_128, 24: bytes(range(24)), 32: bytes(range(32))}


@dataclass
class Clock:
    """The receiver's clock, shifted by the test instead of waiting hours."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def sites(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO organisation (organisation_id, name, role) "
        "VALUES ('pac-noord', 'PAC Noord', 'alarm_centre')"
    )
    await db.execute(
        "INSERT INTO branch (branch_id, organisation_id, chain, branch_type, lat, lon) "
        "VALUES ('juwelier-1', 'pac-noord', 'Goudsmid', 'jeweller', 52.3731, 4.8926)"
    )
    for account, key in [("1234", None), *((f"50{n}", key) for n, key in KEYS.items())]:
        await db.execute(
            "INSERT INTO alarm_site (site_id, alarm_centre, subscriber_account, branch_id, sia_key,"
            " sia_plain_frames) VALUES ($1, 'pac-noord', $2, 'juwelier-1', $3, $3::bytea IS NULL)",
            f"site-{account}",
            account,
            key,
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_a_block_of_more_events_than_a_panel_sends_is_refused_whole() -> None:
    # A 4 KB plain frame held some 1,300 panics ("PA/PA/..."), each published as an activation
    # and logged with the whole block: one frame anyone could type made 1,300 stored events.
    recorder = Recorder()
    handler = _handler(recorder, clock=lambda: FRAMED_AT)
    most = "/".join(f"PA{zone}" for zone in range(1, MAX_EVENTS_PER_FRAME + 1))
    frame = frames.build_frame(SIA_DCS, 41, "1234", f"Nri1/{most}", timestamp=FRAMED_AT)
    assert _token((await handler.handle(_text(frame), "t")).answer) == "ACK"
    assert len(recorder.published) == MAX_EVENTS_PER_FRAME
    recorder.published.clear()
    frame = frames.build_frame(SIA_DCS, 42, "1234", f"Nri1/{most}/PA99", timestamp=FRAMED_AT)
    assert _token((await handler.handle(_text(frame), "t")).answer) == "NAK"
    assert recorder.published == []


@pytest.fixture
async def receiver(settings: Settings, sites: None, clock: Clock) -> AsyncIterator[SiaReceiver]:
    async with SiaReceiver(
        settings, "127.0.0.1", 0, clock=clock, supervision_check_every=timedelta(hours=1)
    ) as service:
        yield service


async def _exchange(port: int, *frames_out: bytes) -> list[str]:
    """Send frames over one connection, one at a time, and return the answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for frame in frames_out:
            writer.write(frame)
            await writer.drain()
            answers.append((await asyncio.wait_for(reader.readuntil(b"\r"), 30)).decode())
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


def _tokens(answers: list[str]) -> list[str]:
    return [_token(answer.encode()) for answer in answers]


async def _activations(settings: Settings, count: int) -> list[AlarmActivation]:
    topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    records = await read_topic(settings.kafka_bootstrap, topic, count=count)
    return [
        decode_as(AlarmActivation, ALARM_ACTIVATIONS, record.value, list(record.headers))
        for record in records
    ]


async def _topic_size(settings: Settings) -> int:
    topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            partitions = [TopicPartition(topic, p) for p in range(ALARM_ACTIVATIONS.partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


@pytest.mark.integration
async def test_a_plain_panic_lands_on_the_topic(settings: Settings, receiver: SiaReceiver) -> None:
    frame = frames.build_frame(SIA_DCS, 1, "1234", "Nid12/ri1/PA501", timestamp=datetime.now(UTC))
    assert _tokens(await _exchange(receiver.port, frame)) == ["ACK"]
    [activation] = await _activations(settings, 1)
    assert activation.signal is AlarmSignal.PANIC
    assert (activation.button_id, activation.user_id) == ("501", "12")
    assert activation.site.site_id == "site-1234"
    assert activation.site.branch_type is BranchType.JEWELLER
    assert (activation.alarm_centre, activation.subscriber_account) == ("pac-noord", "1234")


@pytest.mark.integration
@pytest.mark.parametrize("key_length", sorted(KEYS))
async def test_an_encrypted_duress_lands_on_the_topic(
    settings: Settings, receiver: SiaReceiver, key_length: int
) -> None:
    key = KEYS[key_length]
    frame = frames.build_frame(ADM_CID, 7, f"50{key_length}", "1121 01 012", key=key)
    [answer] = await _exchange(receiver.port, frame)
    assert _token(answer.encode()) == "*ACK"
    cipher = answer.split("[", 1)[1].strip()
    assert re.search(r"\|\]_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$", frames.decrypt(cipher, key))
    [activation] = await _activations(settings, 1)
    assert (activation.signal, activation.user_id) == (AlarmSignal.DURESS, "012")


@pytest.mark.integration
async def test_unknown_account_and_bad_crc_are_refused_and_not_forwarded(
    settings: Settings, receiver: SiaReceiver
) -> None:
    unknown = frames.build_frame(SIA_DCS, 1, "ABCDEF", "Nri1/PA501")
    good = frames.build_frame(SIA_DCS, 2, "1234", "Nri1/HA3")
    bad_crc = good[:1] + (b"0000" if good[1:5] != b"0000" else b"FFFF") + good[5:]
    answers = await _exchange(receiver.port, unknown, bad_crc, good)
    assert _tokens(answers) == ["NAK", "NAK", "ACK"]
    [activation] = await _activations(settings, 1)
    assert activation.signal is AlarmSignal.HOLD_UP
    # The ACKed frame came last on the same connection: had the others been published, the
    # topic would hold them too.
    assert await _topic_size(settings) == 1


@pytest.mark.integration
async def test_a_retransmission_is_the_same_event(
    settings: Settings, receiver: SiaReceiver
) -> None:
    stamped = datetime.now(UTC).replace(microsecond=0)
    first = frames.build_frame(SIA_DCS, 31, "1234", "Nri1/HA3", timestamp=stamped)
    restamped = frames.build_frame(
        SIA_DCS, 31, "1234", "Nri1/HA3", timestamp=stamped + timedelta(seconds=2)
    )
    answers = await _exchange(receiver.port, first, first)
    answers += await _exchange(receiver.port, restamped)
    assert _tokens(answers) == ["ACK", "ACK", "ACK"]
    activations = await _activations(settings, 3)
    assert len({activation.event_id for activation in activations}) == 1


@pytest.mark.integration
async def test_every_event_of_a_block_lands_on_the_topic(
    settings: Settings, receiver: SiaReceiver
) -> None:
    block = frames.build_frame(SIA_DCS, 21, "1234", "Nri1/FA501/HA502/id12/PR502")
    fire = frames.build_frame(SIA_DCS, 22, "1234", "Nri1/FA501/BA2")
    assert _tokens(await _exchange(receiver.port, block, fire)) == ["ACK", "DUH"]
    activations = await _activations(settings, 2)
    got = [(a.signal, a.button_id, a.user_id) for a in activations]
    assert sorted(got) == sorted([(P.HOLD_UP, "502", None), (P.RESTORE, "502", "12")])
    # The fire and the burglary went nowhere.
    assert await _topic_size(settings) == 2


@pytest.mark.integration
async def test_a_frame_full_of_panics_is_refused_and_nothing_lands_on_the_topic(
    settings: Settings, receiver: SiaReceiver
) -> None:
    flood = frames.build_frame(SIA_DCS, 23, "1234", "Nri1/" + "/".join(["PA"] * 1300))
    assert len(flood) <= frames.MAX_FRAME_BYTES
    good = frames.build_frame(SIA_DCS, 24, "1234", "Nri1/HA3")
    assert _tokens(await _exchange(receiver.port, flood, good)) == ["NAK", "ACK"]
    [activation] = await _activations(settings, 1)
    assert (activation.signal, activation.button_id) == (P.HOLD_UP, "3")
    # The hold-up came last on the same connection: had the panics been published, the topic
    # would hold them too.
    assert await _topic_size(settings) == 1


@pytest.mark.integration
async def test_a_silent_site_is_reported_once_per_silence(
    settings: Settings, receiver: SiaReceiver, clock: Clock, db: asyncpg.Connection
) -> None:
    # The daily test report arrived 26 hours ago (by the receiver's clock).
    clock.offset = -timedelta(hours=26)
    assert _tokens(
        await _exchange(receiver.port, frames.build_frame(SIA_DCS, 1, "1234", "Nri0/RP0"))
    ) == ["ACK"]
    await eventually(
        lambda: db.fetchval("SELECT last_seen FROM sia_link WHERE site_id = 'site-1234'")
    )
    clock.offset = timedelta(0)

    [silent] = await receiver.check_link_supervision()
    assert await receiver.check_link_supervision() == []
    assert silent.signal is AlarmSignal.SITE_SILENT
    assert silent.site.site_id == "site-1234"

    # Heard again, then silent again: a second silence, a second event.
    clock.offset = -timedelta(hours=25, minutes=30)
    assert _tokens(await _exchange(receiver.port, frames.build_frame(NULL, 0, "1234", ""))) == [
        "ACK"
    ]

    async def cleared() -> bool:
        return bool(
            await db.fetchval(
                "SELECT silent_since IS NULL FROM sia_link WHERE site_id = 'site-1234'"
            )
        )

    await eventually(cleared)
    clock.offset = timedelta(0)
    [again] = await receiver.check_link_supervision()
    assert again.event_id != silent.event_id

    signals = [activation.signal for activation in await _activations(settings, 4)]
    assert signals.count(AlarmSignal.SITE_SILENT) == 2
    assert await _topic_size(settings) == 4


@pytest.mark.integration
async def test_the_supervision_loop_reports_a_silent_site(
    settings: Settings, sites: None, db: asyncpg.Connection
) -> None:
    clock = Clock(offset=-timedelta(hours=30))
    async with SiaReceiver(
        settings, "127.0.0.1", 0, clock=clock, supervision_check_every=timedelta(milliseconds=50)
    ) as service:
        frame = frames.build_frame(NULL, 0, "5016", "", key=KEY_128, timestamp=clock())
        assert _tokens(await _exchange(service.port, frame)) == ["*ACK"]
        await eventually(
            lambda: db.fetchval("SELECT last_seen FROM sia_link WHERE site_id = 'site-5016'")
        )
        clock.offset = timedelta(0)
        activations = await _activations(settings, 2)
    assert [a.signal for a in activations] == [AlarmSignal.LINK_TEST, AlarmSignal.SITE_SILENT]
    assert {a.site.site_id for a in activations} == {"site-5016"}


@pytest.mark.integration
async def test_a_replay_over_tcp_is_refused_and_not_published(
    settings: Settings, receiver: SiaReceiver
) -> None:
    captured = frames.build_frame(SIA_DCS, 41, "5016", "Nid12/ri1/HA3", key=KEY_128)
    replays = [_resequenced(captured, sequence) for sequence in (42, 43, 44)]
    answers = await _exchange(receiver.port, captured)
    for replay in replays:
        answers += await _exchange(receiver.port, replay)
    assert _tokens(answers) == ["*ACK", "NAK", "NAK", "NAK"]
    [activation] = await _activations(settings, 1)
    assert activation.signal is AlarmSignal.HOLD_UP
    assert not activation.unauthenticated
    assert await _topic_size(settings) == 1


async def _held(port: int, count: int, opening: bytes) -> list[asyncio.Task[bytes]]:
    """`count` connections that send `opening` (nothing, or half a frame) and then wait; each
    task ends when the receiver closes its connection. Opened one after another: a burst of
    simultaneous connects overflows the kernel's accept queue, which is not what is tested."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        try:
            return await reader.read()
        finally:
            writer.close()

    tasks = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if opening:
            writer.write(opening)
        tasks.append(asyncio.create_task(hold(reader, writer)))
        await asyncio.sleep(0)  # let the receiver accept it
    return tasks


async def _closed(tasks: list[asyncio.Task[bytes]], count: int) -> bool:
    return sum(task.done() for task in tasks) >= count


def _receiver_with(settings: Settings, **limits: float) -> SiaReceiver:
    return SiaReceiver(
        settings.model_copy(update=limits), "127.0.0.1", 0,
        supervision_check_every=timedelta(hours=1),
    )  # fmt: skip


def _panic(sequence: int) -> bytes:
    return frames.build_frame(SIA_DCS, sequence, "1234", "Nri1/PA501", timestamp=datetime.now(UTC))


HALF_A_FRAME = frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501")[:20]


@pytest.mark.integration
async def test_idle_and_half_sent_connections_are_closed_and_a_panic_still_answered(
    settings: Settings, sites: None
) -> None:
    # Issue 11, finding 4: 1,000 idle or half-sent connections were still held after 120 s.
    async with _receiver_with(settings, sia_idle_timeout_seconds=1.0) as service:
        idle = await _held(service.port, 150, b"")
        half_sent = await _held(service.port, 150, HALF_A_FRAME)
        try:
            assert _tokens(await _exchange(service.port, _panic(2))) == ["ACK"]
            await eventually(lambda: _closed(idle + half_sent, 300), timeout=30)

            async def none_held() -> bool:
                return service.connection_count == 0

            await eventually(none_held, timeout=10)
        finally:
            for task in idle + half_sent:
                task.cancel()
            await asyncio.gather(*idle, *half_sent, return_exceptions=True)


@pytest.mark.integration
async def test_the_connection_cap_closes_the_idle_longest_so_a_panic_gets_in(
    settings: Settings, sites: None
) -> None:
    # The idle timeout is long here: only the cap stands between the flood and the panic.
    cap = 40
    async with _receiver_with(
        settings, sia_idle_timeout_seconds=600.0, sia_max_connections=cap
    ) as service:
        flood = await _held(service.port, 300, b"")
        try:
            await eventually(lambda: _closed(flood, 300 - cap), timeout=30)
            assert _tokens(await _exchange(service.port, _panic(3))) == ["ACK"]
            assert service.connection_count <= cap
        finally:
            for task in flood:
                task.cancel()
            await asyncio.gather(*flood, return_exceptions=True)


async def _org(settings: Settings, *arguments: str) -> tuple[int, str]:
    """`heterdaad org ...` as an admin types it, against the test's database."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "heterdaad"), "org", *arguments,
        env=os.environ | settings.to_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return await process.wait(), output.decode()


@pytest.mark.integration
async def test_keys_are_managed_from_the_cli(
    settings: Settings, sites: None, db: asyncpg.Connection, clock: Clock
) -> None:
    # Issue 11, finding 3: setting a key took hand-written SQL.
    code, output = await _org(
        settings, "alarm-site", "site-77", "pac-noord", "7701", "--branch-id", "juwelier-1",
        "--new-key",
    )  # fmt: skip
    assert code == 0, output
    key = bytes.fromhex(re.findall(r"[0-9A-F]{32}", output)[-1])
    assert await db.fetchval("SELECT sia_key FROM alarm_site WHERE site_id = 'site-77'") == key

    # Refused: a key of a wrong length, and plain frames for a keyed site.
    assert (await _org(settings, "rotate-key", "site-77", "--key", "ABCD"))[0] != 0
    assert (await _org(settings, "plain-frames", "site-77", "--allow"))[0] != 0

    code, output = await _org(settings, "rotate-key", "site-77")
    assert code == 0, output
    rotated = bytes.fromhex(re.findall(r"[0-9A-F]{32}", output)[-1])
    assert rotated != key

    async with SiaReceiver(
        settings, "127.0.0.1", 0, clock=clock, supervision_check_every=timedelta(hours=1)
    ) as service:
        old = frames.build_frame(SIA_DCS, 1, "7701", "Nri1/HA3", key=key)
        new = frames.build_frame(SIA_DCS, 2, "7701", "Nri1/HA3", key=rotated)
        assert _tokens(await _exchange(service.port, old, new)) == ["NAK", "*ACK"]

    # A keyless site is not heard over SIA until an admin marks it for plain frames.
    code, output = await _org(settings, "alarm-site", "site-78", "pac-noord", "7801",
                              "--branch-id", "juwelier-1")  # fmt: skip
    assert code == 0, output
    plain = frames.build_frame(SIA_DCS, 1, "7801", "Nri1/HA3", timestamp=datetime.now(UTC))
    async with SiaReceiver(settings, "127.0.0.1", 0) as service:
        assert _tokens(await _exchange(service.port, plain)) == ["NAK"]
    assert (await _org(settings, "plain-frames", "site-78", "--allow"))[0] == 0
    async with SiaReceiver(settings, "127.0.0.1", 0) as service:
        assert _tokens(await _exchange(service.port, plain)) == ["ACK"]
