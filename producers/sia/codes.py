"""Which SIA DC-03 codes and Contact ID events become which alarm signal of the contract.

Only robbery-related signals (panic, hold-up, duress, their restores and cancels) and the tests
that prove a transmission path is alive are forwarded. Everything else (burglary, fire,
opening/closing, troubles...) maps to None, and a frame with nothing else in it is answered
DUH: an ACK would tell the panel that someone took responsibility for, say, a fire alarm that
we then drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from schemas.events import AlarmSignal

# The wire's message types (DC-09 "ID token" without the encryption star).
SIA_DCS = "SIA-DCS"
ADM_CID = "ADM-CID"
NULL = "NULL"

_IDENTIFIER = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_LEADING_NUMBER = re.compile(r"^\s*([0-9]+)")
# SIA DC-03 text, between carets: it may hold a "/" that separates nothing.
_TEXT = re.compile(r"\^[^^]*\^")
# SIA DC-03 modifiers (date, time, user, area, peripheral): lower-case fields of a data block
# that qualify the events after them rather than being events.
_MODIFIERS = {"da", "ti", "id", "ri", "pi"}


class NumberMeans(StrEnum):
    """What the number reported with an event identifies (SIA "concerns", Contact ID zone/user)."""

    ZONE = "zone"
    USER = "user"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Meaning:
    signal: AlarmSignal
    number: NumberMeans


# SIA DC-03 event codes. SIA has no separate duress code: HA is defined as "silent alarm, user
# under duress", and DU is the Dealer ID, not duress. Duress reaches us as Contact ID 121/124/125.
SIA_CODES: dict[str, Meaning] = {
    "PA": Meaning(AlarmSignal.PANIC, NumberMeans.ZONE),
    "HA": Meaning(AlarmSignal.HOLD_UP, NumberMeans.ZONE),
    "PR": Meaning(AlarmSignal.RESTORE, NumberMeans.ZONE),
    "PH": Meaning(AlarmSignal.RESTORE, NumberMeans.ZONE),
    "HR": Meaning(AlarmSignal.RESTORE, NumberMeans.ZONE),
    "HH": Meaning(AlarmSignal.RESTORE, NumberMeans.ZONE),
    # "Cancel report": what Contact ID 406 (user cancelled an alarm) becomes in SIA.
    "OC": Meaning(AlarmSignal.CANCEL, NumberMeans.USER),
    "RP": Meaning(AlarmSignal.TEST, NumberMeans.NOTHING),
    "RX": Meaning(AlarmSignal.TEST, NumberMeans.USER),
}

# Contact ID event codes (the 3 digits after the qualifier) and what their number field holds.
CONTACT_ID_EVENTS: dict[str, Meaning] = {
    "120": Meaning(AlarmSignal.PANIC, NumberMeans.ZONE),
    "121": Meaning(AlarmSignal.DURESS, NumberMeans.USER),
    "122": Meaning(AlarmSignal.HOLD_UP, NumberMeans.ZONE),  # silent panic: a hold-up button
    "123": Meaning(AlarmSignal.PANIC, NumberMeans.ZONE),  # audible panic
    "124": Meaning(AlarmSignal.DURESS, NumberMeans.USER),  # duress, access granted
    "125": Meaning(AlarmSignal.DURESS, NumberMeans.USER),  # duress, egress granted
    "406": Meaning(AlarmSignal.CANCEL, NumberMeans.USER),
    "601": Meaning(AlarmSignal.TEST, NumberMeans.USER),  # manual test
    "602": Meaning(AlarmSignal.TEST, NumberMeans.NOTHING),  # periodic test
    "603": Meaning(AlarmSignal.TEST, NumberMeans.NOTHING),  # periodic RF transmission test
    "608": Meaning(AlarmSignal.TEST, NumberMeans.NOTHING),  # periodic test, trouble present
}
_ALARM_EVENTS = {"120", "121", "122", "123", "124", "125"}

# Contact ID event qualifiers.
NEW_EVENT = "1"
RESTORE = "3"
STILL_PRESENT = "6"


@dataclass(frozen=True)
class Report:
    """What a panel reported, protocol details stripped off.

    `number` is the digits after a SIA code, or the zone/user field of Contact ID; `user` is the
    SIA "id" modifier (the user who entered a code), when sent.
    """

    message_type: str
    sia_code: str | None = None
    cid_qualifier: str | None = None
    cid_event: str | None = None
    number: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class Signal:
    """A report as the contract has it."""

    signal: AlarmSignal
    button_id: str | None
    user_id: str | None


def sia_reports(block: str, user: str | None = None) -> list[Report]:
    """The events of a SIA DC-03 data block, e.g. "ri1/FA501/id12/HA502", one Report each.

    Fields are separated by "/": an event is a code and its number ("HA502"), a modifier a
    name and a value ("id12") that holds for the events after it, until the next of its name.
    `user` is an id modifier read before the block. Only id is kept: the contract has no area.
    """
    reports = []
    for field in _TEXT.sub("^^", block).split("/"):
        name, value = field[:2], field[2:]
        if name in _MODIFIERS:
            if name == "id":
                user = value or None
            continue
        number = _LEADING_NUMBER.match(value)
        reports.append(
            Report(SIA_DCS, sia_code=name or None, number=number[1] if number else None, user=user)
        )
    return reports


def interpret(report: Report) -> Signal | None:
    """The contract's signal for a report, or None when it is not one we forward."""
    if report.message_type == NULL:
        return Signal(AlarmSignal.LINK_TEST, None, None)
    meaning = _meaning(report)
    if meaning is None:
        return None
    number = _identifier(report.number)
    user = _identifier(report.user)
    if meaning.number is NumberMeans.ZONE:
        return Signal(meaning.signal, number, user)
    if meaning.number is NumberMeans.USER:
        return Signal(meaning.signal, None, number or user)
    return Signal(meaning.signal, None, user)


def _meaning(report: Report) -> Meaning | None:
    if report.message_type == SIA_DCS:
        return SIA_CODES.get((report.sia_code or "").upper())
    if report.message_type != ADM_CID or report.cid_event is None:
        return None
    meaning = CONTACT_ID_EVENTS.get(report.cid_event)
    if meaning is None:
        return None
    if meaning.signal is AlarmSignal.TEST:
        # A test report proves the path whatever its qualifier says.
        return meaning
    if report.cid_qualifier == NEW_EVENT:
        return meaning
    if report.cid_qualifier == RESTORE and report.cid_event in _ALARM_EVENTS:
        return Meaning(AlarmSignal.RESTORE, meaning.number)
    # "Still present" (6) repeats a condition already reported; a restore of a cancel means
    # nothing. Neither is a new fact for the police.
    return None


def _identifier(number: str | None) -> str | None:
    """A zone or user number as an identifier; all zeros means "none" (system, keypad)."""
    if number is None:
        return None
    number = number.strip()
    if not number or set(number) == {"0"} or not _IDENTIFIER.match(number):
        return None
    return number
