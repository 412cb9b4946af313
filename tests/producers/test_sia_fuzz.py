"""Fuzzing the SIA DC-09 receiver: planned, mutated and random frames are answered ACK, NAK or
DUH (or the connection is closed where the protocol allows), nothing crashes, only ACKs publish.

Frames carry arbitrary bytes too: Latin-1 and UTF-8 text in the account, zone, user and text
fields (plain and encrypted), binary encryption pads, binary garbage and arbitrary Unicode.

The frame handler is fuzzed on its own (pure and fast: 1,000 cases by default, 10,000 with
`pytest -m long tests/producers/test_sia_fuzz.py`) and a smaller set goes over real TCP to a
running SiaReceiver with its database and Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from Crypto.Cipher import AES
from hypothesis import HealthCheck, event, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from producers.sia import SiaReceiver, frames
from producers.sia.accounts import SiaAccount
from producers.sia.codes import (
    ADM_CID,
    CONTACT_ID_EVENTS,
    NULL,
    SIA_CODES,
    SIA_DCS,
    Report,
    Signal,
    interpret,
)
from producers.sia.handling import TIMESTAMP_LAG, FrameHandler, RetransmissionMemory
from producers.sia.replays import ReplayGuard
from schemas.common import BranchType
from schemas.events import AlarmActivation, AlarmSite
from schemas.topics import ALARM_ACTIVATIONS
from tests.factories import DAM_SQUARE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg

    from heterdaad.settings import Settings

# --- accounts, as the handler and the database both know them ---------------------------------

KEYS = {16: bytes(range(16)), 24: bytes(range(1, 25)), 32: bytes(range(2, 34))}
WRONG_KEY = bytes(16)
SITE = AlarmSite(site_id="site-1234", location=DAM_SQUARE, branch_type=BranchType.JEWELLER)
# Account number -> key (None: the site sends plain frames).
ACCOUNT_KEYS: dict[str, bytes | None] = {"1234": None} | {f"50{n}": k for n, k in KEYS.items()}
ACCOUNTS = {
    number: SiaAccount(
        site=SITE.model_copy(update={"site_id": f"site-{number}"}),
        alarm_centre="pac-noord",
        subscriber_account=number,
        key=key,
        supervision=None,
        plain_frames=key is None,
    )
    for number, key in ACCOUNT_KEYS.items()
}
SUPPORTED = (SIA_DCS, ADM_CID, NULL)
# A timestamp may lie 40 s before and 20 s after the receiver's clock, bounds included.
IN_WINDOW = (-40, -30, -5, 0, 10, 20)
OUT_OF_WINDOW = (-86_400, -300, -41, 21, 60)

_BASE = fuzz_settings(
    deadline=None,  # no timed tests
    database=None,  # nothing written to the work tree; a failure prints its reproduction
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the receiver is meant to outlive the examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# --- frames planned, with the answer the standard and docs/sia.md give them --------------------


@dataclass(frozen=True)
class FramePlan:
    """A frame as a panel would send it, built from its parts so its answer is known."""

    message_type: str
    sequence: int
    account: str
    code: str  # SIA code or Contact ID event ("" for NULL)
    qualifier: str  # Contact ID qualifier
    zone: str
    user: str
    key: bytes | None  # what the frame is encrypted with
    stamp_seconds: int | None  # the timestamp, relative to the receiver's clock
    receiver: str | None
    line: str
    text: str = ""  # SIA-DCS text after the zone, sent as ^text^
    encoding: str = "ascii"  # how the frame's characters become bytes: latin-1 or utf-8
    pad: bytes = b"0" * 16  # encryption pad, cut to length: any bytes but '|', '[' and ']'

    @property
    def data(self) -> str:
        if self.message_type == NULL:
            return ""
        if self.message_type == ADM_CID:
            return f"{self.qualifier}{self.code} 01 {self.zone.zfill(3)[-3:]}"
        user = f"id{self.user}/" if self.user else ""
        text = f"^{self.text}^" if self.text else ""
        return f"N{user}ri1/{self.code}{self.zone}{text}"

    def build(self, now: datetime) -> bytes:
        """The frame as frames.build_frame writes it, but in bytes of the plan's encoding."""
        stamp = None if self.stamp_seconds is None else now + timedelta(seconds=self.stamp_seconds)
        inner = f"#{self.account}|{self.data}" if self.data else ""
        tail = frames.format_timestamp(stamp) if stamp is not None else ""
        route = (f"R{self.receiver}" if self.receiver else "") + f"L{self.line}"
        head = f"{self.sequence:04d}{route}#{self.account}[".encode(self.encoding)
        if self.key is None:
            body = f"{inner}]{tail}".encode(self.encoding)
            return wrap(b'"' + self.message_type.encode() + b'"' + head + body)
        plain = f"|{inner}]{tail}".encode(self.encoding)
        pad_length = 16 - len(plain) % 16
        cipher = AES.new(self.key, AES.MODE_CBC, bytes(16)).encrypt(self.pad[:pad_length] + plain)
        body = cipher.hex().upper().encode()
        return wrap(b'"*' + self.message_type.encode() + b'"' + head + body)

    @property
    def report(self) -> Report:
        if self.message_type == ADM_CID:
            return Report(
                ADM_CID, cid_qualifier=self.qualifier, cid_event=self.code,
                number=self.zone.zfill(3)[-3:],
            )  # fmt: skip
        if self.message_type == NULL:
            return Report(NULL)
        return Report(self.message_type, sia_code=self.code, number=self.zone or None,
                      user=self.user or None)  # fmt: skip

    def expected(self) -> tuple[str, Signal | None]:
        """The answer and, for an ACK, the signal published."""
        if not self.account.isascii() or (self.key is None and not self.data.isascii()):
            return "NAK", None  # DC-09 is ASCII: other bytes are line noise
        if self.message_type not in SUPPORTED:
            return "DUH", None  # before the account: the answer tells nobody it exists
        account = ACCOUNTS.get(self.account)
        if account is None or (account.key is None) != (self.key is None):
            return "NAK", None  # unknown, or plain where a key is on file (or the reverse)
        if self.key is not None and self.key != account.key:
            return "NAK", None  # garbage after decryption
        if not self.data.isascii():
            return "NAK", None  # ASCII inside the encryption too
        if self.stamp_seconds is not None and self.stamp_seconds not in IN_WINDOW:
            return "NAK", None
        signal = interpret(self.report)
        if signal is None:
            return "DUH", None
        return ("*ACK" if self.key else "ACK"), signal


_HEX = "0123456789ABCDEF"
_DIGITS = "0123456789"
# SIA text as panels send it (no brackets or carets, which end the data or the text).
_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-/'|#*_"
# Characters beyond ASCII a panel's firmware or a mistyped name may put in a field, by the
# encoding the frame is sent in (CR and LF are what end a frame, not characters of one).
_FOREIGN = {
    "latin-1": st.characters(codec="latin-1", min_codepoint=0x80),
    "utf-8": st.characters(codec="utf-8", min_codepoint=0x80),
}
# Pads as frames.encrypt makes them (letters and digits) and of random binary, as the
# standard allows, with '|', '[' and ']' made into others.
_PAD_TABLE = bytes(byte ^ 0x80 if byte in b"|[]" else byte for byte in range(256))
_PADS = st.text(alphabet=_HEX, min_size=16, max_size=16).map(str.encode) | st.binary(
    min_size=16, max_size=16
).map(lambda pad: pad.translate(_PAD_TABLE))


def crc16_of(message: bytes) -> str:
    """frames.crc16 over bytes rather than ASCII text: what a panel computes whatever it sends."""
    crc = 0
    for byte in message:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return f"{crc:04X}"


def wrap(message: bytes) -> bytes:
    """A message framed with its CRC and its length in bytes."""
    return b"\n" + f"{crc16_of(message)}{len(message):04X}".encode() + message + b"\r"


def field(draw: st.DrawFn, alphabet: str, encoding: str, *, min_size: int, max_size: int) -> str:
    """Text of a frame's field: its own characters and, in a foreign field, at least one other."""
    if encoding == "ascii":
        return draw(st.text(alphabet=alphabet, min_size=min_size, max_size=max_size))
    chars = st.sampled_from(alphabet) | _FOREIGN[encoding]
    text = draw(st.text(alphabet=chars, max_size=max_size - 1))
    position = draw(st.integers(min_value=0, max_value=len(text)))
    return text[:position] + draw(_FOREIGN[encoding]) + text[position:]


@st.composite
def frame_plans(draw: st.DrawFn, *, stamps: tuple[int, ...]) -> FramePlan:
    """Mostly frames a registered panel would send, so that ACKs are common; the rest vary one
    thing that makes them refused: account, key, timestamp, type, code or the characters of a
    field (Latin-1 or UTF-8 in the account, zone, user or text)."""
    # One in four: one field holds characters beyond ASCII.
    encoding = draw(st.sampled_from(["latin-1", "utf-8"]))
    foreign = draw(st.sampled_from(["account", "zone", "user", "text"]))
    if draw(st.integers(0, 3)):
        foreign = ""

    def encoding_of(name: str) -> str:
        return encoding if name == foreign else "ascii"

    # One in five: an account nobody registered, a key other than the one on file, a
    # message type of the wrong kind.
    if draw(st.integers(0, 4)) and foreign != "account":
        account = draw(st.sampled_from(sorted(ACCOUNTS)))
    else:
        account = field(draw, _HEX, encoding_of("account"), min_size=3, max_size=16)
    key = ACCOUNT_KEYS.get(account)
    if not draw(st.integers(0, 4)):
        key = draw(st.sampled_from([None, WRONG_KEY, *KEYS.values()]))
    if draw(st.integers(0, 4)):
        message_type = draw(st.sampled_from(SUPPORTED))
    else:
        message_type = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=8))
    if message_type == ADM_CID:
        code = draw(st.sampled_from([*CONTACT_ID_EVENTS, "130", "401", "999"]))
    else:
        code = draw(st.sampled_from([*SIA_CODES, "BA", "FA", "DU", "ha", "pa"]))
    in_window = [stamp for stamp in stamps if stamp in IN_WINDOW]
    stamp: int | None = draw(st.sampled_from([*in_window, *in_window, *stamps]))
    # Encrypted frames always carry a timestamp; plain ones may go without.
    if key is None and draw(st.booleans()):
        stamp = None
    return FramePlan(
        message_type=message_type,
        sequence=draw(st.integers(min_value=0, max_value=9999)),
        account=account,
        code=code,
        qualifier=draw(st.sampled_from(["1", "1", "3", "6"])),
        zone=field(draw, _DIGITS, encoding_of("zone"), min_size=0, max_size=4),
        user=field(draw, _DIGITS, encoding_of("user"), min_size=0, max_size=4),
        key=key,
        stamp_seconds=stamp,
        receiver=draw(st.none() | st.text(alphabet=_HEX, min_size=1, max_size=6)),
        line=draw(st.text(alphabet=_HEX, min_size=1, max_size=6)),
        text=field(draw, _TEXT, encoding_of("text"), min_size=0, max_size=24),
        encoding=encoding if foreign else "ascii",
        pad=draw(_PADS),
    )


def refit(frame: bytes) -> bytes:
    """The frame with its CRC and length made right again, so a mutation reaches the parser
    (whatever bytes it now holds: line noise with a fitting CRC is still to be refused)."""
    raw = frame.strip(b"\r\n")
    return wrap(raw[8:] if len(raw) >= 8 else raw)


@st.composite
def mutated(draw: st.DrawFn, frame: bytes) -> bytes:
    """A frame with bytes flipped, inserted, deleted or cut, with or without a fitting CRC."""
    data = bytearray(frame)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "swap"]))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif action == "insert":
            data[position:position] = draw(
                st.binary(min_size=1, max_size=6)
                | st.sampled_from([b"[", b"]", b"|", b"#", b'"', b"*", b"_", b"/", b"\x00"])
            )
        elif action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=6))]
        elif action == "truncate":
            del data[position:]
        elif data:
            other = draw(st.integers(min_value=0, max_value=len(data) - 1))
            data[position], data[other] = data[other], data[position]
    if draw(st.booleans()):
        return refit(bytes(data))
    return bytes(data)


def as_received(raw: bytes) -> str:
    """What the receiver hands the handler for a line: frames.read_frame's cleaning."""
    return raw.strip(b"\r\n\x00 ").decode("ascii", errors="replace")


# --- checking an answer -------------------------------------------------------------------------

_ANSWER = re.compile(r'\n([0-9A-F]{4})([0-9A-F]{4})("(\*?ACK|NAK|DUH)".*)\r', re.S)


def token_of(answer: bytes) -> str:
    """The answer's token, after checking it is a whole DC-09 frame with a right CRC/length."""
    text = answer.decode("ascii")
    match = _ANSWER.fullmatch(text)
    assert match is not None, f"not a DC-09 answer: {answer!r}"
    crc, length, message, token = match.groups()
    assert frames.crc16(message) == crc, f"answer with a wrong CRC: {answer!r}"
    assert int(length, 16) == len(message), f"answer with a wrong length: {answer!r}"
    return token


def check_reply(
    frame: str, answer: bytes | None, published: list[AlarmActivation], now: datetime | None
) -> str:
    """Check one answer against its frame; returns the token."""
    assert answer is not None, f"no answer (only for a failed publish) to {frame!r}"
    token = token_of(answer)
    if token == "NAK":
        assert not published, f"published for a NAK: {frame!r}"
        if now is not None:
            assert answer[9:].decode() == f'"NAK"0000R0L0A0[]{frames.format_timestamp(now)}\r'
        return token
    # ACK and DUH answer a frame whose head was read: they echo its sequence and account.
    header = frames.parse_header(frame)
    assert f'"{token}"{header.sequence}'.encode() in answer, (frame, answer)
    if token == "DUH":
        assert not published, f"published for a DUH: {frame!r}"
        return token
    assert (token == "*ACK") == header.encrypted, (frame, answer)
    assert header.account is not None
    # A SIA data block may carry several events: each one published is this account's.
    assert published, f"nothing published for an ACK: {frame!r}"
    account = ACCOUNTS[header.account.upper()]
    for activation in published:
        assert activation.site == account.site, (frame, activation)
        assert activation.alarm_centre == account.alarm_centre
    return token


# --- the handler on its own ---------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Recorder:
    """Stands in for the broker: remembers what was published."""

    def __init__(self) -> None:
        self.published: list[AlarmActivation] = []

    async def publish(self, activation: AlarmActivation) -> None:
        self.published.append(activation)


async def lookup(account: str, line: str | None) -> SiaAccount | None:
    return ACCOUNTS.get(account.upper())


def handler(recorder: Recorder) -> FrameHandler:
    return FrameHandler(lookup, recorder.publish, lambda: NOW, RetransmissionMemory())


@st.composite
def received_lines(draw: st.DrawFn) -> tuple[str, FramePlan | None]:
    """A line as the receiver reads it, and its plan when it is a planned frame left whole."""
    plan = draw(frame_plans(stamps=IN_WINDOW + OUT_OF_WINDOW))
    frame = plan.build(NOW)
    how = draw(st.sampled_from(["planned", "mutated", "mutated", "random", "text"]))
    event(f"line: {how}")
    if how == "planned":
        event(f"planned in {plan.encoding}")
        return as_received(frame), plan
    if how == "mutated":
        return as_received(draw(mutated(frame))), None
    if how == "random":
        return as_received(draw(st.binary(max_size=300))), None
    # Any text, even what no bytes decode to (lone surrogates): the handler takes a str.
    return draw(st.text(max_size=300)), None


async def _handle_one(line: str, plan: FramePlan | None) -> None:
    recorder = Recorder()
    reply = await handler(recorder).handle(line, "fuzz")
    token = check_reply(line, reply.answer, recorder.published, NOW)
    event(f"{'planned' if plan else 'other'}: {token}")
    if plan is not None:
        answer, signal = plan.expected()
        assert token == answer, f"{plan} -> {token}, want {answer}"
        if signal is not None:
            [activation] = recorder.published
            got = Signal(activation.signal, activation.button_id, activation.user_id)
            assert got == signal, plan


HANDLER_CASES = 1_000
LONG_HANDLER_CASES = 10_000


@fuzz_settings(_BASE, max_examples=HANDLER_CASES, derandomize=True)
@given(line=received_lines())
async def test_the_handler_answers_every_line(line: tuple[str, FramePlan | None]) -> None:
    await _handle_one(*line)


@pytest.mark.long
@pytest.mark.timeout(4 * 3600)
@fuzz_settings(_BASE, max_examples=LONG_HANDLER_CASES)
@given(line=received_lines())
async def test_the_handler_answers_every_line_long(line: tuple[str, FramePlan | None]) -> None:
    await _handle_one(*line)


# Cases a fuzzer reaches only by luck, pinned down. Each: the line as received, and its token.
EDGE_CASES = [
    # Nothing but the CRC and length of an empty message.
    ("00000000", "NAK"),
    # A known account, a supported type, no data and no closing bracket: nothing to forward,
    # answered DUH (never ACK: the panel must not believe an alarm was delivered).
    (as_received(refit(b'\n00000000"SIA-DCS"0001L0#1234[')), "DUH"),
    # Contact ID with letters where the digits go.
    (as_received(frames.build_frame(ADM_CID, 1, "1234", "1ABC 01 003")), "NAK"),
    # A zone of 80 digits is no identifier: the panic is forwarded without it, not lost.
    (as_received(frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA" + "9" * 80)), "ACK"),
    # The encryption flag with plain data for a keyed account: not hex, cannot be decrypted.
    (as_received(refit(b'\n00000000"*SIA-DCS"0001L0#5016[#5016|Nri1/PA1]')), "NAK"),
    # Encrypted data of odd length.
    (as_received(refit(b'\n00000000"*SIA-DCS"0001L0#5016[ABC')), "NAK"),
    # A timestamp that is no date (month 13).
    (
        as_received(refit(b'\n00000000"SIA-DCS"0001L0#1234[#1234|Nri1/PA1]_12:00:00,13-01-2026')),
        "NAK",
    ),
]


@pytest.mark.parametrize(("line", "token"), EDGE_CASES)
async def test_edge_cases(line: str, token: str) -> None:
    recorder = Recorder()
    reply = await handler(recorder).handle(line, "edge")
    assert check_reply(line, reply.answer, recorder.published, NOW) == token


# A valid plain panic with one byte's high bit set by line noise after the head (in the head,
# the frame fails its format check and is refused as it should be). The length field still
# fits: one byte became one (replacement) character.
PANIC = frames.build_frame(SIA_DCS, 1, "1234", "Nri1/PA501")
NOISY = [
    # In the data, after the bracket.
    PANIC.replace(b"[#", b"[\xa3"),
    # In the zone.
    PANIC.replace(b"PA501", b"PA5\xb01"),
    # In the closing bracket.
    PANIC.replace(b"501]", b"501\xdd"),
]


@pytest.mark.parametrize("noisy", NOISY)
async def test_a_non_ascii_byte_is_refused(noisy: bytes) -> None:
    recorder = Recorder()
    line = as_received(noisy)
    reply = await handler(recorder).handle(line, "noise")
    assert check_reply(line, reply.answer, recorder.published, NOW) == "NAK"


# Inside the encryption the message must be ASCII too. pysiaalarm drops the bytes it cannot
# decode, so before frames.decrypted_message checked, the zone "5\xe901" of this panic was read
# as zone 501 and ACKed (found by the fuzzer once plans carried Latin-1 and UTF-8).
ENCRYPTED_PANIC = FramePlan(
    message_type=SIA_DCS, sequence=1, account="5016", code="PA", qualifier="1", zone="501",
    user="", key=KEYS[16], stamp_seconds=0, receiver=None, line="0",
)  # fmt: skip
ENCRYPTED_CASES = [
    # A Latin-1 byte in the zone.
    pytest.param(
        replace(ENCRYPTED_PANIC, zone="5\xe901", encoding="latin-1"), "NAK", id="latin-1 zone"
    ),
    # UTF-8 in the text after the zone.
    pytest.param(
        replace(ENCRYPTED_PANIC, text="Kluisdeur \u2013 achter", encoding="utf-8"),
        "NAK",
        id="utf-8 text",
    ),
    # In the user who pressed.
    pytest.param(
        replace(ENCRYPTED_PANIC, user="1\u00b2", encoding="utf-8"), "NAK", id="utf-8 user"
    ),
    # The pad may be any bytes but '|', '[' and ']': only the message after it must be ASCII.
    pytest.param(replace(ENCRYPTED_PANIC, pad=bytes(range(0x80, 0x90))), "*ACK", id="binary pad"),
    # ASCII text after the zone is fine.
    pytest.param(replace(ENCRYPTED_PANIC, text="Kluisdeur achter"), "*ACK", id="ascii text"),
]


@pytest.mark.parametrize(("plan", "token"), ENCRYPTED_CASES)
async def test_an_encrypted_message_must_be_ascii(plan: FramePlan, token: str) -> None:
    assert plan.expected()[0] == token
    recorder = Recorder()
    line = as_received(plan.build(NOW))
    reply = await handler(recorder).handle(line, "encrypted")
    assert check_reply(line, reply.answer, recorder.published, NOW) == token
    if token == "*ACK":
        [activation] = recorder.published
        assert activation.button_id == "501"


# --- over TCP, to a running receiver ------------------------------------------------------------

# A line longer than the receiver's buffer is noise: the receiver closes the connection.
TOO_LONG = frames.MAX_FRAME_BYTES


@pytest.fixture
async def sites(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO organisation (organisation_id, name, role) "
        "VALUES ('pac-noord', 'PAC Noord', 'alarm_centre')"
    )
    await db.execute(
        "INSERT INTO branch (branch_id, organisation_id, chain, branch_type, lat, lon) "
        "VALUES ('juwelier-1', 'pac-noord', NULL, 'jeweller', $1, $2)",
        DAM_SQUARE.lat,
        DAM_SQUARE.lon,
    )
    for number, key in ACCOUNT_KEYS.items():
        await db.execute(
            "INSERT INTO alarm_site (site_id, alarm_centre, subscriber_account, branch_id, sia_key,"
            " sia_plain_frames) VALUES ($1, 'pac-noord', $2, 'juwelier-1', $3, $3::bytea IS NULL)",
            f"site-{number}",
            number,
            key,
        )


@pytest.fixture
async def receiver(settings: Settings, sites: None) -> AsyncIterator[SiaReceiver]:
    async with SiaReceiver(
        settings, "127.0.0.1", 0, supervision_check_every=timedelta(hours=1)
    ) as service:
        yield service


@dataclass(frozen=True)
class Chunk:
    """Bytes sent on a connection; `plan` when they are one planned frame, sent whole."""

    raw: bytes
    plan: FramePlan | None = None


@st.composite
def chunks(draw: st.DrawFn) -> Chunk:
    # The receiver's clock is real: only stamps well away from the window's edges.
    plan = draw(frame_plans(stamps=(-30, -5, 0, 10, -300, 60)))
    frame = plan.build(datetime.now(UTC))
    how = draw(
        st.sampled_from(["planned", "planned", "mutated", "random", "text", "too_long", "crlf"])
    )
    if how == "planned":
        return Chunk(frame, plan)
    if how == "mutated":
        return Chunk(draw(mutated(frame)))
    if how == "random":
        return Chunk(draw(st.binary(max_size=200)))
    if how == "text":
        # A line of Latin-1 or UTF-8 text, as a misconfigured device might send.
        encoding = draw(st.sampled_from(["latin-1", "utf-8"]))
        text = draw(st.text(alphabet=st.characters(codec=encoding), max_size=100))
        return Chunk(text.encode(encoding) + b"\r")
    if how == "crlf":
        # CR LF after the frame, as some transmitters send: the LF belongs to no frame.
        return Chunk(frame + b"\n", plan)
    return Chunk(b"\n" + b"7" * (TOO_LONG + draw(st.integers(0, 100))) + b"\r")


def lines_of(sent: bytes) -> tuple[list[bytes], bool]:
    """The lines the receiver answers, in order, and whether one of them is too long for it."""
    *complete, _ = sent.split(b"\r")
    lines = [line for line in complete if line.strip(b"\r\n\x00 ")]
    return lines, any(len(line) >= TOO_LONG for line in complete)


async def exchange(port: int, sent: bytes) -> list[bytes]:
    """Send everything, say we are done, and read every answer until the receiver closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            writer.write(sent)
            await writer.drain()
            writer.write_eof()
        except ConnectionError:
            pass  # it closed on a line too long: what it answered before is still to be read
        answers: list[bytes] = []
        async with asyncio.timeout(30):
            while True:
                try:
                    answer = await reader.readuntil(b"\r")
                except asyncio.IncompleteReadError as end:
                    assert not end.partial, f"half an answer: {end.partial!r}"
                    return answers
                except ConnectionError:
                    return answers
                answers.append(answer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


class TopicSize:
    """How many activations the topic holds, read with one consumer for the whole test."""

    def __init__(self, settings: Settings) -> None:
        topic = ALARM_ACTIVATIONS.name(settings.topic_prefix)
        self.partitions = [TopicPartition(topic, p) for p in range(ALARM_ACTIVATIONS.partitions)]
        self.reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)

    async def __call__(self) -> int:
        return sum((await self.reader.end_offsets(self.partitions)).values())


@pytest.fixture
async def topic_size(settings: Settings) -> AsyncIterator[TopicSize]:
    size = TopicSize(settings)
    await size.reader.start()
    try:
        yield size
    finally:
        await size.reader.stop()


async def _over_tcp(receiver: SiaReceiver, topic_size: TopicSize, sent: list[Chunk]) -> None:
    # Each example meets a receiver that remembers no frame. Hypothesis may draw one encrypted
    # frame (pad, timestamp, account) again within the replay window under another sequence
    # number, which the receiver rightly refuses as a replay (NAK); the test failed on it once.
    handler = receiver._handler
    assert handler is not None
    handler._replays = ReplayGuard(TIMESTAMP_LAG)
    before = await topic_size()
    stream = b"".join(chunk.raw for chunk in sent)
    answers = await exchange(receiver.port, stream)
    lines, too_long = lines_of(stream)
    assert len(answers) <= len(lines), (stream, answers)
    if not too_long:
        # Every frame answered, in order: the connection ends only when we end it.
        assert len(answers) == len(lines), (stream, answers)
    tokens = [token_of(answer) for answer in answers]
    for token in tokens:
        event(f"tcp {token}")
    # A line that is exactly a planned frame gets the answer its plan says.
    planned = {chunk.raw.strip(b"\r\n"): chunk.plan for chunk in sent if chunk.plan is not None}
    # An encrypted frame taken in: (account, cipher text) -> its sequence number. The same one
    # again under another sequence number, within one example, is a replay: NAK.
    taken: dict[tuple[str | None, str], str] = {}
    for line, token in zip(lines, tokens, strict=False):
        plan = planned.get(line.strip(b"\r\n"))
        if plan is None:
            continue
        expected = plan.expected()[0]
        if expected.endswith("ACK") and plan.key is not None:
            header = frames.parse_header(line.strip(b"\r\n").decode("ascii"))
            first = taken.setdefault((header.account, header.data.upper()), header.sequence)
            expected = expected if first == header.sequence else "NAK"
        assert token == expected, (plan, token)
    # ACKed means published (before the ACK was sent), at least one event per frame (a SIA
    # block may carry more); the handler fuzz checks per frame that NAK and DUH publish nothing.
    acked = sum(token.endswith("ACK") for token in tokens)
    published = await topic_size() - before
    assert published >= acked and (published == 0) == (acked == 0), (stream, tokens)


TCP_CASES = 300
LONG_TCP_CASES = 5_000


@pytest.mark.integration
@fuzz_settings(_BASE, max_examples=TCP_CASES, derandomize=True)
@given(sent=st.lists(chunks(), min_size=1, max_size=4))
async def test_the_receiver_answers_every_frame_over_tcp(
    receiver: SiaReceiver,
    topic_size: TopicSize,
    caplog: pytest.LogCaptureFixture,
    sent: list[Chunk],
) -> None:
    caplog.set_level(logging.WARNING, logger="producers.sia")
    await _over_tcp(receiver, topic_size, sent)
    # A bug in handling is logged as "sia connection failed" rather than raised: none may be.
    failed = [r for r in caplog.records if r.getMessage() == "sia connection failed"]
    assert not failed, failed[0].exc_text


@pytest.mark.integration
@pytest.mark.long
@pytest.mark.timeout(4 * 3600)
@fuzz_settings(_BASE, max_examples=LONG_TCP_CASES)
@given(sent=st.lists(chunks(), min_size=1, max_size=8))
async def test_the_receiver_answers_every_frame_over_tcp_long(
    receiver: SiaReceiver,
    topic_size: TopicSize,
    caplog: pytest.LogCaptureFixture,
    sent: list[Chunk],
) -> None:
    caplog.set_level(logging.WARNING, logger="producers.sia")
    await _over_tcp(receiver, topic_size, sent)
    failed = [r for r in caplog.records if r.getMessage() == "sia connection failed"]
    assert not failed, failed[0].exc_text


@pytest.mark.integration
async def test_a_non_ascii_byte_is_refused_over_tcp(receiver: SiaReceiver) -> None:
    # A NAK tells the panel to send again; hanging up would leave it guessing.
    answers = await exchange(receiver.port, NOISY[0])
    assert [token_of(answer) for answer in answers] == ["NAK"]


@pytest.mark.integration
async def test_the_receiver_still_acks_after_garbage(receiver: SiaReceiver) -> None:
    # Noise, an overlong line (the receiver hangs up), then on a new connection a real panic.
    noise = b"\x00\xff\r\n\r" + b"\n" + b"A" * (TOO_LONG + 10) + b"\r"
    await exchange(receiver.port, noise)
    panic = frames.build_frame(SIA_DCS, 7, "1234", "Nri1/PA501", timestamp=datetime.now(UTC))
    [answer] = await exchange(receiver.port, panic)
    assert token_of(answer) == "ACK"
