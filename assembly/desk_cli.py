"""`heterdaad desk ...`: the police desk web page, a terminal tail, and desk users."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assembly.org_cli import run_on_database
from heterdaad.cli_support import stop_on_signals, validated_settings
from heterdaad.language import Language
from heterdaad.settings import Settings
from schemas.common import PoliceUnit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import asyncpg


desk_app = typer.Typer(
    help="The police desk: a unit's alerts in the browser or a terminal.", no_args_is_help=True
)
desk_user_app = typer.Typer(
    help="Desk users, each scoped to one police unit.", no_args_is_help=True
)
desk_app.add_typer(desk_user_app, name="user")


def _desk_language(language: str | None, settings: Settings) -> Language:
    chosen = language or settings.language
    if chosen not in ("nl", "en"):
        raise typer.BadParameter("nl or en", param_hint="--language")
    return "en" if chosen == "en" else "nl"


def _desk_db(action: Callable[[asyncpg.Connection, Settings], Awaitable[Any]]) -> Any:
    """Run one desk user action in the configured schema; a refused action ends the command."""
    from consumers.desk import DeskUserError

    settings = validated_settings()
    return run_on_database(lambda connection: action(connection, settings), DeskUserError)


@desk_app.command("serve")
def desk_serve() -> None:
    """Run the police desk web page on HETERDAAD_DESK_HOST:HETERDAAD_DESK_PORT."""
    import uvicorn

    from assembly.startup import service_settings
    from consumers.desk import create_desk_app

    settings = service_settings()
    uvicorn.run(
        create_desk_app(settings, thresholds=settings.desk),
        host=settings.desk_host,
        port=settings.desk_port,
        log_config=None,
        # Open live streams (SSE) would otherwise hold a shutdown until every browser leaves.
        timeout_graceful_shutdown=5,
        **settings.uvicorn_options(),
    )


@desk_app.command("tail")
def desk_tail(
    unit: Annotated[PoliceUnit, typer.Option(help="The police unit whose alerts to show.")],
    language: Annotated[str | None, typer.Option(help="nl or en.")] = None,
    historical: Annotated[
        bool,
        typer.Option(
            "--historical",
            help="Also print historical alerts (a CBL import, a backlog: docs/time.md).",
        ),
    ] = False,
) -> None:
    """Print the unit's new live alerts as they come, one line each; Ctrl-C stops."""
    from consumers.desk import tail

    settings = validated_settings()
    chosen = _desk_language(language, settings)

    async def run() -> None:
        await tail(
            settings, unit, typer.echo, language=chosen, historical=historical,
            stop=stop_on_signals(),
        )  # fmt: skip

    asyncio.run(run())


PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]
Actor = Annotated[str, typer.Option(help="Who does it, for the audit log.")]


def _read_password(username: str, from_stdin: bool) -> str:
    """The password from stdin's first line, or asked twice on the terminal, without echo."""
    import getpass
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        # getpass would fall back to an echoing read with a GetPassWarning.
        typer.echo(
            "heterdaad: no terminal to ask for the password; give it on stdin with "
            "--password-stdin, for example: printf '%s\\n' \"$PASSWORD\" | "
            "heterdaad desk user add ... --password-stdin",
            err=True,
        )
        raise typer.Exit(2)
    for _ in range(3):
        password = getpass.getpass(f"Password for {username}: ")
        if getpass.getpass("Again, to confirm: ") == password:
            return password
        typer.echo("The two passwords differ; try again.", err=True)
    typer.echo("heterdaad: the passwords differed three times; nothing was changed.", err=True)
    raise typer.Exit(1)


@desk_user_app.command("add")
def desk_user_add(
    username: str,
    unit: Annotated[PoliceUnit, typer.Option(help="The unit whose alerts the user handles.")],
    language: Annotated[str | None, typer.Option(help="nl or en (default: the setting).")] = None,
    password_stdin: PasswordStdin = False,
    actor: Actor = "cli",
) -> None:
    """Create a desk user; asks for the password twice, or reads it with --password-stdin."""
    from consumers.desk import add_user

    settings = validated_settings()
    chosen = _desk_language(language, settings)
    password = _read_password(username, password_stdin)
    _desk_db(
        lambda db, settings: add_user(
            db, username, password, unit, language=chosen, thresholds=settings.desk, actor=actor
        )
    )
    typer.echo(f"desk user {username} ({unit.value}) created")


@desk_user_app.command("passwd")
def desk_user_passwd(
    username: str, password_stdin: PasswordStdin = False, actor: Actor = "cli"
) -> None:
    """Give a desk user a new password; its sessions end."""
    from consumers.desk import set_password

    validated_settings()  # a bad setting stops the command before the password is asked
    password = _read_password(username, password_stdin)
    _desk_db(lambda db, settings: set_password(
        db, username, password, thresholds=settings.desk, actor=actor))  # fmt: skip
    typer.echo(f"password of {username} set")


@desk_user_app.command("disable")
def desk_user_disable(username: str, actor: Actor = "cli") -> None:
    """Stop a desk user from logging in; its sessions end."""
    from consumers.desk import disable_user

    _desk_db(lambda db, settings: disable_user(db, username, actor=actor))
    typer.echo(f"desk user {username} disabled")


@desk_user_app.command("enable")
def desk_user_enable(username: str, actor: Actor = "cli") -> None:
    """Let a disabled desk user log in again, with its password (`passwd` sets a new one)."""
    from consumers.desk import enable_user

    _desk_db(lambda db, settings: enable_user(db, username, actor=actor))
    typer.echo(f"desk user {username} enabled")


@desk_user_app.command("list")
def desk_user_list() -> None:
    """Every desk user with its unit and language, and "(disabled)" or "(unit offboarded)" when
    it cannot log in: its unit's police organisations are all disabled (`org disable`)."""
    from consumers.desk import list_users

    for user, refused in _desk_db(lambda db, settings: list_users(db)):
        state = f" ({refused})" if refused else ""
        typer.echo(f"{user.username}\t{user.police_unit.value}\t{user.language}{state}")
