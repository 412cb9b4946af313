"""What an import did: progress while it runs, the final tally and the rejection report file."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from heterdaad.spreadsheet import csv_cell
from producers.cbl_import.sheet import CblImportError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from heterdaad.language import Language
    from producers.cbl_import.rows import Problem

REJECTIONS_HEADER = ("rij", "meldingsnummer", "kolom", "reden")


@dataclass(frozen=True)
class ImportProgress:
    """Handed to the progress callback after every batch of rows."""

    rows_done: int
    rows_total: int
    published: int
    already_imported: int
    rejected: int


ProgressCallback: TypeAlias = Callable[[ImportProgress], None]


@dataclass(frozen=True)
class Rejection:
    """A row that was not published, and why, column by column."""

    row: int
    melding: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class RowWarning:
    """A row that was published (or had been) as it is, but that someone should check."""

    row: int
    melding: str
    english: str
    dutch: str

    def said_in(self, language: Language) -> str:
        if language == "nl":
            return f"rij {self.row} ({self.melding}): {self.dutch}"
        return f"row {self.row} ({self.melding}): {self.english}"


@dataclass(frozen=True)
class ImportReport:
    path: Path
    file_sha256: str
    rows: int
    published: int
    already_imported: int
    rejections: tuple[Rejection, ...]
    rejection_report: Path
    warnings: tuple[RowWarning, ...] = ()

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def summary(self, language: Language = "nl") -> str:
        """One line for the operator, in the language of the import's warnings and reasons."""
        if language == "nl":
            return (
                f"{self.path.name}: {self.rows} rij(en): {self.published} verstuurd, "
                f"{self.already_imported} al eerder geïmporteerd, {self.rejected} afgewezen "
                f"(redenen in {self.rejection_report})"
            )
        return (
            f"{self.path.name}: {self.rows} row(s): {self.published} published, "
            f"{self.already_imported} already imported, {self.rejected} rejected "
            f"(reasons in {self.rejection_report})"
        )

    def warning_lines(self, language: Language) -> list[str]:
        """One line per warning, rows in file order, after a count: for the operator's eyes."""
        if not self.warnings:
            return []
        count = len(self.warnings)
        head = (
            f"{count} waarschuwing(en): verstuurd, maar controleer"
            if language == "nl"
            else f"{count} warning(s): published, but check"
        )
        return [head, *(f"  {warning.said_in(language)}" for warning in self.warnings)]


class ImportInterrupted(CblImportError):
    """The broker stopped acknowledging: what was acknowledged is kept, a re-run goes on."""

    def __init__(self, reason: tuple[str, str], progress: ImportProgress) -> None:
        """`reason`: why, in English and in Dutch."""
        english, dutch = reason
        super().__init__(
            f"import stopped after {progress.rows_done} of {progress.rows_total} row(s): "
            f"{english}. {progress.published} row(s) were published and are recorded as "
            "imported; run the same import again to continue, nothing is published twice",
            f"import gestopt na {progress.rows_done} van {progress.rows_total} rij(en): "
            f"{dutch}. {progress.published} rij(en) zijn verstuurd en als geïmporteerd "
            "vastgelegd; start dezelfde import opnieuw om verder te gaan, niets wordt twee keer "
            "verstuurd",
        )
        self.progress = progress


def default_rejections_path(path: Path) -> Path:
    """Next to the export: cbl-2025-03.xlsx gives cbl-2025-03.afgewezen.csv."""
    return path.with_name(f"{path.stem}.afgewezen.csv")


def write_rejections(
    target: Path,
    rejections: Sequence[Rejection],
    language: Language,
    header: Sequence[str] = REJECTIONS_HEADER,
) -> None:
    """One line per problem; written even when empty, so an old report never looks current.

    Reasons are in `language`; the header stays Dutch in both, as scripts read its names.

    Semicolons and a byte order mark: Dutch Excel opens it as columns with accents intact. The
    row's cells are not copied: the export may hold a raw plate, the report should not; what is
    written (a melding number, a column name) is never run as a formula.
    """
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, delimiter=";")
        writer.writerow(header)
        for rejection in sorted(rejections, key=lambda rejection: rejection.row):
            for problem in rejection.problems:
                reason = problem.said_in(language)
                cells = (rejection.row, rejection.melding, problem.column, reason)
                writer.writerow([csv_cell(cell) for cell in cells])
    os.replace(partial, target)
