"""`heterdaad dead-letters ...`: what lies on the dead-letter topics, and sending it back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from heterdaad.cli_support import validated_settings
from heterdaad.dead_letter_replay import (
    Selection,
    audit_replay,
    parse_offsets,
    plan,
    publish_again,
    read_dead_letters,
)
from heterdaad.logs import escaped
from schemas.topics import CATALOGUE

if TYPE_CHECKING:
    from heterdaad.dead_letter_replay import DeadLetterRecord, Plan
    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec

dead_letters_app = typer.Typer(
    help="The dead-letter topics: list what lies there, send chosen records back.",
    no_args_is_help=True,
)
REASON_CLASSES = ("no_value", "not_cloudevent", "wrong_type", "id_taken", "invalid_fields",
                  "other")  # fmt: skip
_SHOWN_REASON = 160  # characters of a reason on a line; the header has the whole


def _spec(suffix: str) -> TopicSpec:
    found = next((spec for spec in CATALOGUE if suffix.removesuffix(".dlq") == spec.suffix), None)
    if found is None:
        known = ", ".join(spec.suffix for spec in CATALOGUE)
        raise typer.BadParameter(f"{suffix!r} is no topic of the catalogue ({known})",
                                 param_hint="--topic")  # fmt: skip
    return found


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter("a date or time, 2026-12-01 or 2026-12-01T08:00",
                                 param_hint="--since") from error  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def listed_line(letter: DeadLetterRecord) -> str:
    """One dead letter as `list` prints it: tab-separated, no key and no value (both may hold
    personal data, a branch's plate in a free text)."""
    fields = (letter.topic, str(letter.offset), letter.set_aside_at, letter.stage,
              letter.source, letter.event_id or "-", letter.reason_class,
              letter.reason[:_SHOWN_REASON])  # fmt: skip
    # The headers come from whoever wrote the record (a reason quotes its field names): a tab
    # would add a column, an escape sequence would drive the operator's terminal.
    return "\t".join(escaped(field) for field in fields)


TopicOption = Annotated[str, typer.Option("--topic", help="The source topic, e.g. alerts.v1.")]
SinceOption = Annotated[str | None, typer.Option(
    help="Only dead letters set aside from then on (2026-12-01 or 2026-12-01T08:00, UTC).")]


@dead_letters_app.command("list")
def list_command(
    topic: Annotated[str | None, typer.Option(
        "--topic", help="One source topic, e.g. alerts.v1 (default: all).")] = None,
    since: SinceOption = None,
) -> None:
    """Per dead letter: its topic, offset, when and by which stage it was set aside, where it
    was read, its event id, reason class and reason. Never its key or value."""
    settings = validated_settings()
    specs = [_spec(topic)] if topic else list(CATALOGUE)
    selection = Selection(since=_since(since))

    async def read() -> list[DeadLetterRecord]:
        return [letter for spec in specs for letter in await read_dead_letters(settings, spec)]

    letters = [letter for letter in asyncio.run(read()) if selection.takes(letter)]
    typer.echo("topic\toffset\tset aside\tstage\tread from\tevent id\tclass\treason")
    for letter in letters:
        typer.echo(listed_line(letter))
    typer.echo(f"{len(letters)} dead letter(s)", err=True)


@dead_letters_app.command("replay")
def replay_command(
    topic: TopicOption,
    offsets: Annotated[str | None, typer.Option(
        help="Offsets on the dead-letter topic, e.g. 3,7,10-20 (see `list`).")] = None,
    reason_class: Annotated[str | None, typer.Option(
        "--reason-class", help=f"Only this class: {', '.join(REASON_CLASSES)}.")] = None,
    since: SinceOption = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Every dead letter of the topic (without --offsets, --reason-class or "
        "--since, which choose).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be sent and refused; send nothing.")] = False,
    actor: Annotated[str, typer.Option(help="Who replays, for the audit log.")] = "cli",
) -> None:
    """Publish chosen dead letters again to their source topic, as they were (key, value,
    original headers), once per event id; refuse, with the reason, what cannot go back."""
    spec = _spec(topic)
    if not (every or dry_run or offsets or reason_class or since):
        # A topic's whole dead-letter history back on the live topic is a choice to make.
        raise typer.BadParameter(
            "choose with --offsets, --reason-class or --since, or say --all (see `list`, and "
            "--dry-run)", param_hint="--topic",
        )  # fmt: skip
    if reason_class is not None and reason_class not in REASON_CLASSES:
        raise typer.BadParameter(f"one of {', '.join(REASON_CLASSES)}", param_hint="--reason-class")
    try:
        chosen_offsets = parse_offsets(offsets) if offsets is not None else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--offsets") from error
    selection = Selection(chosen_offsets, reason_class, _since(since))
    settings = validated_settings()
    letters = asyncio.run(read_dead_letters(settings, spec))
    replay = plan([letter for letter in letters if selection.takes(letter)], spec,
                  settings.topic_prefix, now=datetime.now(UTC),
                  skew=timedelta(seconds=settings.clock_skew_seconds))  # fmt: skip
    for letter, why in replay.refused:
        typer.echo(f"offset {letter.offset}: not sent: {escaped(why)}", err=True)
    if dry_run:
        typer.echo(f"would send {len(replay.send)}, refused {len(replay.refused)}, "
                   f"repeats {len(replay.repeats)} (dry run: nothing sent)")  # fmt: skip
        return
    sent = asyncio.run(_replay(settings, spec, replay, actor))
    typer.echo(f"sent {sent} to {spec.name(settings.topic_prefix)}, refused "
               f"{len(replay.refused)}, repeats {len(replay.repeats)}")  # fmt: skip


async def _replay(settings: Settings, spec: TopicSpec, replay: Plan, actor: str) -> int:
    """Send and audit; the database is reached first, so nothing is sent without its trail."""
    import asyncpg
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.database_schema}
    )
    sent = 0
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"replay {spec.suffix}", total=len(replay.send))

            def advance(done: int, total: int) -> None:
                nonlocal sent
                sent = done
                bar.update(task, completed=done)

            try:
                await publish_again(settings, spec, replay.send, progress=advance)
            finally:
                # What was acknowledged is in the trail, also when the broker stopped it.
                await audit_replay(connection, actor, spec, replay, sent)
    finally:
        await connection.close()
    return sent
