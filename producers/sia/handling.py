"""One DC-09 frame in, one answer out: check, look up, decrypt, interpret, publish, then ACK.

The order is the point: a frame is only ACKed after the broker acknowledged each activation
it carries, so an alarm the panel believes delivered is never lost; when publishing fails the
receiver answers nothing and the panel retransmits (or falls back to its backup path).
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pysiaalarm.account import SIAAccount as PySiaAccount
from pysiaalarm.event import SIAEvent

from producers.edge_policy import admit
from producers.sia import frames
from producers.sia.accounts import AccountLookupError
from producers.sia.codes import ADM_CID, NULL, SIA_DCS, Report, interpret, sia_reports
from producers.sia.replays import ReplayGuard
from schemas.events import AlarmActivation

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from producers.sia.accounts import SiaAccount
    from producers.sia.codes import Signal

logger = logging.getLogger(__name__)

EVENT_NAMESPACE = uuid.UUID("fe973de2-19ef-4df2-80ba-f94d5d677c46")
# DC-09 timestamp test: a message may be stamped up to 20 s after and 40 s before our clock.
TIMESTAMP_LEAD = timedelta(seconds=20)
TIMESTAMP_LAG = timedelta(seconds=40)
SUPPORTED_TYPES = (SIA_DCS, ADM_CID, NULL)
# A panel's data block holds the few events of one moment; a 4 KB frame can hold some 1,300
# ("PA/PA/..."), each of which became an activation, a stored event and a log line of its own.
MAX_EVENTS_PER_FRAME = 32
_TIMESTAMP_TAIL = re.compile(r"_[0-9:,-]+$")
# The account the data names ("#1234|", after an encrypted frame's padding and its "|").
_DATA_ACCOUNT = re.compile(r"^(?:[^|\[\]]*\|)?#(?P<account>[0-9A-Fa-f]{3,16})\|")
# Decrypting for an unknown account too keeps its NAK as slow as a known account's.
_NO_KEY = bytes(16)


@dataclass(frozen=True)
class Reply:
    """What to send back (None: nothing, close the connection) and which site proved alive."""

    answer: bytes | None
    heard: SiaAccount | None = None
    signal: str = ""


class Refused(Exception):
    """A frame answered with NAK; the message says why, for the log."""


class RetransmissionMemory:
    """Gives a retransmitted frame the event id of the first copy, even when it is re-stamped.

    Panels keep the sequence number when they retransmit but may put a fresh timestamp on it
    (an old one would fail the timestamp test), and unencrypted frames may carry none at all.
    So the first copy's id is remembered for `window` under a key without the timestamp.
    """

    def __init__(self, window: timedelta = timedelta(minutes=10), max_entries: int = 50_000):
        self._window = window
        self._max_entries = max_entries
        self._seen: OrderedDict[str, tuple[uuid.UUID, datetime]] = OrderedDict()

    def event_id(self, key: str, stamped: datetime | None, now: datetime) -> uuid.UUID:
        self._forget_before(now - self._window)
        if (remembered := self._seen.get(key)) is not None:
            return remembered[0]
        # Timestamped: the same frame gives the same id after a restart too.
        event_id = uuid.uuid5(EVENT_NAMESPACE, f"{key}:{(stamped or now).isoformat()}")
        self._seen[key] = (event_id, now)
        if len(self._seen) > self._max_entries:
            self._seen.popitem(last=False)
        return event_id

    def _forget_before(self, cutoff: datetime) -> None:
        while self._seen and next(iter(self._seen.values()))[1] < cutoff:
            self._seen.popitem(last=False)


class FrameHandler:
    """Decides the answer to each frame and publishes what is forwarded.

    `lookup` finds an account by number and account prefix (AccountDirectory.lookup);
    `publish` returns once the broker has the activation.
    """

    def __init__(
        self,
        lookup: Callable[[str, str | None], Awaitable[SiaAccount | None]],
        publish: Callable[[AlarmActivation], Awaitable[None]],
        clock: Callable[[], datetime],
        memory: RetransmissionMemory | None = None,
        replays: ReplayGuard | None = None,
    ) -> None:
        self._lookup = lookup
        self._publish = publish
        self._clock = clock
        self._memory = memory or RetransmissionMemory()
        self._replays = replays or ReplayGuard(TIMESTAMP_LAG)

    async def handle(self, frame: str, peer: str) -> Reply:
        now = self._clock()
        try:
            header = frames.parse_header(frame)
            if header.message_type not in SUPPORTED_TYPES:
                # Well-formed, just not a kind we can read. Answered before the account is
                # looked up, so that the answer tells nobody whether the account exists.
                logger.info(
                    "sia message type not supported, answered DUH",
                    extra={"peer": peer, "message_type": header.message_type},
                )
                return Reply(frames.duh(header))
            account = await self._account(header)
            event = _parse(header, account)
            _check_data_account(header, event)
            stamped = _check_timestamp(header, event, now)
            if (
                header.encrypted
                and stamped is not None
                and self._replays.replayed(
                    account.subscriber_account, stamped, header.data, header.sequence, now
                )
            ):
                raise Refused(f"replay of an earlier message under sequence {header.sequence}")
            reports = _reports(event)
            if len(reports) > MAX_EVENTS_PER_FRAME:
                raise Refused(
                    f"{len(reports)} events in one block, more than {MAX_EVENTS_PER_FRAME}"
                )
        except (frames.FrameError, Refused) as refusal:
            # The frame is logged for diagnosis: plain frames hold account and zone numbers
            # only, encrypted ones cipher text.
            logger.warning(
                "sia frame refused, answered NAK",
                extra={"peer": peer, "reason": str(refusal), "frame": frame[:200]},
            )
            return Reply(frames.nak(now))
        context = {
            "peer": peer,
            "site_id": account.site.site_id,
            "account": header.account,
            "sequence": header.sequence,
            "message_type": header.message_type,
            "code": ",".join(str(report.sia_code or report.cid_event) for report in reports),
        }
        # Each event of a block as if it had come alone; one not ours does not hide the others.
        activations = []
        for position, report in enumerate(reports):
            signal = interpret(report)
            if signal is None:
                continue
            try:
                activations.append(
                    admit(self._activation(header, account, report, signal, position, stamped, now))
                )
            except ValidationError as error:
                logger.error("sia signal not valid", extra={**context, "error": str(error)})
        if not activations:
            logger.info("sia signal not forwarded, answered DUH", extra=context)
            return Reply(frames.duh(header), account, f"not_forwarded:{context['code']}")
        signals = ",".join(activation.signal for activation in activations)
        for activation in activations:
            logged = {**context, "event_id": str(activation.event_id), "signal": activation.signal}
            try:
                await self._publish(activation)
            except Exception:
                # Whatever went wrong, the alarm is not safe with us: no ACK, let the panel
                # retry. Events already published come again under the same ids: duplicates.
                logger.exception("sia signal not published, not acknowledged", extra=logged)
                return Reply(None, account, signals)
            logger.info("sia signal forwarded", extra=logged)
        return Reply(frames.ack(header, account.key, now), account, signals)

    async def _account(self, header: frames.Header) -> SiaAccount:
        if header.account is None:
            raise Refused("frame names no account")
        try:
            account = await self._lookup(header.account, header.line)
        except AccountLookupError as error:
            raise Refused(f"account lookup failed: {error}") from error
        if account is None:
            if header.encrypted:
                with contextlib.suppress(frames.FrameError):
                    frames.decrypted_message(header.data, _NO_KEY)
            raise Refused(f"unknown account {header.account} (line {header.line})")
        if header.encrypted and account.key is None:
            raise Refused(f"encrypted frame for account {header.account}, which has no key")
        if not header.encrypted and not account.plain_frames:
            # A plain frame could have been written by anyone who reaches the port: taken only
            # from sites an admin registered for them. The NAK is the one an unknown account
            # gets, so a plain test frame tells nobody which accounts exist.
            raise Refused(
                f"unencrypted frame for account {header.account}, not registered for plain frames"
            )
        return account

    def _activation(
        self,
        header: frames.Header,
        account: SiaAccount,
        report: Report,
        signal: Signal,
        position: int,
        stamped: datetime | None,
        now: datetime,
    ) -> AlarmActivation:
        key = ":".join(
            str(part)
            for part in (
                account.alarm_centre,
                account.subscriber_account,
                header.sequence,
                header.message_type,
                report.sia_code or report.cid_event,
                report.cid_qualifier,
                report.number,
            )
        )
        if position:
            # A later event of a block; the first keeps the id it has when it comes alone.
            key += f":{position}"
        return AlarmActivation(
            event_id=self._memory.event_id(key, stamped, now),
            alarm_centre=account.alarm_centre,
            subscriber_account=account.subscriber_account,
            site=account.site,
            signal=signal.signal,
            button_id=signal.button_id,
            user_id=signal.user_id,
            # A panel clock may run up to 20 s ahead inside the accepted window.
            occurred_at=min(stamped, now) if stamped is not None else now,
            received_at=now,
            unauthenticated=not header.encrypted,
        )


def _parse(header: frames.Header, account: SiaAccount) -> SIAEvent:
    """Decrypt and parse the frame's data with pysiaalarm."""
    # pysiaalarm silently drops what is not ASCII after decrypting: checked here first.
    if header.encrypted and account.key is not None:
        frames.decrypted_message(header.data, account.key)  # raises FrameError: NAK
    # pysiaalarm takes the key as text and uses its characters as key bytes; our keys are
    # binary, so the bytes are set directly and its key text (which it would echo in
    # responses) stays empty. Its timestamp check is off: ours uses the injectable clock.
    py_account = PySiaAccount(account_id=header.account or "", allowed_timeband=None)
    py_account.key_b = account.key
    try:
        return SIAEvent.from_line(header.text, {header.account or "": py_account})
    except Exception as error:
        # Bad hex, a wrong key (garbage after decryption), content no parser matches: all
        # mean the frame cannot be trusted.
        raise Refused(f"data cannot be read: {type(error).__name__}: {error}") from error


def _check_data_account(header: frames.Header, event: SIAEvent) -> None:
    """A frame whose data names another account than its header is refused: the site (and
    the key) are the header's, so its alarm would send the police to the header's shop for
    an event of another one. Leading zeros aside, a panel writes the same number twice."""
    named = _DATA_ACCOUNT.match(event.content or "")
    if named is None:
        return
    if named["account"].lstrip("0").upper() != (header.account or "").lstrip("0").upper():
        raise Refused(f"data names account {named['account']}, the header {header.account}")


def _check_timestamp(header: frames.Header, event: SIAEvent, now: datetime) -> datetime | None:
    """The frame's time, checked as DC-09 asks; None for unencrypted frames that carry none."""
    stamped = event.timestamp if isinstance(event.timestamp, datetime) else None
    if stamped is None:
        if header.encrypted:
            raise Refused("encrypted frame without a timestamp")
        if _TIMESTAMP_TAIL.search(event.content or ""):
            raise Refused("timestamp cannot be read")
        return None
    if not now - TIMESTAMP_LAG <= stamped <= now + TIMESTAMP_LEAD:
        raise Refused(f"timestamp {stamped.isoformat()} outside the window around {now}")
    return stamped


def _reports(event: SIAEvent) -> list[Report]:
    message_type = getattr(event.message_type, "value", event.message_type)
    if message_type == ADM_CID:
        return [
            Report(
                ADM_CID,
                cid_qualifier=event.event_qualifier,
                cid_event=event.event_type,
                number=event.ri,
            )
        ]
    if message_type == NULL:
        return [Report(NULL)]
    # pysiaalarm reads the modifiers before the first code (in one order only) and leaves the
    # rest of the block, other events included, in that code's message: read again from there.
    return sia_reports(f"{event.code or ''}{event.message or ''}", user=event.id or None)
