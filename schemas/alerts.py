"""What the system says: alerts with their evidence, and what each kind of recipient may see."""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from schemas.common import BranchType, Contract, EventTime, Identifier, Location, PoliceUnit
from schemas.events import (
    GetawayMode,
    ModusOperandi,
    PersonDescription,
    ReconBehaviour,
    Vehicle,
    Weapon,
)
from schemas.pseudonym import without_pseudonyms

# Alert ids derive from dedup keys, so a replayed input yields the very same alert.
ALERT_NAMESPACE = uuid.UUID("5d0f7f3e-3c1a-4f5e-9f57-6865746572ad")


def alert_id_for(dedup_key: str) -> uuid.UUID:
    """The id of the alert with this dedup key: the same on every worker, after every replay."""
    return uuid.uuid5(ALERT_NAMESPACE, dedup_key)


REFERENCE_PATTERN = r"^ar1:[0-9a-f]{32}$"


def alert_reference(dedup_key: str, key: bytes) -> str:
    """What recipients other than the police see of a dedup key: a keyed hash of it, as
    'ar1:<first 128 bits, hex>'. One dedup key gives one reference on every delivery, two give
    two, and a reference tells nothing of its dedup key, which names the event behind an alert
    (`robbery_reported:<report id>`, `hold_up:<site>:<press id>`): another organisation's ids.
    Keyed with the server's plate key under a label of its own, as the verdicts' event ids are
    (producers/api/alarm_tasks.py), so that a guessed event id cannot be tried against it; a
    new plate key gives new references (README, "Rotating the plate key")."""
    label = b"alert-reference\x00" + dedup_key.encode()
    return f"ar1:{hmac.new(key, label, hashlib.sha256).hexdigest()[:32]}"


def alert_reference_id(dedup_key: str, key: bytes) -> uuid.UUID:
    """The alert id recipients other than the police see: derived from the alert's reference,
    as the police's `alert_id_for` is from the dedup key. The police's id is a name-based UUID
    of the dedup key, so a guessed event id could be tried against it; this one cannot be
    without the key, and is as stable (the same on every delivery and notice of one alert)."""
    return uuid.uuid5(ALERT_NAMESPACE, alert_reference(dedup_key, key))


GROUP_REFERENCE_PATTERN = r"^ag1:[0-9a-f]{32}$"


def group_reference(group_key: str, key: bytes) -> str:
    """What recipients other than the police see of a notification's group key, which names
    the labels it groups on (a site id of another organisation, a series id): 'ag1:<keyed
    hash>', equal for equal groups, as `alert_reference` is for dedup keys."""
    label = b"group-reference\x00" + group_key.encode()
    return f"ag1:{hmac.new(key, label, hashlib.sha256).hexdigest()[:32]}"


class AlertKind(StrEnum):
    HOLD_UP_IN_PROGRESS = "hold_up_in_progress"
    VERIFIED_ALARM = "verified_alarm"
    ROBBERY_REPORTED = "robbery_reported"
    SERIES = "series"
    HOTSPOT = "hotspot"
    RECONNAISSANCE_WARNING = "reconnaissance_warning"
    MODUS_OPERANDI_BULLETIN = "modus_operandi_bulletin"


# A hold-up going on now, whether the stage took the alarm as real (a matching robbery report, a
# duress press left unresolved) or the centre or a second staff member verified it: the desk
# pins both on top and escalates both when nobody takes them up (docs/desk.md).
HOLD_UP_KINDS = frozenset({AlertKind.HOLD_UP_IN_PROGRESS, AlertKind.VERIFIED_ALARM})


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical up to 4 for info, for 'at least this severe' comparisons."""
        return list(Severity).index(self)


class Area(Contract):
    """Where an alert applies: a circle, or a set of hexagonal grid cells (H3)."""

    center: Location
    radius_m: Annotated[float, Field(gt=0, le=100_000)] | None = None
    cells: Annotated[
        list[Annotated[str, Field(pattern=r"^[0-9a-f]{15}$")]], Field(max_length=500)
    ] = []

    @model_validator(mode="after")
    def _circle_or_cells(self) -> Area:
        if self.radius_m is None and not self.cells:
            raise ValueError("give radius_m or cells")
        return self


class LinkReason(Contract):
    """One feature's part in a link: its observed value and its weight in the score."""

    feature: Annotated[str, Field(max_length=40)]
    value: float | str | None = None
    contribution: float = Field(description="Log-likelihood ratio (or score) this feature adds.")


# Reasons whose text value names a report, a pattern, a branch or a status, not a person.
_ID_REASONS = frozenset({"linked_with", "same_pattern", "nearby_sighting", "status"})


def _without_words(reason: LinkReason) -> LinkReason:
    """A reason without a text value that may describe someone ("zwarte bmw"); numbers and ids
    stay."""
    if not isinstance(reason.value, str) or reason.feature in _ID_REASONS:
        return reason
    return reason.model_copy(update={"value": None})


class EvidenceLink(Contract):
    """An event that supports the alert, with why it was linked."""

    event_id: UUID
    event_type: Literal["alarm_activation", "incident_report", "recon_sighting"]
    occurred_at: AwareDatetime | None = Field(
        None, description="When the linked event happened (event time)."
    )
    distance_m: Annotated[float, Field(ge=0)] | None = None
    time_gap_s: float | None = None
    similarity: dict[str, float] = Field(
        default_factory=dict, description="Similarity per feature, 0 to 1."
    )
    reasons: list[LinkReason] = []


class Lookout(Contract):
    """What staff should look out for: enough to act on, nothing that identifies a person."""

    behaviours: list[ReconBehaviour] = []
    modus_operandi: list[ModusOperandi] = []
    getaway_mode: GetawayMode | None = None
    vehicle_make: str | None = None
    vehicle_colour: str | None = None
    clothing: list[str] = []
    # Whom officers may meet: no person, but what they carried and how many they were.
    weapons: Annotated[list[Weapon], Field(max_length=6)] = []
    offender_count: Annotated[int, Field(ge=1, le=20)] | None = None

    def without_descriptions(self) -> Lookout:
        """What stays to look out for once the retention period is over (docs/time.md): no
        descriptions of persons or vehicles, which are staff's free text (clothing, a vehicle's
        make and colour); the coded facts of what happened stay: behaviours, modus operandi,
        the kind of getaway (car, scooter, on foot), the weapons and how many offenders."""
        return self.model_copy(update={"clothing": [], "vehicle_make": None,
                                       "vehicle_colour": None})  # fmt: skip


class WarningGrounds(Contract):
    """What a reconnaissance warning rests on, and how often background sightings score as high.

    No personal data: branches see it too.
    """

    score: float = Field(description="Warning score: the sum of the evidence's log-likelihood "
                         "ratios (docs/reconnaissance.md).")  # fmt: skip
    threshold: float = Field(description="The calibrated score from which a pattern warns.")
    false_warnings_per_100: Annotated[float, Field(ge=0, le=100)] = Field(
        description="Background sightings per 100 that scored this high in calibration: the "
        "estimated false-warning rate at this score."
    )
    behaviours: list[ReconBehaviour] = []
    vehicle: bool = Field(False, description="A vehicle was noted.")
    repeats: Annotated[int, Field(ge=0)] = Field(0, description="Repeat visits to one branch.")
    branches: Annotated[int, Field(ge=0)] = Field(0, description="Branches linked (one crew).")
    nearby_sightings: Annotated[int, Field(ge=0)] = Field(
        0, description="Other branches of the kind nearby with a similar sighting before."
    )


# What a modus operandi bulletin says: a few sentences a branch reads at the counter.
BULLETIN_MAX_CHARS = 1000
BulletinText = Annotated[str, Field(min_length=1, max_length=BULLETIN_MAX_CHARS)]


# The model version of a series alert raised with the hand-set curves, no fitted model.
HAND_SET_VERSION = "hand-set"


class DetectionBasis(Contract):
    """What a pattern alert rests on: the scoring model, the chance, the stated error rate.

    Series, reconnaissance and hotspot alerts carry one; no personal data (branches see it).
    """

    model_version: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The scoring model that decided: a fitted model's version "
        "(`heterdaad model fit`) or the hand-set curves' name."
    )
    probability: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="Estimated probability that the pattern is real (series: that the "
        "linked robberies share an offender; reconnaissance: that a robbery follows)."
    )  # fmt: skip
    recurrence_days: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Hotspots: how many days, on average, until chance alone would put "
        "this many events in one area at the background rate."
    )  # fmt: skip
    calibrated_to: Annotated[str, Field(max_length=200)] = Field(
        "", description="The error rate the threshold was chosen for, e.g. 'at most 1 false "
        "series alert per 30 days nationally'."
    )  # fmt: skip


class SeriesExtent(Contract):
    """How large a series is. Its evidence names at most its newest members (a bound that keeps
    one alert well under the broker's record limit, docs/series-linkage.md "Bounded"); this
    says how many it has in all and since when. No personal data."""

    members: Annotated[int, Field(ge=1)] = Field(
        description="Robberies in the series, named in the evidence or not."
    )
    listed: Annotated[int, Field(ge=1)] = Field(
        description="How many of them, the newest, the evidence names."
    )
    first_occurred_at: AwareDatetime = Field(description="Its earliest robbery (event time).")
    last_occurred_at: AwareDatetime = Field(description="Its newest robbery (event time).")


class Alert(Contract):
    """An alert as the police see it; recipients other than police get a view of it."""

    alert_id: UUID
    kind: AlertKind
    severity: Severity
    area: Area
    police_unit: PoliceUnit
    branch_types_at_risk: list[BranchType] = []
    site_id: Identifier | None = None
    series_id: Identifier | None = None
    hotspot_id: Identifier | None = None
    lookout: Lookout = Lookout()
    vehicles: list[Vehicle] = Field(default_factory=list, description="Police only.")
    persons: list[PersonDescription] = Field(default_factory=list, description="Police only.")
    evidence: list[EvidenceLink] = Field(default_factory=list, description="Police only.")
    dedup_key: Annotated[str, Field(min_length=1, max_length=200)]
    created_at: EventTime
    occurred_at: AwareDatetime | None = Field(
        None,
        description="When what the alert is about happened (event time): the press, the "
        "robbery, the newest sighting or series member. None only on alerts written before "
        "this field existed.",
    )
    historical: bool = Field(
        False,
        description="True when the event lies beyond its live horizon (docs/time.md): the "
        "alert informs history views and the digest, never the live list or an escalation.",
    )
    grounds: WarningGrounds | None = Field(
        None, description="Reconnaissance warnings: what the warning rests on, its score."
    )
    basis: DetectionBasis | None = Field(
        None, description="Pattern alerts (series, reconnaissance, hotspot): the model, "
        "probability or recurrence interval, and calibrated error rate they rest on."
    )  # fmt: skip
    series_extent: SeriesExtent | None = Field(
        None, description="Series alerts: how many robberies the series has in all and since "
        "when; the evidence names only the newest `listed` of them."
    )  # fmt: skip
    bulletin: BulletinText | None = Field(
        None, description="Modus operandi bulletins: the new way of working the police share "
        "with the branches at risk, in the words of the unit that sent it (docs/desk.md)."
    )  # fmt: skip

    def without_personal_data(self) -> Alert:
        """The alert once the retention period of what it is about is over: what happened,
        where, and why it was raised, without the police's vehicles, descriptions and plate
        pseudonyms, and without the lookout's descriptions of persons and vehicles
        (`Lookout.without_descriptions`): less than a branch sees of a live alert (docs/time.md,
        "Retention counts from event time"). The desk's history and the monthly digest still
        read its kind, area, pattern and the ids and times of its evidence."""
        return self.model_copy(update={
            "vehicles": [],
            "persons": [],
            "lookout": self.lookout.without_descriptions(),
            "evidence": [
                link.model_copy(update={"reasons": [_without_words(r) for r in link.reasons]})
                for link in self.evidence
            ],
        })  # fmt: skip

    def view_for(self, role: RecipientRole, *, reference_key: bytes) -> AlertView:
        """The alert as a recipient of this role may see it; `reference_key` (the server's
        plate key) keys the dedup key that recipients other than the police see
        (`alert_reference`)."""
        if role is RecipientRole.POLICE:
            return PoliceAlertView(role=role, alert=self)
        if role is RecipientRole.NEIGHBOURHOOD_WATCH:
            return WatchAlertView(
                role=role,
                kind=self.kind,
                severity=self.severity,
                area=coarse_area(self.area),
                occurred_at=self.occurred_at or self.created_at,
                historical=self.historical,
            )
        return BranchAlertView(
            role=role,
            alert_id=alert_reference_id(self.dedup_key, reference_key),
            kind=self.kind,
            severity=self.severity,
            area=self.area,
            branch_types_at_risk=self.branch_types_at_risk,
            # A plate typed into clothing is a pseudonym by now: still personal data.
            lookout=without_pseudonyms(self.lookout),
            dedup_key=alert_reference(self.dedup_key, reference_key),
            created_at=self.created_at,
            occurred_at=self.occurred_at,
            historical=self.historical,
            grounds=self.grounds,
            basis=self.basis,
            bulletin=self.bulletin,
        )


class Outcome(StrEnum):
    """How an alert ended, as the police desk records it on resolving (told to subscribers)."""

    ARRESTED = "arrested"
    OFFENDERS_GONE = "offenders_gone"
    FALSE_ALARM = "false_alarm"
    HANDED_OVER = "handed_over"
    NO_ACTION = "no_action"


class RecipientRole(StrEnum):
    POLICE = "police"
    BRANCH = "branch"
    CHAIN = "chain"
    TRADE_ASSOCIATION = "trade_association"
    ALARM_CENTRE = "alarm_centre"
    NEIGHBOURHOOD_WATCH = "neighbourhood_watch"


class Recipient(Contract):
    organisation_id: Identifier
    role: RecipientRole


class PoliceAlertView(Contract):
    """Police see everything, including evidence and pseudonymised vehicles."""

    role: Literal[RecipientRole.POLICE]
    alert: Alert


class BranchAlertView(Contract):
    """Branches, chains, trade associations and alarm centres: what to do, no personal data."""

    role: Literal[
        RecipientRole.BRANCH,
        RecipientRole.CHAIN,
        RecipientRole.TRADE_ASSOCIATION,
        RecipientRole.ALARM_CENTRE,
    ]
    alert_id: UUID = Field(
        description="The alert's id as this recipient sees it, the same on every delivery of "
        "it and on its notices; derived from `dedup_key`, not the police's alert id "
        "(`alert_reference_id`)."
    )
    kind: AlertKind
    severity: Severity
    area: Area
    branch_types_at_risk: list[BranchType]
    lookout: Lookout
    dedup_key: str = Field(
        pattern=REFERENCE_PATTERN,
        description="The alert's own key, the same on every delivery of it and on its notices: "
        "deduplicate on it. A keyed hash of the police's dedup key, which names the reports "
        "and presses of other organisations ('ar1:<128 bits, hex>').",
        examples=["ar1:9c1f0e2d3b4a59687766554433221100"],
    )
    created_at: EventTime
    occurred_at: AwareDatetime | None = None
    historical: bool = False
    grounds: WarningGrounds | None = None
    basis: DetectionBasis | None = None
    bulletin: BulletinText | None = None


# A neighbourhood watch learns the neighbourhood, not the street: the centre is rounded to two
# decimals (about 1.1 km north-south, 0.7 km east-west) and the radius widened to cover the
# rounding, in steps of 500 m, so that the circle still holds the alert's own.
COARSE_DECIMALS = 2
COARSE_MARGIN_M = 1000.0
COARSE_STEP_M = 500.0


def coarse_area(area: Area) -> CoarseArea:
    """The area as a neighbourhood watch may see it: a rounded centre, a widened radius."""
    radius = (area.radius_m or 0.0) + COARSE_MARGIN_M
    return CoarseArea(
        center=Location(
            lat=round(area.center.lat, COARSE_DECIMALS), lon=round(area.center.lon, COARSE_DECIMALS)
        ),
        radius_m=math.ceil(radius / COARSE_STEP_M) * COARSE_STEP_M,
    )


class CoarseArea(Contract):
    """A neighbourhood, not an address: a centre rounded to about a kilometre, a radius."""

    center: Location
    radius_m: Annotated[float, Field(gt=0, le=101_000)]


class WatchAlertView(Contract):
    """Neighbourhood watch groups (buurtpreventie): that something happened nearby, and when.

    Stricter than BranchAlertView: no ids of alert, site, series or evidence, no branch types,
    no lookout (clothing, vehicle), no grounds; the area is coarse (docs/neighbourhood-watch.md).
    """

    role: Literal[RecipientRole.NEIGHBOURHOOD_WATCH]
    kind: AlertKind
    severity: Severity
    area: CoarseArea
    occurred_at: AwareDatetime = Field(description="When it happened (event time).")
    historical: bool = False


AlertView = PoliceAlertView | BranchAlertView | WatchAlertView
