"""Building blocks of the contract: strict base model, places, times and closed vocabularies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# Tab and newline are fine in free text; the other C0 controls (and DEL) are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The European Netherlands with a few kilometres of margin: the contract's bound. Whether a
# point inside it lies in the Netherlands is the gazetteer's (schemas/geography.py) call, made
# once where an event enters (producers/edge_policy.py), not by every reader of the wire.
NL_LATITUDE = (50.70, 53.60)
NL_LONGITUDE = (3.30, 7.25)
# Every time on the wire lies in these years (UTC), so that every reader can hold it: Python
# cannot move 0001-01-01T00:30+01:00 to UTC, and PostgreSQL stores a year 1 as -infinity.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 1, 1, tzinfo=UTC)
# And its offset is one a place has (UTC-12 to UTC+14): Python takes up to ±23:59, but
# PostgreSQL reads no offset past ±15:59, and the desk, the digest and the sink's task settling
# read times from stored JSON. A report at +23:59 stopped the unit's desk list (500) and an
# activation verified at +23:59 stopped the sink on every restart.
LARGEST_UTC_OFFSET = timedelta(hours=14)


def refuse_control_characters(text: str) -> str:
    """Text as a person may type it: tab and newline, but no other C0 control or DEL (and no
    NUL, which PostgreSQL text cannot hold). For the API's own models that are no Contract."""
    if _CONTROL.search(text):
        raise ValueError("contains a control character")
    return text


class Contract(BaseModel):
    """Base of every model on the wire: unknown fields are refused, instances are immutable."""

    # NaN and infinities are no measurement, and PostgreSQL's jsonb refuses them.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        use_enum_values=False,
        allow_inf_nan=False,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _every_reader_can_hold_it(cls, value: object) -> object:
        # One validator for every field, run on every record decoded: NUL and other C0 controls
        # have no place in a report (PostgreSQL text refuses NUL), nor a time outside the years
        # every reader can hold.
        if isinstance(value, datetime):
            if value.tzinfo is not None and not EARLIEST_TIME <= value < LATEST_TIME:
                raise ValueError(
                    f"lies outside {EARLIEST_TIME:%Y-%m-%d} to {LATEST_TIME:%Y-%m-%d} (UTC)"
                )
            offset = value.utcoffset()
            if offset is not None and abs(offset) > LARGEST_UTC_OFFSET:
                raise ValueError("has a UTC offset beyond ±14:00, which no place has")
            return value
        texts = value if isinstance(value, list | tuple) else (value,)
        for text in texts:
            if isinstance(text, str):
                refuse_control_characters(text)
        return value


class EventTimeMarker:
    """Marks a field as the time something happened, for the edges' clock-skew check."""

    def __repr__(self) -> str:
        return "EVENT_TIME"


EVENT_TIME = EventTimeMarker()

EventTime = Annotated[AwareDatetime, EVENT_TIME]
"""A timezone-aware time. On the wire any such time from 1970 on is valid: a reader's clock may
lag the writer's. Where an event enters, producers/edge_policy.py refuses one in the future or
more than `max_event_age_days` back."""

FreeText = Annotated[str, Field(max_length=2000)]
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]+$"
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]


class Location(Contract):
    """A point in the Netherlands (WGS84)."""

    # Only the box: the edges ask the gazetteer whether the point is Dutch (edge_policy.py).

    lat: Annotated[float, Field(ge=NL_LATITUDE[0], le=NL_LATITUDE[1])]
    lon: Annotated[float, Field(ge=NL_LONGITUDE[0], le=NL_LONGITUDE[1])]


POSTCODE_PATTERN = r"^[1-9][0-9]{3} ?[A-Z]{2}$"


class Address(Contract):
    street: Annotated[str, Field(max_length=120)]
    postcode: Annotated[str, Field(pattern=POSTCODE_PATTERN)]
    city: Annotated[str, Field(max_length=80)]


class BranchType(StrEnum):
    """Kinds of target named by the taskforce (§6.2 of the action programme)."""

    SUPERMARKET = "supermarket"
    PETROL_STATION = "petrol_station"
    SNACK_BAR = "snack_bar"
    ICE_CREAM_SHOP = "ice_cream_shop"
    DRUGSTORE = "drugstore"
    JEWELLER = "jeweller"
    TELECOM_SHOP = "telecom_shop"
    OPTICIAN = "optician"
    PHARMACY = "pharmacy"
    TOBACCONIST = "tobacconist"
    HORECA = "horeca"
    BANK = "bank"
    TRANSPORT = "transport"
    MEAL_DELIVERY = "meal_delivery"
    HOME = "home"
    OTHER_RETAIL = "other_retail"


class PoliceUnit(StrEnum):
    """The ten regional units of the Dutch national police (§7.6 b)."""

    NOORD_NEDERLAND = "noord-nederland"
    OOST_NEDERLAND = "oost-nederland"
    MIDDEN_NEDERLAND = "midden-nederland"
    NOORD_HOLLAND = "noord-holland"
    AMSTERDAM = "amsterdam"
    DEN_HAAG = "den-haag"
    ROTTERDAM = "rotterdam"
    ZEELAND_WEST_BRABANT = "zeeland-west-brabant"
    OOST_BRABANT = "oost-brabant"
    LIMBURG = "limburg"


class Branch(Contract):
    """A shop, station or other site that can be robbed, as its chain knows it."""

    branch_id: Identifier
    chain: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    branch_type: BranchType
    location: Location
    address: Address | None = None
