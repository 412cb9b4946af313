"""SIA DC-09 frames: reading them off a stream, checking them, and building answers and frames.

pysiaalarm parses the contents (decryption, SIA-DCS and ADM-CID data); this module does what
it does not do in the way a receiver that must not lose alarms needs: it reads whole frames
(LF ... CR) rather than whatever one `read(1000)` returns, and it answers NAK in the format of
the standard (pysiaalarm swaps receiver and line in its NAK and sends zeros as encryption pad).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from Crypto.Cipher import AES

if TYPE_CHECKING:
    from collections.abc import Sequence

LF = b"\n"
CR = b"\r"
# DC-09 frames are a few hundred bytes; a line this long is not a frame but noise or an attack.
MAX_FRAME_BYTES = 4096
TIMESTAMP_FORMAT = "%H:%M:%S,%m-%d-%Y"
_ZERO_IV = bytes(16)
_PAD_ALPHABET = string.ascii_letters + string.digits
# "CRC" "0LLL" then the message; the account is optional here so that a frame without one can
# still be told apart from noise (and be refused as such).
_HEADER = re.compile(
    r"""^(?P<crc>[0-9A-Fa-f]{4})(?P<length>[0-9A-Fa-f]{4})
    "(?P<encrypted>\*)?(?P<message_type>[A-Z-]+)"
    (?P<sequence>[0-9]{4})
    (?:R(?P<receiver>[0-9A-Fa-f]{1,6}))?
    (?:L(?P<line>[0-9A-Fa-f]{1,6}))?
    (?:\#(?P<account>[0-9A-Fa-f]{3,16}))?
    \[""",
    re.X,
)


class FrameError(Exception):
    """A frame that is not DC-09, or whose length or CRC is wrong: the answer is NAK."""


@dataclass(frozen=True)
class Header:
    """The unencrypted head of a frame: enough to find the account and to answer."""

    text: str
    message_type: str
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str | None
    account: str | None
    data: str  # after the head's '[': plain data, or the cipher text of an encrypted frame


def crc16(message: str) -> str:
    """The DC-09 CRC (CRC-16/ARC) of a message, as four upper-case hex digits."""
    crc = 0
    for byte in message.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return f"{crc:04X}"


async def read_frame(reader: asyncio.StreamReader) -> str | None:
    """The next frame without its LF/CR, or None when the peer closed the connection."""
    while True:
        try:
            raw = await reader.readuntil(CR)
        except asyncio.IncompleteReadError:
            return None
        # Some transmitters send CR LF, leaving an LF that belongs to no frame.
        text = raw.strip(b"\r\n\x00 ").decode("ascii", errors="replace")
        if text:
            return text


def parse_header(frame: str) -> Header:
    """The checked head of a frame; raises FrameError for a bad format, length or CRC."""
    if not frame.isascii():
        # DC-09 frames are ASCII; a flipped high bit must be a NAK, not a dropped connection.
        raise FrameError("non-ASCII characters")
    match = _HEADER.match(frame)
    if match is None:
        raise FrameError("not a DC-09 frame")
    message = frame[8:]
    if int(match["length"], 16) != len(message):
        raise FrameError(f"length field {match['length']} but message has {len(message)} chars")
    if crc16(message) != match["crc"].upper():
        raise FrameError(f"CRC {match['crc']} does not match, computed {crc16(message)}")
    return Header(
        text=frame,
        message_type=match["message_type"],
        encrypted=match["encrypted"] is not None,
        sequence=match["sequence"],
        receiver=match["receiver"],
        line=match["line"],
        account=match["account"],
        data=frame[match.end() :],
    )


def format_timestamp(moment: datetime) -> str:
    """A DC-09 timestamp: always UTC ("GMT" in the standard)."""
    return "_" + moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _wrap(message: str) -> bytes:
    return f"\n{crc16(message)}{len(message):04X}{message}\r".encode("ascii")


def _route(receiver: str | None, line: str | None) -> str:
    return (f"R{receiver}" if receiver else "") + (f"L{line}" if line else "")


def encrypt(plain: str, key: bytes) -> str:
    """AES-CBC with a zero IV over random pad + plain, as hex: the standard's encrypted data.

    The pad is random (not zeros) so that equal messages never give equal cipher text, and
    it never contains the '|', '[' or ']' that the reader uses to find the data.
    """
    pad_length = 16 - len(plain) % 16
    pad = "".join(secrets.choice(_PAD_ALPHABET) for _ in range(pad_length))
    data = (pad + plain).encode("ascii")
    return AES.new(key, AES.MODE_CBC, _ZERO_IV).encrypt(data).hex().upper()


def decrypt(cipher_hex: str, key: bytes) -> str:
    """The plain text of encrypted data, pad included (for tests and tools)."""
    data = AES.new(key, AES.MODE_CBC, _ZERO_IV).decrypt(bytes.fromhex(cipher_hex))
    return data.decode("ascii", errors="replace")


def decrypted_message(cipher_hex: str, key: bytes) -> str:
    """The message of encrypted data, from the '|' that ends the pad; raises FrameError when
    it cannot be decrypted or is not ASCII.

    The pad may be any bytes but '|', '[' and ']'; the message must be ASCII like a plain
    frame. pysiaalarm drops non-ASCII bytes after decrypting, so without this check a zone
    "5\xe901" would be read as zone 501.
    """
    try:
        plain = AES.new(key, AES.MODE_CBC, _ZERO_IV).decrypt(bytes.fromhex(cipher_hex))
    except ValueError as error:  # not hex, or not whole blocks
        raise FrameError(f"encrypted data cannot be decrypted: {error}") from error
    _, bar, message = plain.partition(b"|")
    if not bar:
        raise FrameError("no '|' after the pad: wrong key, or not DC-09")
    if not message.isascii():
        raise FrameError("non-ASCII characters after decryption")
    return (bar + message).decode("ascii")


def ack(header: Header, key: bytes | None, now: datetime) -> bytes:
    """ACK: the receiver took responsibility for the message. Encrypted for encrypted frames."""
    route = _route(header.receiver, header.line)
    if header.encrypted and key is not None:
        body = encrypt("|]" + format_timestamp(now), key)
        return _wrap(f'"*ACK"{header.sequence}{route}#{header.account}[{body}')
    return _wrap(f'"ACK"{header.sequence}{route}#{header.account}[]')


def duh(header: Header) -> bytes:
    """DUH: understood, but not something this receiver handles. Never encrypted."""
    route = _route(header.receiver, header.line)
    account = f"#{header.account}" if header.account else ""
    return _wrap(f'"DUH"{header.sequence}{route}{account}[]')


def nak(now: datetime) -> bytes:
    """NAK: refused (bad frame, unknown account, bad timestamp). Fixed fields, never encrypted."""
    return _wrap(f'"NAK"0000R0L0A0[]{format_timestamp(now)}')


def build_frame(
    message_type: str,
    sequence: int,
    account: str,
    data: str,
    *,
    key: bytes | None = None,
    timestamp: datetime | None = None,
    receiver: str | None = None,
    line: str = "0",
    extended: Sequence[str] = (),
) -> bytes:
    """A frame as a transmitter sends it, for tests and for sending one by hand.

    `data` is what goes between the brackets after the account, e.g. "Nri1/PA501" (SIA-DCS),
    "1120 01 501" (ADM-CID) or "" (NULL). Encrypted frames always carry a timestamp.
    """
    if key is not None and timestamp is None:
        timestamp = datetime.now(UTC)
    inner = f"#{account}|{data}" if data else ""
    tail = "".join(f"[{item}]" for item in extended)
    tail += format_timestamp(timestamp) if timestamp is not None else ""
    head = f"{sequence:04d}{_route(receiver, line)}#{account}["
    if key is not None:
        body = encrypt(f"|{inner}]{tail}", key)
        return _wrap(f'"*{message_type}"{head}{body}')
    return _wrap(f'"{message_type}"{head}{inner}]{tail}')
