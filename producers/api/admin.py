"""Administration of who may report: organisations, branches, alarm sites, members and keys.

Plain async functions over a pool (or a connection), for the `heterdaad org ...` commands.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeAlias, get_args

import asyncpg
from pydantic import TypeAdapter, ValidationError

from heterdaad.audit import AuditRow, write_audit_rows
from heterdaad.auth import new_key
from heterdaad.db import transaction
from producers.api.kinds import allowed_scopes, default_scopes
from schemas.common import Identifier
from schemas.wire import explain

if TYPE_CHECKING:
    from collections.abc import Sequence

    from schemas.common import Branch, PoliceUnit

logger = logging.getLogger(__name__)

Role = Literal[
    "alarm_centre", "retailer", "trade_association", "police", "admin", "neighbourhood_watch"
]
ROLES: tuple[str, ...] = get_args(Role)
Database: TypeAlias = asyncpg.Pool | asyncpg.Connection

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
# As the column's check (0020_cameras.sql): a link the desk shows, so https only.
LIVEVIEW_URL = re.compile(r"https://\S{1,500}")


class AdminError(ValueError):
    """A request the registry refuses, worded for the operator."""


@dataclass(frozen=True)
class IssuedKey:
    """A new key. `key` is shown once and is not kept anywhere: hand it over now."""

    key_id: str
    key: str
    organisation_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


async def create_organisation(
    db: Database,
    organisation_id: str,
    name: str,
    role: Role,
    *,
    police_unit: PoliceUnit | None = None,
) -> None:
    _check_identifier("organisation_id", organisation_id)
    if role not in ROLES:
        raise AdminError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name.strip():
        raise AdminError("an organisation needs a name")
    if police_unit is not None and role != "police":
        # The unit names whose alerts a police organisation's desk serves; on another role it
        # would be a claim nothing checks, read later as if it meant something.
        raise AdminError(f"a police unit is for police organisations, not for role {role}")
    try:
        await db.execute(
            "INSERT INTO organisation (organisation_id, name, role, police_unit) "
            "VALUES ($1, $2, $3, $4)",
            organisation_id,
            name.strip(),
            role,
            None if police_unit is None else police_unit.value,
        )
    except asyncpg.UniqueViolationError:
        raise AdminError(f"organisation {organisation_id} already exists") from None
    logger.info("organisation created", extra={"organisation_id": organisation_id, "role": role})


async def create_branch(
    db: Database,
    organisation_id: str,
    branch: Branch,
    *,
    police_unit: PoliceUnit | None = None,
) -> None:
    """Register a branch of a retailer (or of the trade association itself)."""
    await require_branch_owner(db, organisation_id)
    address = branch.address
    try:
        await db.execute(
            """INSERT INTO branch (branch_id, organisation_id, chain, branch_type, lat, lon,
                                   police_unit, street, postcode, city)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            branch.branch_id,
            organisation_id,
            branch.chain,
            branch.branch_type.value,
            branch.location.lat,
            branch.location.lon,
            None if police_unit is None else police_unit.value,
            None if address is None else address.street,
            None if address is None else address.postcode,
            None if address is None else address.city,
        )
    except asyncpg.UniqueViolationError:
        raise AdminError(f"branch {branch.branch_id} already exists") from None
    logger.info(
        "branch created", extra={"branch_id": branch.branch_id, "organisation_id": organisation_id}
    )


async def require_branch_owner(db: Database, organisation_id: str) -> None:
    """AdminError unless the organisation exists, is enabled and may have branches."""
    await _require_role(db, organisation_id, {"retailer", "trade_association"})


async def create_alarm_site(
    db: Database,
    site_id: str,
    alarm_centre: str,
    subscriber_account: str,
    *,
    branch_id: str | None = None,
    sia_key: bytes | None = None,
    sia_plain_frames: bool = False,
    liveview_url: str | None = None,
) -> None:
    """Register a subscriber's site with the alarm centre that may report its activations.

    Over SIA it is heard only with `sia_key` (encrypted frames) or `sia_plain_frames`; without
    either its centre reports its activations through the API only. `liveview_url` is where the
    police watch the site's camera live during a hold-up (docs/cameras.md).
    """
    _check_identifier("site_id", site_id)
    if liveview_url is not None and not LIVEVIEW_URL.fullmatch(liveview_url):
        raise AdminError("liveview must be an https:// address without spaces (at most 500)")
    _check_identifier("subscriber_account", subscriber_account)
    if sia_key is not None and sia_plain_frames:
        raise AdminError("a site with a key sends encrypted frames: not both")
    await _require_role(db, alarm_centre, {"alarm_centre"})
    try:
        await db.execute(
            "INSERT INTO alarm_site (site_id, alarm_centre, subscriber_account, branch_id, "
            "sia_key, sia_plain_frames, liveview_url) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            site_id,
            alarm_centre,
            subscriber_account,
            branch_id,
            sia_key,
            sia_plain_frames,
            liveview_url,
        )
    except asyncpg.UniqueViolationError:
        raise AdminError(
            f"site {site_id} or account {subscriber_account} of {alarm_centre} already exists"
        ) from None
    except asyncpg.ForeignKeyViolationError:
        raise AdminError(f"branch {branch_id} does not exist") from None
    logger.info("alarm site created", extra={"site_id": site_id, "alarm_centre": alarm_centre})


@dataclass(frozen=True)
class MaintenanceWindow:
    """A window set on a site, as `heterdaad org maintenance` lists it."""

    starts_at: datetime
    ends_at: datetime
    set_at: datetime


class UnknownSite(AdminError):
    """No such alarm site, or (asked for a centre) one of another centre: the same answer."""


class MaintenanceRefused(AdminError):
    """A window that cannot be meant: every (name, reason), named as the caller named them."""

    def __init__(self, refusals: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in refusals))
        self.refusals = refusals


def _window_refusals(
    starts_at: datetime,
    ends_at: datetime,
    *,
    forget_before: datetime | None = None,
    longest: timedelta | None = None,
    earliest_start: datetime | None = None,
    names: tuple[str, str] = ("from", "until"),
) -> list[tuple[str, str]]:
    """Why a window cannot be set, per (name of its start or end, reason); none when it can.
    `names` are the caller's words for start and end (the CLI's options, the API's fields)."""
    start, end = names
    refusals = [
        (name, f"{name} needs a time zone")
        for name, moment in ((start, starts_at), (end, ends_at))
        if moment.tzinfo is None
    ]
    if refusals:
        return refusals
    if ends_at <= starts_at:
        refusals.append(
            (end, f"{end} {ends_at.isoformat()} must lie after {start} {starts_at.isoformat()}")
        )
    elif longest is not None and ends_at - starts_at > longest:
        refusals.append((end, f"the window would last {_days(ends_at - starts_at)}: at most "
                         f"{_days(longest)} may be set at once"))  # fmt: skip
    if earliest_start is not None and starts_at < earliest_start:
        # Presses of that time still in a backlog would be silenced: a true hold-up among them.
        refusals.append((start, f"{start} {starts_at.isoformat()} lies in the past: a window "
                         "set now may not silence presses already made (the operator can: "
                         "heterdaad org maintenance --from)"))  # fmt: skip
    if forget_before is not None and ends_at <= forget_before:
        refusals.append((end, f"{end} {ends_at.isoformat()} lies before "
                         f"{forget_before.isoformat()}: presses of that time are no longer "
                         "judged against maintenance"))  # fmt: skip
    return refusals


async def set_maintenance(
    db: Database,
    site_id: str,
    ends_at: datetime,
    *,
    starts_at: datetime | None = None,
    forget_before: datetime | None = None,
    longest: timedelta | None = None,
    earliest_start: datetime | None = None,
    alarm_centre: str | None = None,
    names: tuple[str, str] = ("from", "until"),
    actor: str = "cli",
) -> MaintenanceWindow:
    """Put a site in maintenance from `starts_at` (default now) until `ends_at`, audited as
    `alarm_site_maintenance_set`. Presses made in the window are ignored by alarm verification
    however late they arrive; presses made before it count, however late
    (docs/alarm-verification.md). Windows are kept as a history; the site's windows that ended
    before `forget_before` (the worker no longer reads them) are deleted, and a window that
    would end before it is refused: nobody would ever read it. A window longer than `longest`
    is refused, as is one starting before `earliest_start`, and with `alarm_centre` only a
    site of that centre is found (UnknownSite).
    """
    now = datetime.now(UTC)
    starts_at = now if starts_at is None else starts_at
    refusals = _window_refusals(
        starts_at, ends_at, forget_before=forget_before, longest=longest,
        earliest_start=earliest_start, names=names,
    )  # fmt: skip
    if refusals:
        raise MaintenanceRefused(refusals)
    async with transaction(db) as connection:
        await _require_site(connection, site_id, alarm_centre)
        if forget_before is not None:
            await connection.execute(
                "DELETE FROM alarm_site_maintenance WHERE site_id = $1 AND ends_at < $2",
                site_id,
                forget_before,
            )
        set_at = await connection.fetchval(
            "INSERT INTO alarm_site_maintenance (site_id, starts_at, ends_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (site_id, starts_at) DO UPDATE SET ends_at = $3, set_at = now() "
            "RETURNING set_at",
            site_id,
            starts_at,
            ends_at,
        )
        await _audit(connection, actor, "alarm_site_maintenance_set", f"alarm_site:{site_id}",
                     starts_at=starts_at.isoformat(), ends_at=ends_at.isoformat())  # fmt: skip
    logger.info("alarm site maintenance set", extra={"site_id": site_id,
                "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})  # fmt: skip
    return MaintenanceWindow(starts_at, ends_at, set_at)


async def end_maintenance(
    db: Database, site_id: str, *, alarm_centre: str | None = None, actor: str = "cli"
) -> int:
    """End the site's maintenance now, audited as `alarm_site_maintenance_ended`: a window in
    progress ends now (what was pressed in it stays maintenance), one not yet begun is deleted.
    Returns how many windows it changed. With `alarm_centre`, only a site of that centre."""
    async with transaction(db) as connection:
        await _require_site(connection, site_id, alarm_centre)
        deleted = await connection.fetch(
            "DELETE FROM alarm_site_maintenance WHERE site_id = $1 AND starts_at >= now() "
            "RETURNING starts_at",
            site_id,
        )
        ended = await connection.fetch(
            "UPDATE alarm_site_maintenance SET ends_at = now(), set_at = now() "
            "WHERE site_id = $1 AND ends_at > now() RETURNING starts_at",
            site_id,
        )
        changed = len(deleted) + len(ended)
        if changed:
            await _audit(connection, actor, "alarm_site_maintenance_ended",
                         f"alarm_site:{site_id}", windows=changed)  # fmt: skip
    logger.info("alarm site maintenance ended", extra={"site_id": site_id, "windows": changed})
    return changed


async def list_maintenance(
    db: Database, site_id: str, *, alarm_centre: str | None = None
) -> list[MaintenanceWindow]:
    """The site's maintenance windows kept, oldest first (with `alarm_centre`, of its site)."""
    await _require_site(db, site_id, alarm_centre)
    rows = await db.fetch(
        "SELECT starts_at, ends_at, set_at FROM alarm_site_maintenance WHERE site_id = $1 "
        "ORDER BY starts_at",
        site_id,
    )
    return [MaintenanceWindow(row["starts_at"], row["ends_at"], row["set_at"]) for row in rows]


async def add_association_member(db: Database, association_id: str, member_id: str) -> None:
    """Let a trade association report for the branches of a member organisation."""
    await _require_role(db, association_id, {"trade_association"})
    await _require_role(db, member_id, {"retailer"})
    await db.execute(
        "INSERT INTO association_member (association_id, member_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        association_id,
        member_id,
    )
    logger.info(
        "association member added",
        extra={"association_id": association_id, "member_id": member_id},
    )


async def issue_key(
    db: Database,
    organisation_id: str,
    *,
    scopes: Sequence[str] | None = None,
    expires_at: datetime | None = None,
    actor: str = "cli",
) -> IssuedKey:
    """A new key for the organisation: its role's default scopes, or the ones given (of those its
    role may hold, `allowed_scopes`); audited as `api_key_issued` by `actor`."""
    role = await _require_role(db, organisation_id, set(ROLES))
    chosen = tuple(default_scopes(role) if scopes is None else scopes)
    too_wide = set(chosen) - allowed_scopes(role)
    if too_wide:
        raise AdminError(
            f"an organisation with role {role} cannot hold {', '.join(sorted(too_wide))}"
        )
    if expires_at is not None and expires_at.tzinfo is None:
        raise AdminError("expires_at needs a time zone")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise AdminError(f"expires_at {expires_at.isoformat()} has passed: the key would not work")
    key = new_key()
    async with transaction(db) as connection:
        await connection.execute(
            "INSERT INTO api_key (key_id, organisation_id, key_hash, scopes, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            key.key_id,
            organisation_id,
            key.key_hash,
            list(chosen),
            expires_at,
        )
        await _audit(connection, actor, "api_key_issued", f"api_key:{key.key_id}",
                     organisation_id=organisation_id, scopes=list(chosen),
                     expires_at=None if expires_at is None else expires_at.isoformat())  # fmt: skip
    logger.info(
        "api key issued",
        extra={"key_id": key.key_id, "organisation_id": organisation_id, "scopes": chosen},
    )
    return IssuedKey(key.key_id, key.plain, organisation_id, chosen, expires_at)


async def revoke_key(db: Database, key_id: str, *, actor: str = "cli") -> bool:
    """Revoke a key at once, audited as `api_key_revoked`; False (and nothing audited) when no
    such key was still valid."""
    async with transaction(db) as connection:
        organisation_id = await connection.fetchval(
            "UPDATE api_key SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL "
            "RETURNING organisation_id",
            key_id,
        )
        if organisation_id is None:
            return False
        await _audit(connection, actor, "api_key_revoked", f"api_key:{key_id}",
                     organisation_id=organisation_id)  # fmt: skip
    logger.info("api key revoked", extra={"key_id": key_id, "organisation_id": organisation_id})
    return True


async def set_organisation_disabled(
    db: Database, organisation_id: str, *, disabled: bool, actor: str = "cli"
) -> int:
    """Disable an organisation (offboarding) or enable it again, audited as
    `organisation_disabled` / `organisation_enabled`; returns how many of its keys are valid
    (neither revoked nor expired).

    A disabled organisation's keys are refused at once (`heterdaad.auth.find_caller`), and so
    are its /meld codes and sessions and CBL imports; its subscriptions route nothing new after
    notify's next directory refresh (`directory_refresh_seconds`, 10), and what was queued for
    it before is not sent either, retries included (notify's OffboardStage, at its next pass);
    its alarm sites are no longer heard over SIA once the receiver's account cache has expired
    (a minute). A police organisation's
    unit, with no other police organisation enabled, has its desk users locked out and their
    sessions ended. Nothing is deleted: its events, alerts and audit rows stay for their
    retention.
    """
    async with transaction(db) as connection:
        changed = await connection.fetchrow(
            "UPDATE organisation SET disabled_at = CASE WHEN $2 THEN now() END "
            "WHERE organisation_id = $1 AND (disabled_at IS NULL) = $2 "
            "RETURNING role, police_unit",
            organisation_id,
            disabled,
        )
        if changed is None:
            exists = await connection.fetchval(
                "SELECT 1 FROM organisation WHERE organisation_id = $1", organisation_id
            )
            if exists is None:
                raise AdminError(f"organisation {organisation_id} does not exist")
            state = "disabled" if disabled else "enabled"
            raise AdminError(f"organisation {organisation_id} is {state} already")
        keys: int = await connection.fetchval(
            "SELECT count(*) FROM api_key WHERE organisation_id = $1 AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now())",
            organisation_id,
        )
        details: dict[str, object] = {"valid_keys": keys}
        if disabled and changed["role"] == "police" and changed["police_unit"] is not None:
            # The unit's desk users work for its police organisations: with none enabled they
            # are locked out (consumers/desk/users.py, UNIT_OFFBOARDED) and their sessions end,
            # as `desk user disable` ends one user's.
            ended = await connection.fetch(
                "DELETE FROM desk_session s USING desk_user u WHERE s.username = u.username "
                "AND u.police_unit = $1 AND NOT EXISTS (SELECT 1 FROM organisation o "
                "WHERE o.role = 'police' AND o.police_unit = $1 AND o.disabled_at IS NULL) "
                "RETURNING s.username",
                changed["police_unit"],
            )
            details["desk_sessions_ended"] = len(ended)
        action = "organisation_disabled" if disabled else "organisation_enabled"
        await _audit(connection, actor, action, f"organisation:{organisation_id}", **details)
    logger.info(
        "organisation disabled" if disabled else "organisation enabled",
        extra={"organisation_id": organisation_id},
    )
    return keys


async def list_organisations(db: Database) -> list[asyncpg.Record]:
    """Every organisation with its role, unit, creation and whether it is disabled, by id."""
    return list(await db.fetch(
        "SELECT organisation_id, name, role, police_unit, created_at, disabled_at "
        "FROM organisation ORDER BY organisation_id"
    ))  # fmt: skip


async def list_keys(db: Database, organisation_id: str) -> list[asyncpg.Record]:
    """An organisation's keys (ids and scopes, never hashes), oldest first, for finding the one
    to revoke."""
    exists = await db.fetchval(
        "SELECT 1 FROM organisation WHERE organisation_id = $1", organisation_id
    )
    if exists is None:
        raise AdminError(f"organisation {organisation_id} does not exist")
    return list(await db.fetch(
        "SELECT k.key_id, k.scopes, k.created_at, k.expires_at, k.revoked_at, "
        "o.disabled_at AS organisation_disabled_at FROM api_key k "
        "JOIN organisation o USING (organisation_id) "
        "WHERE k.organisation_id = $1 ORDER BY k.created_at, k.key_id",
        organisation_id,
    ))  # fmt: skip


async def _audit(
    connection: asyncpg.Connection, actor: str, action: str, subject: str, **details: object
) -> None:
    await write_audit_rows(
        connection, [AuditRow(datetime.now(UTC), actor, action, subject, details)]
    )


def _days(span: timedelta) -> str:
    return f"{span / timedelta(days=1):.4g} days"


def _check_identifier(name: str, value: str) -> None:
    try:
        _IDENTIFIER.validate_python(value)
    except ValidationError as error:
        raise AdminError(f"{name} {value!r}: {explain(error)}") from None


async def _require_site(db: Database, site_id: str, alarm_centre: str | None = None) -> None:
    # A site of another centre is answered as one that does not exist: nothing is learnt of it.
    if await db.fetchval(
        "SELECT 1 FROM alarm_site WHERE site_id = $1 AND ($2::text IS NULL OR alarm_centre = $2)",
        site_id,
        alarm_centre,
    ) is None:
        raise UnknownSite(f"alarm site {site_id} does not exist")


async def _require_role(db: Database, organisation_id: str, roles: set[str]) -> str:
    row = await db.fetchrow(
        "SELECT role, disabled_at FROM organisation WHERE organisation_id = $1", organisation_id
    )
    if row is None:
        raise AdminError(f"organisation {organisation_id} does not exist")
    if row["disabled_at"] is not None:
        raise AdminError(f"organisation {organisation_id} is disabled")
    role: str = row["role"]
    if role not in roles:
        raise AdminError(
            f"organisation {organisation_id} is a {role}, not a {' or '.join(sorted(roles))}"
        )
    return role
