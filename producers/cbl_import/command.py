"""`heterdaad import cbl FILE`: the CBL import with a progress bar, for the lead's CLI to mount."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

import_app = typer.Typer(help="Bulk imports of reports kept in other tools.", no_args_is_help=True)

# Exit status of an import that finished but left rows in the rejection report: scripts can
# tell it from success (0) and from an import that did not run or finish (1).
EXIT_REJECTIONS = 3


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from heterdaad.cli_support import validated_settings
    from producers.cbl_import import CblImportError, ImportProgress, import_cbl

    settings = validated_settings()
    chosen = language or settings.language
    if chosen not in ("nl", "en"):
        raise typer.BadParameter("nl or en", param_hint="--language")
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"importing {file.name}", total=None, tally="")

        def show(progress: ImportProgress) -> None:
            tally = (
                f"{progress.published} published, {progress.already_imported} already imported, "
                f"{progress.rejected} rejected"
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
                    language="en" if chosen == "en" else "nl",
                    location_warning_metres=location_warning_km * 1000,
                )
            )
        except CblImportError as error:
            said = error.said_in("en" if chosen == "en" else "nl")
            typer.echo(f"heterdaad import cbl: {said}", err=True)
            raise typer.Exit(1) from error
    typer.echo(report.summary())
    for line in report.warning_lines("en" if chosen == "en" else "nl"):
        typer.echo(line)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTIONS)
