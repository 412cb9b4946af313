"""What producers report: alarm activations, incident reports, reconnaissance sightings, audit."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator, model_validator

from schemas.common import (
    Address,
    Branch,
    BranchType,
    Contract,
    EventTime,
    FreeText,
    Identifier,
    Location,
)
from schemas.pseudonym import PlatePseudonym

if TYPE_CHECKING:
    from datetime import datetime

# --- descriptions shared by incidents and sightings ---------------------------------------


class HeightBand(StrEnum):
    UNDER_165 = "under_165"
    FROM_165_TO_180 = "165_180"
    FROM_180_TO_195 = "180_195"
    OVER_195 = "over_195"


class Build(StrEnum):
    SLIM = "slim"
    MEDIUM = "medium"
    HEAVY = "heavy"


class FaceCovering(StrEnum):
    NONE = "none"
    BALACLAVA = "balaclava"
    SCARF = "scarf"
    HOOD = "hood"
    MOTORCYCLE_HELMET = "motorcycle_helmet"
    CAP = "cap"
    SUNGLASSES = "sunglasses"
    MEDICAL_MASK = "medical_mask"


class PersonDescription(Contract):
    """An offender or suspect, as structured fields only: no names, no photos."""

    height_band: HeightBand | None = None
    build: Build | None = None
    clothing: Annotated[list[Annotated[str, Field(max_length=60)]], Field(max_length=10)] = []
    face_covering: FaceCovering | None = None
    language: Annotated[str, Field(max_length=40)] | None = None


class GetawayMode(StrEnum):
    ON_FOOT = "on_foot"
    BICYCLE = "bicycle"
    SCOOTER = "scooter"
    MOTORCYCLE = "motorcycle"
    CAR = "car"
    UNKNOWN = "unknown"


class Vehicle(Contract):
    """A vehicle as seen; the plate only as a keyed-hash pseudonym."""

    kind: GetawayMode
    make: Annotated[str, Field(max_length=40)] | None = None
    colour: Annotated[str, Field(max_length=30)] | None = None
    plate_pseudonym: PlatePseudonym | None = None


# --- alarm activations from private alarm centres ---------------------------------------


class AlarmSignal(StrEnum):
    PANIC = "panic"
    HOLD_UP = "hold_up"
    DURESS = "duress"
    RESTORE = "restore"
    CANCEL = "cancel"
    TEST = "test"
    LINK_TEST = "link_test"
    SITE_SILENT = "site_silent"


class VerificationMethod(StrEnum):
    """How an alarm centre verified an activation (CLC/TS 50131-9)."""

    CAMERA = "camera"
    AUDIO = "audio"
    SEQUENTIAL_BUTTONS = "sequential_buttons"
    CALLBACK = "callback"
    PERSON_ON_SITE = "person_on_site"


class Verification(Contract):
    method: VerificationMethod
    verified: bool = Field(description="True: a real hold-up; false: the centre found no robbery.")
    at: EventTime


class AlarmSite(Contract):
    """The subscriber's premises as the alarm centre has them registered."""

    site_id: Identifier
    location: Location
    branch_type: BranchType
    chain: Annotated[str, Field(max_length=80)] | None = None
    address: Address | None = None


class AlarmActivation(Contract):
    """A panic or hold-up button activation (or restore, test...) forwarded by a PAC."""

    event_id: UUID
    alarm_centre: Identifier
    subscriber_account: Identifier
    site: AlarmSite
    signal: AlarmSignal
    button_id: Identifier | None = Field(None, description="Zone or button that was pressed.")
    user_id: Identifier | None = Field(
        None, description="Staff code of whoever pressed it; two different staff verify."
    )
    occurred_at: EventTime
    received_at: EventTime
    verification: Verification | None = None
    free_text: FreeText | None = None
    unauthenticated: bool = Field(
        False,
        description="Came as a plain SIA frame from a site registered for plain frames: anyone "
        "who can reach the receiver could have sent it, so it never verifies an alarm and the "
        "desk should say so.",
    )

    @field_validator("received_at")
    @classmethod
    def _received_after_occurred(cls, received_at: datetime, info: ValidationInfo) -> datetime:
        # Named under received_at, so a refusal says which field and when the press was.
        occurred_at = info.data.get("occurred_at")
        if occurred_at is not None and received_at < occurred_at:
            raise ValueError(f"lies before occurred_at ({occurred_at.isoformat()})")
        return received_at


# --- incident reports from retailers and the CBL tool ------------------------------------


class IncidentType(StrEnum):
    """Police definitions (footnotes 35, 40, 45 of the action programme)."""

    OVERVAL = "overval"
    POGING = "poging"
    STRAATROOF = "straatroof"
    RAMKRAAK = "ramkraak"
    PLOFKRAAK = "plofkraak"
    WONINGOVERVAL = "woningoverval"


class Weapon(StrEnum):
    FIREARM = "firearm"
    KNIFE = "knife"
    BLUNT = "blunt"
    EXPLOSIVE = "explosive"
    SUGGESTED = "suggested"
    NONE = "none"


class ModusOperandi(StrEnum):
    AT_OPENING = "at_opening"
    AT_CLOSING = "at_closing"
    VIA_BACK_DOOR = "via_back_door"
    WAITED_INSIDE = "waited_inside"
    THREATENED_STAFF = "threatened_staff"
    TIED_UP_STAFF = "tied_up_staff"
    VIOLENCE_USED = "violence_used"
    CASH_REGISTER = "cash_register"
    SAFE = "safe"
    DISPLAY_CASE = "display_case"
    CIGARETTES = "cigarettes"
    POSED_AS_CUSTOMER = "posed_as_customer"
    POSED_AS_DELIVERY = "posed_as_delivery"
    VEHICLE_RAM = "vehicle_ram"
    GAS_OR_EXPLOSIVE = "gas_or_explosive"


class LootCategory(StrEnum):
    CASH = "cash"
    CIGARETTES = "cigarettes"
    PHONES = "phones"
    WATCHES = "watches"
    JEWELLERY = "jewellery"
    SUNGLASSES = "sunglasses"
    MEDICINES = "medicines"
    OTHER_GOODS = "other_goods"
    NOTHING = "nothing"


class ValueBand(StrEnum):
    UNKNOWN = "unknown"
    NONE = "none"
    UNDER_1K = "under_1k"
    FROM_1K_TO_10K = "1k_10k"
    FROM_10K_TO_50K = "10k_50k"
    OVER_50K = "over_50k"


class Getaway(Contract):
    mode: GetawayMode
    vehicle: Vehicle | None = None
    direction: Annotated[str, Field(max_length=80)] | None = None


class IncidentReport(Contract):
    """A robbery (or attempt, ram raid...) reported by a retailer or the trade association."""

    event_id: UUID
    reporting_org: Identifier
    branch: Branch
    incident_type: IncidentType
    occurred_at: EventTime
    offender_count: Annotated[int, Field(ge=1, le=20)] | None = None
    weapons: Annotated[list[Weapon], Field(max_length=6)] = []
    modus_operandi: Annotated[list[ModusOperandi], Field(max_length=15)] = []
    loot: Annotated[list[LootCategory], Field(max_length=9)] = []
    loot_value: ValueBand = ValueBand.UNKNOWN
    getaway: Getaway | None = None
    offenders: Annotated[list[PersonDescription], Field(max_length=20)] = []
    free_text: FreeText | None = None


# --- reconnaissance sightings (voorverkenningen) -----------------------------------------


class ReconBehaviour(StrEnum):
    ASKS_CLOSING_TIME = "asks_closing_time"
    ASKS_ABOUT_CASH = "asks_about_cash"
    FILMS_ENTRANCE = "films_entrance"
    FILMS_CAMERAS = "films_cameras"
    LOITERS_AT_OPENING = "loiters_at_opening"
    LOITERS_AT_CLOSING = "loiters_at_closing"
    REPEATED_VISITS_NO_PURCHASE = "repeated_visits_no_purchase"
    WATCHES_STAFF_ENTRANCE = "watches_staff_entrance"
    WAITS_IN_VEHICLE = "waits_in_vehicle"


class ReconSighting(Contract):
    """Staff saw what looks like offenders scouting a target (§3.2)."""

    event_id: UUID
    reporter_org: Identifier
    branch: Branch | None = Field(None, description="The branch scouted, when it is one.")
    location: Location | None = Field(None, description="Where, when it is not at a branch.")
    observed_at: EventTime
    behaviours: Annotated[list[ReconBehaviour], Field(min_length=1, max_length=9)]
    persons: Annotated[list[PersonDescription], Field(max_length=10)] = []
    vehicle: Vehicle | None = None
    free_text: FreeText | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> ReconSighting:
        if self.branch is None and self.location is None:
            raise ValueError("give the branch or the location of the sighting")
        return self

    @property
    def where(self) -> Location:
        """The branch's location, or the reported location when no branch is named."""
        if self.branch is not None:
            return self.branch.location
        assert self.location is not None  # guaranteed by _somewhere
        return self.location


# --- audit --------------------------------------------------------------------------------


class AuditAction(StrEnum):
    EVENT_ACCEPTED = "event_accepted"
    EVENT_REJECTED = "event_rejected"
    ALERT_VIEWED = "alert_viewed"
    ALERT_DELIVERED = "alert_delivered"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_ESCALATED = "alert_escalated"
    DATA_EXPORTED = "data_exported"
    DATA_DELETED = "data_deleted"
    LOGIN = "login"
    SILENCE_CREATED = "silence_created"
    SILENCE_EXPIRED = "silence_expired"
    SUBSCRIPTION_CREATED = "subscription_created"
    SUBSCRIPTION_DELETED = "subscription_deleted"
    SUBSCRIPTION_CHANGED = "subscription_changed"


class AuditEvent(Contract):
    """Who did or saw what, when: access to personal data is logged (AVG, Wet politiegegevens)."""

    audit_id: UUID
    at: EventTime
    actor: Identifier = Field(description="Organisation or user id, or 'system'.")
    action: AuditAction
    subject: Annotated[str, Field(max_length=200)]
    details: dict[str, Any] = {}
