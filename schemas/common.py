"""Building blocks of the contract: strict base model, places, times and closed vocabularies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from heterdaad.settings import get_settings

# Tab and newline are fine in free text; the other C0 controls (and DEL) are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The European Netherlands with a few kilometres of margin: a cheap first check before the
# gazetteer (schemas/geography.py) decides whether a point lies in the Netherlands.
NL_LATITUDE = (50.70, 53.60)
NL_LONGITUDE = (3.30, 7.25)


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
    def _no_control_characters(cls, value: object) -> object:
        # NUL and other C0 controls have no place in a report, and PostgreSQL text refuses NUL.
        texts = value if isinstance(value, list | tuple) else (value,)
        for text in texts:
            if isinstance(text, str) and _CONTROL.search(text):
                raise ValueError("contains a control character")
        return value


def _not_in_future(moment: datetime) -> datetime:
    skew = timedelta(seconds=get_settings().clock_skew_seconds)
    if moment - datetime.now(UTC) > skew:
        raise ValueError(f"lies in the future by more than the allowed clock skew ({skew})")
    return moment


EventTime = Annotated[AwareDatetime, AfterValidator(_not_in_future)]
"""A timezone-aware time that is not in the future beyond the configured clock skew."""

FreeText = Annotated[str, Field(max_length=2000)]
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]+$"
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]


class Location(Contract):
    """A point in the Netherlands (WGS84)."""

    lat: Annotated[float, Field(ge=NL_LATITUDE[0], le=NL_LATITUDE[1])]
    lon: Annotated[float, Field(ge=NL_LONGITUDE[0], le=NL_LONGITUDE[1])]

    @model_validator(mode="after")
    def _in_the_netherlands(self) -> Location:
        # Imported here: the gazetteer module itself works on Locations.
        from schemas.geography import is_in_netherlands

        if not is_in_netherlands(self):
            raise ValueError("lies outside the Netherlands (nearer to a Belgian or German place)")
        return self


class Address(Contract):
    street: Annotated[str, Field(max_length=120)]
    postcode: Annotated[str, Field(pattern=r"^[1-9][0-9]{3} ?[A-Z]{2}$")]
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
