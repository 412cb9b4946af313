"""`heterdaad import cbl FILE`: the CBL import with a progress bar, for the lead's CLI to mount."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from producers.cbl_import import ImportProgress, ImportReport

import_app = typer.Typer(help="Bulk imports of reports kept in other tools.", no_args_is_help=True)

# Exit status of an import that finished but left rows in the rejection report: scripts can
# tell it from success (0) and from an import that did not run or finish (1).
EXIT_REJECTIONS = 3
# Stopped with Ctrl-C, as a shell reports a command ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


@import_app.command("cbl")
def import_cbl_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV or XLSX export of the CBL tool."
        ),
    ],
    org: Annotated[
        str, typer.Option(help="The reporting organisation (trade association or retailer).")
    ],
    rejections: Annotated[
        Path | None,
        typer.Option(help="Where to list rejected rows (default: FILE.afgewezen.csv beside FILE)."),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="nl or en: the language of the reasons and messages (default: HETERDAAD_LANGUAGE)."
        ),
    ] = None,
    location_warning_km: Annotated[
        float,
        typer.Option(
            min=0,
            help="Warn about a row whose location lies farther than this from its registered "
            "branch (it is published at the registered location either way).",
        ),
    ] = 1.0,
) -> None:
    """Publish the incident reports of a CBL export (docs/cbl-import.md); safe to repeat."""
    from heterdaad.cli_support import validated_settings

    settings = validated_settings()
    chosen = language or settings.language
    if chosen not in ("nl", "en"):
        raise typer.BadParameter("nl or en", param_hint="--language")
    spoken: Language = "en" if chosen == "en" else "nl"
    latest: list[ImportProgress] = []
    kilometres = location_warning_km
    try:
        report = _run_with_bar(settings, file, org, rejections, spoken, kilometres, latest)
    except KeyboardInterrupt:
        # asyncio.run cancelled the import: the batch under way released its claims, what was
        # confirmed before has its import receipts, so the same command goes on from there.
        typer.echo(_stopped(latest[-1] if latest else None, spoken), err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(report.summary(spoken))
    for line in report.warning_lines(spoken):
        typer.echo(line)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTIONS)


def _run_with_bar(
    settings: Settings,
    file: Path,
    org: str,
    rejections: Path | None,
    language: Language,
    location_warning_km: float,
    latest: list[ImportProgress],
) -> ImportReport:
    """The import under a progress bar; each progress it reports is appended to `latest`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from producers.cbl_import import CblImportError, import_cbl

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
    )
    with Progress(*columns, transient=True) as bar:
        doing = "importeren" if language == "nl" else "importing"
        task = bar.add_task(f"{doing} {file.name}", total=None, tally="")

        def show(progress: ImportProgress) -> None:
            latest.append(progress)
            tally = (
                f"{progress.published} verstuurd, {progress.already_imported} al eerder "
                f"geïmporteerd, {progress.rejected} afgewezen"
                if language == "nl"
                else f"{progress.published} published, {progress.already_imported} already "
                f"imported, {progress.rejected} rejected"
            )
            bar.update(task, completed=progress.rows_done, total=progress.rows_total, tally=tally)

        try:
            report = asyncio.run(
                import_cbl(
                    settings,
                    file,
                    reporting_org=org,
                    progress=show,
                    rejections_path=rejections,
                    language=language,
                    location_warning_metres=location_warning_km * 1000,
                )
            )
        except CblImportError as error:
            typer.echo(f"heterdaad import cbl: {error.said_in(language)}", err=True)
            raise typer.Exit(1) from error
    return report


def _stopped(progress: ImportProgress | None, language: Language) -> str:
    """One line for an import stopped with Ctrl-C: how far it got, and that a re-run goes on."""
    done, total = (progress.rows_done, progress.rows_total) if progress else (0, None)
    published = progress.published if progress else 0
    if language == "nl":
        far = f"na {done} van {total} rij(en)" if total is not None else "voor de eerste rij"
        return (
            f"heterdaad import cbl: gestopt (Ctrl-C) {far}; {published} rij(en) verstuurd en als "
            "geïmporteerd vastgelegd. Start hetzelfde commando opnieuw om verder te gaan waar "
            "het stopte; niets wordt twee keer verstuurd"
        )
    far = f"after {done} of {total} row(s)" if total is not None else "before the first row"
    return (
        f"heterdaad import cbl: stopped (Ctrl-C) {far}; {published} row(s) were published and "
        "recorded as imported. Run the same command again to continue where it stopped; "
        "nothing is published twice"
    )
