"""Subscriptions: who wants which alerts, where, when and through which webhook."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    model_validator,
)

from consumers.notify.admin import NotifyAdminError, audit, transaction
from consumers.notify.route import BRANCH_ROLES
from consumers.notify.watch import watch_refusal
from consumers.notify.windows import TimeWindow
from heterdaad.language import Language
from heterdaad.thresholds.notify import NotifyThresholds
from schemas.alerts import AlertKind, Severity
from schemas.common import BranchType, Location, PoliceUnit, refuse_control_characters

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from consumers.notify.admin import Database

logger = logging.getLogger(__name__)


class SubscriptionCapError(NotifyAdminError):
    """The organisation already holds the most subscriptions allowed."""


class FieldRefusal(NotifyAdminError):
    """A field of the spec that the organisation's role does not allow; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


# Whose branches a role's radius counts from, in the words of a refusal.
_NEAR: dict[str, str] = {
    "retailer": "its own branches",
    "trade_association": "its own and its member organisations' branches",
    "alarm_centre": "the branches of its alarm sites",
}


def bounded_radius(spec: SubscriptionSpec, role: str, max_radius_m: float) -> SubscriptionSpec:
    """The spec of a retailer, trade association or alarm centre within need to know: a
    radius_m above `max_radius_m` (notify.retail_max_radius_m) is refused, none becomes it.
    A police spec with a radius is refused: a police organisation has no branches, so it
    would hear of nothing. Every other role's spec is returned as it is."""
    if role == "police" and spec.radius_m is not None:
        raise FieldRefusal(
            "radius_m",
            "radius_m counts from the organisation's branches and a police organisation has "
            "none: it would hear of nothing; choose units with police_units",
        )
    if role not in BRANCH_ROLES:
        return spec
    if spec.radius_m is None:
        return spec.model_copy(update={"radius_m": max_radius_m})
    if spec.radius_m > max_radius_m:
        raise FieldRefusal(
            "radius_m",
            f"radius_m may be at most {max_radius_m:.0f} m for a {role.replace('_', ' ')}: it "
            f"hears only of alerts near {_NEAR[role]} (notify.retail_max_radius_m)",
        )
    return spec


# Four windows a day (opening hours, a lunch break, kinds apart) is more than a shop needs.
# Each alert is checked against every window of its recipient: the API's body limit held
# about 5,000, which cost the notify consumer, the police desk's alerts included, some
# seconds per alert.
MAX_WINDOWS = 28

# Plain http only to this machine (a local relay, the tests); anything else needs TLS.
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _one_line(name: str) -> str:
    # PostgreSQL text cannot hold U+0000, and a chain's name is one line of text anyway.
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        raise ValueError("a chain name must not contain control characters")
    return name


ChainName = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_one_line)]


def _tls_unless_loopback(url: AnyHttpUrl) -> AnyHttpUrl:
    if url.scheme != "https" and url.host not in _LOOPBACK:
        raise ValueError(
            "must use https (plain http only to a relay on 127.0.0.1, which "
            "notify.allow_private_webhooks must allow)"
        )
    return url


# A rule of the URL alone, so a refusal names webhook_url, not the body.
WebhookUrl = Annotated[AnyHttpUrl, AfterValidator(_tls_unless_loopback)]


class SubscriptionSpec(BaseModel):
    """What a subscriber wants; every empty set means "any"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_kinds: frozenset[AlertKind] = frozenset()
    branch_types: frozenset[BranchType] = Field(
        frozenset(), description="Alerts for these branch types at risk; their branches only."
    )
    chains: frozenset[ChainName] = Field(
        frozenset(), description="Only branches of these chains count for the radius."
    )
    police_units: frozenset[PoliceUnit] = frozenset()
    radius_m: Annotated[float, Field(gt=0, le=50_000)] | None = Field(
        None,
        description="Only alerts this close to one of the organisation's branches (a "
        "neighbourhood watch: to area_center). A retailer, trade association or alarm centre: "
        "at most notify.retail_max_radius_m, which it gets when it gives none.",
    )
    area_center: Location | None = Field(
        None,
        description="Neighbourhood watch groups only, and required for them: the centre of "
        "the area they watch; radius_m is its radius (docs/neighbourhood-watch.md).",
    )
    min_severity: Severity = Severity.INFO
    webhook_url: WebhookUrl | None = None
    # The secret is writeOnly in the API spec: an answer leaves it out rather than show null.
    webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC key of the signature; generated (and shown once) when absent.",
        exclude_if=lambda secret: secret is None,
    )
    language: Language = "nl"
    windows: tuple[TimeWindow, ...] = Field(
        (),
        max_length=MAX_WINDOWS,
        description=f"When the webhook may be notified; none: at any time. At most {MAX_WINDOWS}.",
    )
    send_alerts: StrictBool = Field(True, description="Send the alerts the filters let through.")
    send_escalations: StrictBool = Field(
        False,
        description="Police webhooks: also send an escalation notice when the desk escalates "
        "an alert the filters let through (a hold-up nobody acknowledged in time).",
    )
    include_historical: StrictBool = Field(
        False,
        description="Webhooks: also send historical alerts, events past their live horizon "
        "(a CBL import, a backlog, a replay; docs/time.md). Off: only what is happening now.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SubscriptionSpec:
        # Every rule broken is named at once: a change (PATCH) that breaks two hears of both.
        reasons = _inconsistencies(self)
        if reasons:
            raise ValueError("; ".join(reasons))
        return self


def _inconsistencies(spec: SubscriptionSpec) -> list[str]:
    """Each rule across fields that `spec` breaks, in words naming the fields."""
    reasons = []
    url = spec.webhook_url
    if spec.webhook_secret is not None:
        reasons.extend(secret_refusals(spec.webhook_secret.get_secret_value()))
    if spec.windows and url is None:
        reasons.append("time windows hold back a webhook: give webhook_url")
    if spec.area_center is not None and spec.radius_m is None:
        reasons.append("an area is a circle: give radius_m with area_center")
    if spec.chains and spec.radius_m is None:
        reasons.append("chains choose the branches a radius counts from: give radius_m")
    if not (spec.send_alerts or spec.send_escalations):
        reasons.append("a subscription must send alerts, escalations or both")
    if spec.send_escalations and url is None:
        reasons.append("escalations go to a webhook (the desk shows them): give webhook_url")
    return reasons


def secret_refusals(secret: str) -> list[str]:
    if len(secret) < 32:
        return ["webhook_secret must be at least 32 characters"]
    try:
        refuse_control_characters(secret)
    except ValueError:
        return ["webhook_secret must not contain control characters"]
    try:
        # SecretStr takes a lone surrogate from JSON (str does not), which PostgreSQL
        # text and the HMAC key cannot hold: it was a 500.
        secret.encode()
    except UnicodeEncodeError:
        return ["webhook_secret must be text (no lone surrogate)"]
    return []


@dataclass(frozen=True)
class CreatedSubscription:
    """A new subscription. `webhook_secret` is set when it was generated: hand it over now."""

    subscription_id: int
    webhook_secret: str | None


@dataclass(frozen=True)
class StoredSubscription:
    subscription_id: int
    organisation_id: str
    spec: SubscriptionSpec  # without its secret
    has_secret: bool
    created_at: datetime


def subscriptions_channel(schema: str) -> str:
    """The PostgreSQL notification channel told when a subscription changes (per schema:
    channels are database-wide); the notify service then reads its directory again."""
    return f"{schema}.subscription"


async def tell_subscriptions_changed(connection: asyncpg.Connection) -> None:
    """Notify listeners, delivered when the caller's transaction commits. The connection's
    schema is the settings' (heterdaad.db.create_pool sets search_path to it alone)."""
    schema: str = await connection.fetchval("SELECT current_schema()")
    await connection.execute("SELECT pg_notify($1, '')", subscriptions_channel(schema))


async def create_subscription(
    db: Database,
    organisation_id: str,
    spec: SubscriptionSpec,
    *,
    actor: str,
    most: int | None = None,
    watch_max_radius_m: float | None = None,
    retail_max_radius_m: float | None = None,
) -> CreatedSubscription:
    """Store a subscription of an organisation; audited. `most` caps the organisation's count;
    `watch_max_radius_m` (notify.watch_max_radius_m) the area of a neighbourhood watch;
    `retail_max_radius_m` (notify.retail_max_radius_m) the radius of a retailer, trade
    association or alarm centre, which is stored as its radius_m when the spec gives none.
    Refusals raise NotifyAdminError (FieldRefusal when one field is at fault)."""
    async with transaction(db) as connection:
        role = await subscriber_role(connection, organisation_id)
        spec, refusals = role_refusals(
            spec, role, organisation_id, watch_max_radius_m, retail_max_radius_m
        )
        if refusals:
            raise refusals[0]
        if most is not None:
            await _refuse_beyond(connection, organisation_id, most)
        secret, generated = await _secret_for(connection, organisation_id, spec)
        url = None if spec.webhook_url is None else str(spec.webhook_url)
        subscription_id: int = await connection.fetchval(
            f"""INSERT INTO subscription (organisation_id, {", ".join(STORED_COLUMNS)})
                VALUES ($1, {", ".join(f"${n}" for n in range(2, len(STORED_COLUMNS) + 2))})
                RETURNING subscription_id""",
            organisation_id, *stored_values(spec, url, secret),
        )  # fmt: skip
        await store_windows(connection, subscription_id, spec.windows)
        await tell_subscriptions_changed(connection)
        await audit(
            connection, at=datetime.now(UTC), actor=actor, action="subscription_created",
            subject=str(subscription_id),
            details={"organisation_id": organisation_id,
                     **spec.model_dump(mode="json", exclude={"webhook_secret"})},
        )  # fmt: skip
    logger.info(
        "subscription created",
        extra={"subscription_id": subscription_id, "organisation_id": organisation_id},
    )
    return CreatedSubscription(subscription_id, generated)


# The columns a spec is stored in, in the order of `stored_values`.
STORED_COLUMNS = (
    "alert_kinds", "branch_types", "chains", "police_units", "radius_m", "min_severity",
    "webhook_url", "webhook_secret", "language", "send_alerts", "send_escalations",
    "include_historical", "area_lat", "area_lon",
)  # fmt: skip


def stored_values(spec: SubscriptionSpec, url: str | None, secret: str | None) -> tuple[Any, ...]:
    """The values of STORED_COLUMNS for a spec, its webhook as stored and its secret."""
    centre = spec.area_center
    return (
        sorted(spec.alert_kinds), sorted(spec.branch_types), sorted(spec.chains),
        sorted(spec.police_units), spec.radius_m, spec.min_severity.value, url, secret,
        spec.language, spec.send_alerts, spec.send_escalations, spec.include_historical,
        None if centre is None else centre.lat, None if centre is None else centre.lon,
    )  # fmt: skip


async def store_windows(
    connection: asyncpg.Connection, subscription_id: int, windows: Sequence[TimeWindow]
) -> None:
    """A subscription's time windows, in place of those it had."""
    await connection.execute(
        "DELETE FROM subscription_window WHERE subscription_id = $1", subscription_id
    )
    await connection.executemany(
        "INSERT INTO subscription_window (subscription_id, weekdays, starts, ends, "
        "time_zone, alert_kinds) VALUES ($1, $2, $3, $4, $5, $6)",
        [(subscription_id, sorted(w.weekdays), w.starts, w.ends, w.time_zone,
          sorted(w.alert_kinds)) for w in windows],
    )  # fmt: skip


def role_refusals(
    spec: SubscriptionSpec,
    role: str,
    organisation_id: str,
    watch_max_radius_m: float | None = None,
    retail_max_radius_m: float | None = None,
) -> tuple[SubscriptionSpec, list[FieldRefusal]]:
    """The spec as stored for an organisation of `role` (a branch role's radius capped, or
    set to the cap when absent), and every rule of that role it breaks. The bounds default
    to notify's (NotifyThresholds)."""
    defaults = NotifyThresholds()
    if watch_max_radius_m is None:
        watch_max_radius_m = defaults.watch_max_radius_m
    if retail_max_radius_m is None:
        retail_max_radius_m = defaults.retail_max_radius_m
    refusals = []
    if role != "police" and spec.send_escalations:
        refusals.append(FieldRefusal("(body)", (
            f"organisation {organisation_id} is a {role}: escalations are for police "
            "receivers (a duty officer, the national coordinator)")))  # fmt: skip
    if role != "police" and spec.webhook_url is None:
        refusals.append(FieldRefusal("(body)", (
            f"organisation {organisation_id} is a {role}: without a webhook_url there is "
            "nowhere to deliver (only police have the desk)")))  # fmt: skip
    area_refusal = watch_refusal(spec, role, watch_max_radius_m)
    if area_refusal is not None:
        refusals.append(FieldRefusal("(body)", area_refusal))
    try:
        spec = bounded_radius(spec, role, retail_max_radius_m)
    except FieldRefusal as refusal:
        refusals.append(refusal)
    return spec, refusals


@dataclass(frozen=True)
class SharedSecret:
    """The secret a webhook of an organisation already has, and the subscription holding it."""

    subscription_id: int
    secret: str


async def shared_secret(
    connection: asyncpg.Connection,
    organisation_id: str,
    webhook_url: str,
    *,
    besides: int | None = None,
) -> SharedSecret | None:
    """The secret of the organisation's oldest other subscription with this webhook, or None.

    One webhook of an organisation is one recipient: its subscriptions' alerts are merged into
    one request, signed once (consumers/notify/route.webhook_recipient, stages._secret). So a
    webhook has one secret, whichever subscription brought it. The organisation's row is
    locked so that two subscriptions made at once cannot each generate their own.
    """
    await connection.execute(
        "SELECT 1 FROM organisation WHERE organisation_id = $1 FOR UPDATE", organisation_id
    )
    row = await connection.fetchrow(
        "SELECT subscription_id, webhook_secret FROM subscription WHERE organisation_id = $1 "
        "AND webhook_url = $2 AND webhook_secret IS NOT NULL "
        "AND ($3::bigint IS NULL OR subscription_id <> $3) ORDER BY subscription_id LIMIT 1",
        organisation_id, webhook_url, besides,
    )  # fmt: skip
    return None if row is None else SharedSecret(row["subscription_id"], row["webhook_secret"])


def other_secret(shared: SharedSecret) -> FieldRefusal:
    """The refusal of a secret that is not the one the webhook has already."""
    return FieldRefusal(
        "webhook_secret",
        f"differs from the secret this webhook_url has already (subscription "
        f"{shared.subscription_id}): one webhook gets one request per alert, signed once, so "
        "it has one secret; leave webhook_secret out to share it, or rotate it for all",
    )


async def _secret_for(
    connection: asyncpg.Connection, organisation_id: str, spec: SubscriptionSpec
) -> tuple[str | None, str | None]:
    """The secret to store and the one to hand over (when generated) for a new subscription."""
    given = spec.webhook_secret.get_secret_value() if spec.webhook_secret else None
    if spec.webhook_url is None:
        return given, None
    shared = await shared_secret(connection, organisation_id, str(spec.webhook_url))
    if shared is not None:
        if given is not None and not secrets.compare_digest(given, shared.secret):
            raise other_secret(shared)
        return shared.secret, None
    if given is not None:
        return given, None
    generated = secrets.token_urlsafe(32)
    return generated, generated


async def list_subscriptions(
    db: Database, organisation_id: str | None = None, *, subscription_id: int | None = None
) -> list[StoredSubscription]:
    """Subscriptions (of one organisation, or all; one id, or all), oldest first, no secrets."""
    rows = await db.fetch(
        "SELECT * FROM subscription WHERE ($1::text IS NULL OR organisation_id = $1) "
        "AND ($2::bigint IS NULL OR subscription_id = $2) ORDER BY subscription_id",
        organisation_id,
        subscription_id,
    )
    windows = await windows_by_subscription(db, [row["subscription_id"] for row in rows])
    return [
        StoredSubscription(
            subscription_id=row["subscription_id"],
            organisation_id=row["organisation_id"],
            spec=spec_of(row, windows.get(row["subscription_id"], ())),
            has_secret=row["webhook_secret"] is not None,
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def delete_subscription(
    db: Database, subscription_id: int, *, actor: str, organisation_id: str | None = None
) -> bool:
    """Remove a subscription and its windows; False when there was none (of `organisation_id`,
    when given: one organisation cannot delete another's). Audited.

    Notifications still waiting for its webhook are given up when their turn comes.
    """
    async with transaction(db) as connection:
        owner: str | None = await connection.fetchval(
            "DELETE FROM subscription WHERE subscription_id = $1 "
            "AND ($2::text IS NULL OR organisation_id = $2) RETURNING organisation_id",
            subscription_id,
            organisation_id,
        )
        if owner is not None:
            await tell_subscriptions_changed(connection)
            await audit(
                connection, at=datetime.now(UTC), actor=actor, action="subscription_deleted",
                subject=str(subscription_id), details={"organisation_id": owner},
            )  # fmt: skip
    logger.info(
        "subscription deleted",
        extra={"subscription_id": subscription_id, "existed": owner is not None},
    )
    return owner is not None


async def windows_by_subscription(
    db: Database, subscription_ids: list[int] | None = None
) -> dict[int, tuple[TimeWindow, ...]]:
    """The time windows of the given subscriptions (of all when None)."""
    rows = await db.fetch(
        "SELECT * FROM subscription_window WHERE $1::bigint[] IS NULL "
        "OR subscription_id = ANY($1) ORDER BY window_id",
        subscription_ids,
    )
    found: dict[int, tuple[TimeWindow, ...]] = {}
    for row in rows:
        window = TimeWindow(
            weekdays=frozenset(row["weekdays"]), starts=row["starts"], ends=row["ends"],
            time_zone=row["time_zone"], alert_kinds=frozenset(row["alert_kinds"]),
        )  # fmt: skip
        found[row["subscription_id"]] = (*found.get(row["subscription_id"], ()), window)
    return found


def spec_of(row: asyncpg.Record, windows: tuple[TimeWindow, ...]) -> SubscriptionSpec:
    """A stored subscription as a spec without its secret; ValueError for a row no spec allows."""
    return SubscriptionSpec.model_validate(stored_fields(row, windows))


def stored_fields(row: asyncpg.Record, windows: tuple[TimeWindow, ...]) -> dict[str, Any]:
    """A stored subscription's fields as a spec takes them (not validated), without its secret."""
    return {
        "alert_kinds": row["alert_kinds"], "branch_types": row["branch_types"],
        "chains": row["chains"], "police_units": row["police_units"],
        "radius_m": row["radius_m"], "min_severity": row["min_severity"],
        "webhook_url": row["webhook_url"], "language": row["language"], "windows": windows,
        "send_alerts": row["send_alerts"], "send_escalations": row["send_escalations"],
        "include_historical": row["include_historical"],
        "area_center": None if row["area_lat"] is None
        else {"lat": row["area_lat"], "lon": row["area_lon"]},
    }  # fmt: skip


async def _refuse_beyond(connection: asyncpg.Connection, organisation_id: str, most: int) -> None:
    # The organisation's row is locked so that two concurrent creations cannot both pass.
    await connection.execute(
        "SELECT 1 FROM organisation WHERE organisation_id = $1 FOR UPDATE", organisation_id
    )
    held: int = await connection.fetchval(
        "SELECT count(*) FROM subscription WHERE organisation_id = $1", organisation_id
    )
    if held >= most:
        raise SubscriptionCapError(
            f"organisation {organisation_id} already holds {held} subscriptions, the most "
            f"allowed ({most}): delete one first"
        )


async def subscriber_role(connection: asyncpg.Connection, organisation_id: str) -> str:
    row = await connection.fetchrow(
        "SELECT role, disabled_at FROM organisation WHERE organisation_id = $1", organisation_id
    )
    if row is None:
        raise NotifyAdminError(f"organisation {organisation_id} does not exist")
    if row["disabled_at"] is not None:
        raise NotifyAdminError(f"organisation {organisation_id} is disabled")
    if row["role"] == "admin":
        raise NotifyAdminError("admin organisations receive no alerts")
    role: str = row["role"]
    return role
