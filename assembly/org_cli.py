"""`heterdaad org ...`: organisations, their branches, alarm sites and API keys."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import asyncpg
import typer
from pydantic import ValidationError

from heterdaad.cli_support import validated_settings
from schemas.common import Address, Branch, BranchType, Location, PoliceUnit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from heterdaad.language import Language
    from heterdaad.settings import Settings

org_app = typer.Typer(
    help="Organisations, branches, alarm sites and API keys.", no_args_is_help=True
)


def run_on_database(
    action: Callable[[asyncpg.Connection], Awaitable[Any]], *refusals: type[Exception]
) -> Any:
    """Run one admin action on a connection in the configured schema; a refusal ends the command
    with its message (exit 1)."""
    settings: Settings = validated_settings()

    async def run() -> Any:
        connection = await asyncpg.connect(
            settings.database_url, server_settings={"search_path": settings.database_schema}
        )
        try:
            return await action(connection)
        finally:
            await connection.close()

    try:
        return asyncio.run(run())
    except refusals as error:
        typer.echo(f"heterdaad: {error}", err=True)
        raise typer.Exit(1) from error


def _run(action: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    from producers.api.admin import AdminError

    return run_on_database(action, AdminError)


@org_app.command("create")
def create(
    organisation_id: str,
    name: str,
    role: Annotated[
        str, typer.Option(
            help="alarm_centre, retailer, trade_association, police, admin, neighbourhood_watch"
        )
    ],
    police_unit: Annotated[
        PoliceUnit | None, typer.Option(help="For police organisations.")
    ] = None,
) -> None:
    """Register an organisation with its role."""
    from producers.api import admin

    # admin.create_organisation checks the role and names the valid ones.
    checked = cast("admin.Role", role)
    _run(
        lambda db: admin.create_organisation(
            db, organisation_id, name, checked, police_unit=police_unit
        )
    )
    typer.echo(f"organisation {organisation_id} ({role}) created")


_ADDRESS = re.compile(r"^\s*(?P<street>[^,]+?)\s*,\s*(?P<postcode>[1-9][0-9]{3} ?[A-Za-z]{2})\s+"
                      r"(?P<city>\S.*?)\s*$")


def parse_address(text: str) -> Address:
    """'Damstraat 1, 1012 JL Amsterdam' as an Address; refused naming what is wrong."""
    match = _ADDRESS.match(text)
    if match is None:
        raise typer.BadParameter(
            f"{text!r} is not 'street and number, postcode place' "
            "(for example 'Damstraat 1, 1012 JL Amsterdam')",
            param_hint="--address",
        )
    try:
        return Address(
            street=match["street"], postcode=match["postcode"].upper(), city=match["city"]
        )
    except ValidationError as error:
        reason = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(reason, param_hint="--address") from None


@org_app.command("branch")
def branch(
    organisation_id: str,
    branch_id: str,
    branch_type: BranchType,
    lat: float,
    lon: float,
    chain: Annotated[str | None, typer.Option()] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Street and number, postcode and place: 'Damstraat 1, 1012 JL Amsterdam'. "
            "The police desk names the branch by it."
        ),
    ] = None,
) -> None:
    """Register a branch of a retailer (or of the trade association)."""
    from producers.api import admin
    from producers.edge_policy import admit
    from producers.reasons import plain

    try:
        location = Location(lat=lat, lon=lon)
    except ValidationError as error:
        reason = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(reason, param_hint="LAT LON") from None
    new = Branch(
        branch_id=branch_id,
        chain=chain,
        branch_type=branch_type,
        location=location,
        address=None if address is None else parse_address(address),
    )
    try:
        # The registry places alerts and reports: a point abroad is refused as the edges do.
        admit(new)
    except ValidationError as error:
        reason = "; ".join(plain(str(e["msg"])) for e in error.errors())
        raise typer.BadParameter(reason, param_hint="LAT LON") from None
    _run(lambda db: admin.create_branch(db, organisation_id, new))
    typer.echo(f"branch {branch_id} of {organisation_id} created")


@org_app.command("alarm-site")
def alarm_site(
    site_id: str,
    alarm_centre: str,
    subscriber_account: str,
    branch_id: Annotated[str | None, typer.Option(help="The branch this site protects.")] = None,
    key: Annotated[
        str | None, typer.Option(help="The site's AES key in hex (32, 48 or 64 digits).")
    ] = None,
    new_key: Annotated[
        bool, typer.Option("--new-key", help="Generate an AES-128 key and print it once.")
    ] = False,
    plain_frames: Annotated[
        bool,
        typer.Option(
            "--plain-frames",
            help="Take unencrypted SIA frames from this site. Anyone who reaches the receiver "
            "can forge them; its alarms are marked unauthenticated and never verify an alarm.",
        ),
    ] = False,
    liveview: Annotated[
        str | None,
        typer.Option(
            help="The https:// link where the police watch the site's camera live (Liveview); "
            "a hold-up alert at the site shows it on the desk as 'live meekijken'."
        ),
    ] = None,
) -> None:
    """Register a subscriber site of an alarm centre.

    Over SIA the site is heard only with a key (--key or --new-key) or --plain-frames; without
    either its alarm centre reports its activations through the API only.
    """
    from producers.api import admin
    from producers.sia import site_keys

    if key is not None and new_key:
        typer.echo("heterdaad: give --key or --new-key, not both", err=True)
        raise typer.Exit(2)
    sia_key = site_keys.generate_key() if new_key else None
    if key is not None:
        sia_key = _run_parsed(lambda: site_keys.parse_key(key))
    _run(
        lambda db: admin.create_alarm_site(
            db,
            site_id,
            alarm_centre,
            subscriber_account,
            branch_id=branch_id,
            sia_key=sia_key,
            sia_plain_frames=plain_frames,
            liveview_url=liveview,
        )
    )
    typer.echo(f"alarm site {site_id} of {alarm_centre} created")
    if new_key and sia_key is not None:
        typer.echo(f"sia key (shown once, configure it in the panel): {sia_key.hex().upper()}")


@org_app.command("rotate-key")
def rotate_key(
    site_id: str,
    key: Annotated[
        str | None, typer.Option(help="The new AES key in hex; generated when not given.")
    ] = None,
) -> None:
    """Give an alarm site a new SIA key (and end plain frames); the old key stops working
    within a minute (the receiver's account cache)."""
    from producers.sia import site_keys

    new = site_keys.generate_key() if key is None else _run_parsed(lambda: site_keys.parse_key(key))
    run_on_database(lambda db: site_keys.set_site_key(db, site_id, new), site_keys.SiteKeyError)
    typer.echo(f"alarm site {site_id} has a new sia key")
    if key is None:
        typer.echo(f"sia key (shown once, configure it in the panel): {new.hex().upper()}")


@org_app.command("plain-frames")
def plain_frames(
    site_id: str,
    allow: Annotated[
        bool, typer.Option("--allow/--refuse", help="Take unencrypted frames from the site.")
    ],
) -> None:
    """Allow or refuse unencrypted SIA frames from a keyless site (they can be forged)."""
    from producers.sia import site_keys

    run_on_database(
        lambda db: site_keys.set_plain_frames(db, site_id, allowed=allow), site_keys.SiteKeyError
    )
    typer.echo(f"alarm site {site_id}: plain frames {'allowed' if allow else 'refused'}")


def _run_parsed(parse: Callable[[], bytes]) -> bytes:
    from producers.sia.site_keys import SiteKeyError

    try:
        return parse()
    except SiteKeyError as error:
        typer.echo(f"heterdaad: {error}", err=True)
        raise typer.Exit(2) from error


@org_app.command("member")
def member(association_id: str, retailer_id: str) -> None:
    """Make a retailer a member of a trade association (it may then report for its branches)."""
    from producers.api import admin

    _run(lambda db: admin.add_association_member(db, association_id, retailer_id))
    typer.echo(f"{retailer_id} is a member of {association_id}")


Actor = Annotated[str, typer.Option(help="Who does it, for the audit log.")]


@org_app.command("disable")
def disable(organisation_id: str, actor: Actor = "cli") -> None:
    """Offboard an organisation: its API keys, /meld codes and sessions and imports stop at once,
    its subscriptions route nothing new after 10 s, its alarm sites over SIA are refused within a
    minute; a police organisation's unit with no other enabled police organisation has its desk
    users locked out. Nothing is deleted; `enable` undoes it."""
    from producers.api import admin

    keys = _run(lambda db: admin.set_organisation_disabled(
        db, organisation_id, disabled=True, actor=actor))  # fmt: skip
    typer.echo(f"organisation {organisation_id} disabled ({keys} valid key(s) now refused)")


@org_app.command("enable")
def enable(organisation_id: str, actor: Actor = "cli") -> None:
    """Enable a disabled organisation again; its unrevoked, unexpired keys work again."""
    from producers.api import admin

    keys = _run(lambda db: admin.set_organisation_disabled(
        db, organisation_id, disabled=False, actor=actor))  # fmt: skip
    typer.echo(f"organisation {organisation_id} enabled ({keys} valid key(s) work again)")


@org_app.command("maintenance")
def maintenance(
    site_id: str,
    until: Annotated[
        datetime | None, typer.Option(help="End of the window, ISO 8601 with zone.")
    ] = None,
    from_: Annotated[
        datetime | None,
        typer.Option("--from", help="Start of the window, ISO 8601 with zone (default: now)."),
    ] = None,
    end: Annotated[
        bool, typer.Option("--end", help="End the site's maintenance now.")
    ] = False,
    actor: Actor = "cli",
) -> None:
    """Put an alarm site in maintenance (--until, optionally --from), end it (--end), or list its
    windows (neither).

    Alarm verification ignores a press made inside a window however late it arrives, and judges
    a press made before or after one as any other; workers read the windows every
    alarms.maintenance_refresh_seconds, and a press decided before then stays decided.
    """
    from producers.api import admin

    if end and (until is not None or from_ is not None):
        typer.echo("heterdaad: give --until (and --from) or --end, not both", err=True)
        raise typer.Exit(2)
    if until is None and from_ is not None:
        typer.echo("heterdaad: --from needs --until", err=True)
        raise typer.Exit(2)
    if end:
        changed = _run(lambda db: admin.end_maintenance(db, site_id, actor=actor))
        typer.echo(f"maintenance of {site_id} ended ({changed} window(s))")
        return
    if until is None:
        for window in _run(lambda db: admin.list_maintenance(db, site_id)):
            typer.echo(f"{_moment(window.starts_at)}\t{_moment(window.ends_at)}\t"
                       f"set {_moment(window.set_at)}")  # fmt: skip
        return
    # What the worker still reads (docs/alarm-verification.md): older windows are forgotten.
    kept_for = timedelta(days=validated_settings().time.late_bound_days)
    window = _run(lambda db: admin.set_maintenance(
        db, site_id, until, starts_at=from_, forget_before=datetime.now(UTC) - kept_for,
        actor=actor))  # fmt: skip
    typer.echo(f"alarm site {site_id} in maintenance from {_moment(window.starts_at)} "
               f"until {_moment(window.ends_at)}")  # fmt: skip


@org_app.command("issue-key")
def issue_key(
    organisation_id: str,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="Scopes instead of the role's defaults, e.g. only subscriptions:write (which "
            "no key gets unless asked for)."
        ),
    ] = None,
    expires: Annotated[datetime | None, typer.Option(help="Expiry, ISO 8601 with zone.")] = None,
    actor: Actor = "cli",
) -> None:
    """Issue an API key; it is printed once and stored only as a hash."""
    from producers.api import admin

    issued = _run(lambda db: admin.issue_key(
        db, organisation_id, scopes=scope, expires_at=expires, actor=actor))  # fmt: skip
    typer.echo(f"key id {issued.key_id}, scopes {', '.join(issued.scopes)}")
    typer.echo(issued.key)


@org_app.command("revoke-key")
def revoke_key(key_id: str, actor: Actor = "cli") -> None:
    """Revoke an API key at once. The key id is printed when the key is issued, and is the key's
    part between 'hd_' and the next '_' (`org keys ORG` lists them); the rest is the secret."""
    from producers.api import admin

    if not _run(lambda db: admin.revoke_key(db, key_id, actor=actor)):
        typer.echo(f"heterdaad: no key {key_id} that is not revoked already", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")


def _moment(at: datetime | None) -> str:
    return "-" if at is None else at.isoformat(timespec="seconds")


@org_app.command("list")
def list_organisations() -> None:
    """Every organisation: id, role, police unit, created, and 'disabled' since when."""
    from producers.api import admin

    for row in _run(admin.list_organisations):
        state = "" if row["disabled_at"] is None else f"\tdisabled {_moment(row['disabled_at'])}"
        typer.echo(f"{row['organisation_id']}\t{row['role']}\t{row['police_unit'] or '-'}\t"
                   f"{_moment(row['created_at'])}\t{row['name']}{state}")  # fmt: skip


@org_app.command("keys")
def keys(organisation_id: str) -> None:
    """An organisation's API keys: id, state (valid, expired, revoked, or refused while the
    organisation is disabled), scopes, issued and expiry;
    revoke one with `revoke-key ID`."""
    from datetime import UTC

    from producers.api import admin

    now = datetime.now(UTC)
    for row in _run(lambda db: admin.list_keys(db, organisation_id)):
        expires = row["expires_at"]
        state = ("revoked " + _moment(row["revoked_at"]) if row["revoked_at"] is not None
                 else "expired" if expires is not None and expires <= now
                 else "refused (organisation disabled)" if row["organisation_disabled_at"]
                 else "valid")  # fmt: skip
        typer.echo(f"{row['key_id']}\t{state}\t{','.join(row['scopes'])}\t"
                   f"issued {_moment(row['created_at'])}\texpires {_moment(expires)}")  # fmt: skip


@org_app.command("meld-code")
def meld_code(
    organisation_id: str,
    branch_id: str,
    count: Annotated[int, typer.Option(min=1, max=100, help="How many codes.")] = 1,
) -> None:
    """One-time login codes for staff of a branch to report sightings on /meld, each with its
    link (for a QR code). Each code works once; printed now, kept only as a hash."""
    from datetime import timedelta

    from producers.api.staff_sessions import StaffSessionError, issue_codes, readable

    settings: Settings = validated_settings()
    valid_for = timedelta(days=settings.meld_code_days)
    codes: list[str] = run_on_database(
        lambda db: issue_codes(db, organisation_id, branch_id, count=count, valid_for=valid_for),
        StaffSessionError,
    )
    typer.echo(f"{len(codes)} code(s) for {branch_id}, valid {settings.meld_code_days:g} days:")
    for code in codes:
        typer.echo(f"{readable(code)}  {settings.api_url}/meld/login?code={code}")


branches_app = typer.Typer(help="A chain's branches in bulk.", no_args_is_help=True)
org_app.add_typer(branches_app, name="branches")


@branches_app.command("import")
def import_branches(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True,
            help="CSV or XLSX: filiaalnummer, soort_vestiging, breedtegraad, lengtegraad and "
            "optionally keten, straat, postcode, plaats (docs/cbl-import.md, Branches in bulk).",
        ),
    ],
    org: Annotated[str, typer.Option(help="The retailer or trade association they belong to.")],
    language: Annotated[
        str | None,
        typer.Option(help="nl or en: the language of the reasons (default: HETERDAAD_LANGUAGE)."),
    ] = None,
    rejections: Annotated[
        Path | None,
        typer.Option(help="Where to list refused rows (default: FILE.afgewezen.csv beside FILE)."),
    ] = None,
    actor: Actor = "cli",
) -> None:
    """Register many branches at once, each checked as `org branch` checks one; safe to repeat
    (a branch registered with the same values is left alone, one with other values refused)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from producers import branch_import
    from producers.api.admin import AdminError
    from producers.cbl_import import CblFileError
    from producers.cbl_import.command import EXIT_REJECTIONS

    chosen = language or validated_settings().language
    if chosen not in ("nl", "en"):
        raise typer.BadParameter("nl or en", param_hint="--language")
    spoken: Language = "en" if chosen == "en" else "nl"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  transient=True) as bar:  # fmt: skip
        task = bar.add_task(file.name, total=None)

        def show(progress: branch_import.BranchImportProgress) -> None:
            bar.update(task, completed=progress.rows_done, total=progress.rows_total)

        try:
            report: branch_import.BranchImportReport = run_on_database(
                lambda db: branch_import.import_branches(
                    db, file, org, language=spoken, rejections_path=rejections,
                    progress=show, actor=actor,
                ),
                AdminError,
            )  # fmt: skip
        except CblFileError as error:
            typer.echo(f"heterdaad: {error.said_in(spoken)}", err=True)
            raise typer.Exit(1) from error
    for line in report.rejection_lines(spoken):
        typer.echo(line)
    typer.echo(report.summary(spoken))
    if report.rejected:
        raise typer.Exit(EXIT_REJECTIONS)
