"""Changing a subscription in place: its id, its delivery history and its webhook's queue stay.

Deleting and subscribing again lost all three, and for a moment the organisation heard of
nothing. A change is checked as a new subscription is (the spec, the role's rules, one secret
per webhook) and every reason is named at once. Rows of the notification log are keyed by
recipient, which is the organisation and its webhook: a change that keeps the webhook keeps
the recipient, so nothing already sent is sent again. A webhook moved elsewhere takes what was
still queued for the old one along (unless another subscription keeps the old one, or the new
one has that alert already), so nothing queued is given up. The change tells the notify
service to read subscriptions again (subscriptions.tell_subscriptions_changed), else it does so
every notify.directory_refresh_seconds: rows it writes for the old webhook meanwhile follow
the move when they are sent (`follow_move`), by the table of moves written with the change
(webhook_move), not by the audit trail, which has its own retention.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
)

from consumers.notify.admin import NotifyAdminError, audit, transaction
from consumers.notify.route import webhook_recipient
from consumers.notify.subscriptions import (
    MAX_WINDOWS,
    STORED_COLUMNS,
    ChainName,
    FieldRefusal,
    SubscriptionSpec,
    WebhookUrl,
    role_refusals,
    secret_refusals,
    shared_secret,
    spec_of,
    store_windows,
    stored_fields,
    stored_values,
    subscriber_role,
    tell_subscriptions_changed,
    windows_by_subscription,
)
from consumers.notify.windows import TimeWindow
from heterdaad.language import Language
from schemas.alerts import AlertKind, Severity
from schemas.common import BranchType, Location, PoliceUnit

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from consumers.notify.admin import Database

logger = logging.getLogger(__name__)


class SubscriptionChange(BaseModel):
    """What to change: a field left out keeps its value; null clears radius_m, area_center or
    webhook_url. Each field means what it means in a new subscription (SubscriptionSpec)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_kinds: frozenset[AlertKind] = frozenset()
    branch_types: frozenset[BranchType] = frozenset()
    chains: frozenset[ChainName] = frozenset()
    police_units: frozenset[PoliceUnit] = frozenset()
    radius_m: Annotated[float, Field(gt=0, le=50_000)] | None = None
    area_center: Location | None = None
    min_severity: Severity = Severity.INFO
    webhook_url: WebhookUrl | None = None
    language: Language = "nl"
    windows: tuple[TimeWindow, ...] = Field((), max_length=MAX_WINDOWS)
    send_alerts: StrictBool = True
    send_escalations: StrictBool = False
    include_historical: StrictBool = False
    webhook_secret: SecretStr | None = Field(
        None,
        description="A new HMAC key of your own (at least 32 characters) for this webhook: "
        "every subscription of yours with this webhook_url is signed with it from now on.",
    )
    rotate_secret: StrictBool = Field(
        False,
        description="Generate a new HMAC key for this webhook (every subscription of yours "
        "with this webhook_url), shown once in the answer. The old one stops at once.",
    )


class SubscriptionRefusals(NotifyAdminError):
    """Every reason a change is refused; each names its field."""

    def __init__(self, refusals: Sequence[FieldRefusal]) -> None:
        super().__init__("; ".join(f"{r.field}: {r}" for r in refusals))
        self.refusals = tuple(refusals)


@dataclass(frozen=True)
class ChangedSubscription:
    """`webhook_secret` is set when a new one was generated: hand it over now."""

    subscription_id: int
    webhook_secret: str | None


async def change_subscription(
    db: Database,
    subscription_id: int,
    change: SubscriptionChange,
    *,
    actor: str,
    organisation_id: str | None = None,
    refused_webhook: str | None = None,
    watch_max_radius_m: float | None = None,
    retail_max_radius_m: float | None = None,
) -> ChangedSubscription | None:
    """Change the fields `change` gives; None when there is no such subscription (of
    `organisation_id`, when given). `refused_webhook` is the caller's own reason to refuse the
    new webhook_url (the API's: not inside our network), named with the others. Audited.
    Refusals raise SubscriptionRefusals, all at once; nothing is changed then."""
    given = change.model_fields_set - {"rotate_secret", "webhook_secret"}
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            "SELECT * FROM subscription WHERE subscription_id = $1 "
            "AND ($2::text IS NULL OR organisation_id = $2) FOR UPDATE",
            subscription_id, organisation_id,
        )  # fmt: skip
        if row is None:
            return None
        owner: str = row["organisation_id"]
        role = await subscriber_role(connection, owner)
        windows = (await windows_by_subscription(connection, [subscription_id])).get(
            subscription_id, ()
        )
        before = _stored_fields(row, windows)
        refusals: list[FieldRefusal] = []
        if refused_webhook is not None:
            refusals.append(FieldRefusal("webhook_url", refused_webhook))
        fields = before | {name: getattr(change, name) for name in given}
        try:
            spec = SubscriptionSpec.model_validate(fields)
        except ValidationError as error:
            refusals.extend(_field_refusals(error))
            if any(problem["loc"] for problem in error.errors()):  # a field itself is wrong
                raise SubscriptionRefusals(refusals) from None
            # Only rules across fields are broken: the role's rules are named as well.
            spec = SubscriptionSpec.model_construct(**fields)
        spec, more = role_refusals(spec, role, owner, watch_max_radius_m, retail_max_radius_m)
        refusals.extend(more)
        url = None if spec.webhook_url is None else str(spec.webhook_url)
        if "webhook_url" not in given:
            # As stored (the recipient and the secret are looked up by this very text), even
            # where pydantic would write it otherwise (a row stored by hand).
            url = row["webhook_url"]
        secret, generated, rotated = await _new_secret(
            connection, row, change, url, refusals
        )  # fmt: skip
        if refusals:
            raise SubscriptionRefusals(refusals)
        await _store(connection, subscription_id, spec, url, secret)
        if rotated and url is not None:
            # One webhook, one secret: its other subscriptions sign with the new one too.
            await connection.execute(
                "UPDATE subscription SET webhook_secret = $3 WHERE organisation_id = $1 "
                "AND webhook_url = $2",
                owner, url, secret,
            )  # fmt: skip
        moved = 0
        if row["webhook_url"] is not None and row["webhook_url"] != url:
            await _record_move(connection, owner, row["webhook_url"], url)
            moved = await _move_queue(connection, owner, row["webhook_url"], url)
        changed = _differences(before, spec)
        await tell_subscriptions_changed(connection)
        await audit(
            connection, at=datetime.now(UTC), actor=actor, action="subscription_changed",
            subject=str(subscription_id),
            details={"organisation_id": owner, "changed": changed, "secret_replaced": rotated,
                     "queued_moved": moved, "webhook_url_before": row["webhook_url"]},
        )  # fmt: skip
    logger.info(
        "subscription changed",
        extra={"subscription_id": subscription_id, "organisation_id": owner,
               "fields": sorted(changed), "secret_replaced": rotated, "queued_moved": moved},
    )  # fmt: skip
    return ChangedSubscription(subscription_id, generated)


def _differences(before: dict[str, Any], after: SubscriptionSpec) -> dict[str, Any]:
    """The fields whose value changed, with their new value (as JSON; never the secret)."""
    new = after.model_dump(mode="json", exclude={"webhook_secret"})
    try:
        old = SubscriptionSpec.model_validate(before).model_dump(mode="json")
    except ValidationError:  # a row no spec allows: every field counts as changed
        return new
    return {name: value for name, value in new.items() if old.get(name) != value}


def _stored_fields(row: asyncpg.Record, windows: tuple[TimeWindow, ...]) -> dict[str, Any]:
    # As a valid spec writes them; a row no spec allows still gives its fields to change.
    try:
        return spec_of(row, windows).model_dump(exclude={"webhook_secret"})
    except (ValidationError, ValueError):
        return stored_fields(row, windows)


def _field_refusals(error: ValidationError) -> list[FieldRefusal]:
    """A spec's validation errors as refusals: a field's by its path, a rule across fields as
    (body), as the API answers a new subscription."""
    found = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(body)"
        found.append(FieldRefusal(field, str(problem["msg"]).removeprefix("Value error, ")))
    return found


async def _new_secret(
    connection: asyncpg.Connection,
    row: asyncpg.Record,
    change: SubscriptionChange,
    url: str | None,
    refusals: list[FieldRefusal],
) -> tuple[str | None, str | None, bool]:
    """The secret to store, the one to hand over (generated), and whether it was replaced."""
    own: str | None = row["webhook_secret"]
    if change.rotate_secret and change.webhook_secret is not None:
        refusals.append(FieldRefusal(
            "rotate_secret", "give webhook_secret or rotate_secret, not both"))  # fmt: skip
    if url is None:
        if change.rotate_secret or change.webhook_secret is not None:
            refusals.append(FieldRefusal("webhook_secret", "there is no webhook_url to sign for"))
        return None, None, False
    if change.webhook_secret is not None:
        given = change.webhook_secret.get_secret_value()
        reasons = secret_refusals(given)
        refusals.extend(FieldRefusal("webhook_secret", reason) for reason in reasons)
        return given, None, True
    if change.rotate_secret:
        generated = secrets.token_urlsafe(32)
        return generated, generated, True
    shared = await shared_secret(
        connection, row["organisation_id"], url, besides=row["subscription_id"]
    )
    if shared is not None:
        if url == row["webhook_url"] and own is not None and own != shared.secret:
            # Stored before one webhook had one secret: it stays as it was until rotated.
            return own, None, False
        return shared.secret, None, False
    if own is None:
        generated = secrets.token_urlsafe(32)
        return generated, generated, False
    return own, None, False


async def _store(
    connection: asyncpg.Connection,
    subscription_id: int,
    spec: SubscriptionSpec,
    url: str | None,
    secret: str | None,
) -> None:
    assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(STORED_COLUMNS, 2))
    await connection.execute(
        f"UPDATE subscription SET {assignments} WHERE subscription_id = $1",
        subscription_id, *stored_values(spec, url, secret),
    )  # fmt: skip
    await store_windows(connection, subscription_id, spec.windows)


async def _record_move(
    connection: asyncpg.Connection, organisation_id: str, old_url: str, new_url: str | None
) -> None:
    """Where the webhook went (nowhere: None), for `follow_move`; kept as long as the
    notification log (consumers/retention.py)."""
    await connection.execute(
        "INSERT INTO webhook_move (organisation_id, old_url, new_url) VALUES ($1, $2, $3)",
        organisation_id, old_url, new_url,
    )  # fmt: skip


async def _move_queue(
    connection: asyncpg.Connection, organisation_id: str, old_url: str, new_url: str | None
) -> int:
    """Point what is still queued for the old webhook at the new one; how many rows moved.

    Nothing moves while another subscription of the organisation keeps the old webhook (it is
    still a recipient), nor an alert the new webhook has a row for already (sent twice else).
    Without a new webhook the queue is given up when its turn comes, as after a delete.
    """
    if new_url is None:
        return 0
    kept = await connection.fetchval(
        "SELECT 1 FROM subscription WHERE organisation_id = $1 AND webhook_url = $2",
        organisation_id, old_url,
    )  # fmt: skip
    if kept:
        return 0
    old, new = (
        webhook_recipient(organisation_id, old_url),
        webhook_recipient(organisation_id, new_url),
    )
    # Not yet formed: the rows become the new recipient's (its groups, rate and in-flight).
    fresh = await connection.fetch(
        """UPDATE delivery d SET recipient = $2, webhook_url = $3,
               labels = d.labels || jsonb_build_object('recipient', $2::text)
           WHERE d.recipient = $1 AND d.state = 'pending' AND d.notification_key IS NULL
             AND NOT EXISTS (SELECT 1 FROM delivery n
                             WHERE n.recipient = $2 AND n.dedup_key = d.dedup_key)
           RETURNING d.dedup_key""",
        old, new, new_url,
    )  # fmt: skip
    # Formed (being retried): its members go together to the new address, keeping their key.
    formed = await connection.fetch(
        """UPDATE delivery d SET webhook_url = $3
           WHERE d.recipient = $1 AND d.state IN ('pending', 'failed')
             AND d.notification_key IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM delivery o JOIN delivery n
                               ON n.dedup_key = o.dedup_key AND n.recipient = $2
                             WHERE o.recipient = $1 AND o.notification_key = d.notification_key)
           RETURNING d.dedup_key""",
        old, new, new_url,
    )  # fmt: skip
    return len(fresh) + len(formed)


# A webhook moved more often than this before its queue was sent is given up (a loop, A->B->A).
_MOST_MOVES = 5


async def follow_move(
    db: Database, notification_key: str, organisation_id: str, webhook_url: str
) -> str | None:
    """Where the webhook a notification was formed for went since (its latest move, as
    `change_subscription` recorded it in webhook_move), once no subscription has it any more;
    its rows are pointed there. None: it went nowhere (deleted, or no move is known), or the
    new webhook has one of its alerts already (sending them again would send it twice)."""
    url: str | None = webhook_url
    for _ in range(_MOST_MOVES):
        url = await db.fetchval(
            "SELECT new_url FROM webhook_move WHERE organisation_id = $1 AND old_url = $2 "
            "ORDER BY moved_at DESC, move_id DESC LIMIT 1",
            organisation_id, url,
        )  # fmt: skip
        if url is None:
            return None
        held = await db.fetchval(
            "SELECT 1 FROM subscription WHERE organisation_id = $1 AND webhook_url = $2",
            organisation_id, url,
        )  # fmt: skip
        if held:
            break
    else:
        return None
    assert url is not None
    moved = await db.fetchval(
        """UPDATE delivery d SET webhook_url = $2 WHERE d.notification_key = $1
             AND NOT EXISTS (SELECT 1 FROM delivery o JOIN delivery n
                               ON n.dedup_key = o.dedup_key AND n.recipient = $3
                             WHERE o.notification_key = $1)
           RETURNING 1""",
        notification_key, url, webhook_recipient(organisation_id, url),
    )  # fmt: skip
    if moved is None:
        return None
    logger.info(
        "notification follows its webhook",
        extra={"notification_key": notification_key, "organisation_id": organisation_id},
    )
    return url
