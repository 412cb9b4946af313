"""Reading a CBL export, CSV or XLSX, into rows of text cells under checked column headers."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from heterdaad.spreadsheet import csv_text, delimiter_of
from producers.cbl_import.layout import (
    COLUMNS,
    MAX_OFFENDERS,
    REQUIRED,
    SIGNALEMENT,
    SIGNALEMENT_PARTS,
    normalise_header,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from heterdaad.language import Language

logger = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
# An XLSX export is read as far as this many cells (a row counts to its last cell, plus one):
# a month of CBL meldings is a few thousand rows of at most some 130 columns.
MOST_XLSX_CELLS = 10_000_000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the binary .xls of Excel 97-2003
# Excel's "Unicode-tekst (*.txt)": UTF-16 with a byte order mark, tab-separated.
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class CblImportError(Exception):
    """An import that could not run or finish, worded for the operator in both languages.

    str() is the English (logs, tests); the command says it in the import's --language.
    """

    def __init__(self, english: str, dutch: str) -> None:
        super().__init__(english)
        self.dutch = dutch

    def said_in(self, language: Language) -> str:
        return self.dutch if language == "nl" else str(self)


class CblFileError(CblImportError):
    """The file as a whole cannot be imported: unreadable, or its columns are not the layout."""


@dataclass(frozen=True)
class SourceRow:
    """One data row: its number as a spreadsheet shows it (the header is row 1), and its cells."""

    number: int
    cells: dict[str, str]
    # Cells with content beyond the last column: a shifted row, whose cells cannot be trusted.
    extra_cells: int = 0

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class Layout:
    """The columns a file may have, the required ones, and the document that describes them:
    the CBL export's, or another import's read the same way (producers/branch_import.py)."""

    columns: tuple[str, ...]
    required: frozenset[str]
    document: str
    # A column known beyond `columns` (the CBL's numbered signalement_<n>_<part>).
    is_extra: Callable[[str], bool] = field(default=lambda column: False)


@dataclass(frozen=True)
class Sheet:
    file_sha256: str
    file_format: str
    columns: tuple[str, ...]
    rows: tuple[SourceRow, ...]


def read_sheet(path: Path, layout: Layout | None = None) -> Sheet:
    """The export at `path`; CblFileError when it is not a CSV or XLSX file in the layout
    (the CBL export's unless another is given)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        why = error.strerror or error
        raise CblFileError(
            f"{path}: cannot be read: {why}", f"{path}: kan niet worden gelezen: {why}"
        ) from error
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith(_OLE_MAGIC):
        raise CblFileError(
            f"{path}: an old .xls workbook; save it as .xlsx or .csv",
            f"{path}: een oud .xls-werkboek; sla het op als .xlsx of .csv",
        )
    if data.startswith(_ZIP_MAGIC):
        file_format, records = "xlsx", _xlsx_records(path, data)
    else:
        file_format, records = "csv", _csv_records(data)
    if not records:
        raise CblFileError(
            f"{path}: the file is empty; the first row names the columns",
            f"{path}: het bestand is leeg; de eerste rij noemt de kolommen",
        )
    columns = check_columns(records[0], layout)
    rows = []
    for offset, record in enumerate(records[1:]):
        if not any(cell.strip() for cell in record):
            continue  # spreadsheets keep trailing empty rows; they are not reports
        cells = {column: cell.strip() for column, cell in zip(columns, record, strict=False)}
        extra = sum(1 for cell in record[len(columns) :] if cell.strip())
        rows.append(SourceRow(offset + 2, cells, extra))
    logger.info(
        "cbl export read",
        extra={"file_sha256": digest, "format": file_format, "rows": len(rows)},
    )
    return Sheet(digest, file_format, columns, tuple(rows))


def check_columns(headers: Sequence[str], layout: Layout | None = None) -> tuple[str, ...]:
    """The normalised headers, or CblFileError naming every unknown, repeated or missing one.

    An unknown header is refused rather than ignored: a misspelt 'kenteken' would otherwise
    drop every plate of the file without a word.
    """
    layout = layout or CBL_LAYOUT
    columns = tuple(normalise_header(header) for header in headers)
    while columns and not columns[-1]:
        columns = columns[:-1]
    english, dutch = [], []
    unknown = [
        column
        for column in columns
        if column not in layout.columns and not layout.is_extra(column)
    ]
    no_separator = len(columns) == 1 and bool(unknown)
    if no_separator:
        # Another separator ('|', a space): the whole header is one name, and listing it as
        # an unknown column with every required one missing did not say why.
        english.append(
            "it holds no separator between the column names: separate them with ';', ',' "
            "or a tab"
        )
        dutch.append(
            "er staat geen scheidingsteken tussen de kolomnamen: scheid ze met ';', ',' of "
            "een tab"
        )
        unknown = []
    if unknown:
        shown = ", ".join(repr(column) if column else "(empty header)" for column in unknown)
        english.append(f"unknown column(s) {shown}")
        shown = ", ".join(repr(column) if column else "(lege kop)" for column in unknown)
        dutch.append(f"onbekende kolom(men) {shown}")
    repeated = ", ".join(sorted({column for column in columns if columns.count(column) > 1}))
    if repeated:
        english.append(f"column(s) given twice: {repeated}")
        dutch.append(f"kolom(men) twee keer gegeven: {repeated}")
    missing = ", ".join(
        c for c in layout.columns if c in layout.required and c not in columns
    )
    if missing and not no_separator:
        english.append(f"required column(s) missing: {missing}")
        dutch.append(f"verplichte kolom(men) ontbreken: {missing}")
    if english:
        raise CblFileError(
            f"the first row does not follow the layout of {layout.document}: "
            + "; ".join(english),
            f"de eerste rij volgt de indeling van {layout.document} niet: " + "; ".join(dutch),
        )
    return columns


def _is_signalement(column: str) -> bool:
    match = SIGNALEMENT.match(column)
    return (
        match is not None
        and int(match["number"]) <= MAX_OFFENDERS
        and match["part"] in SIGNALEMENT_PARTS
    )


CBL_LAYOUT = Layout(COLUMNS, REQUIRED, "docs/cbl-import.md", _is_signalement)


def _csv_records(data: bytes) -> list[list[str]]:
    text = _utf16_text(data) if data.startswith(_UTF16_BOMS) else csv_text(data)
    delimiter = delimiter_of(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as error:
        # Named by the row a spreadsheet shows and the line an editor shows: an unclosed
        # double quote runs on to the end of the file, and the message alone says only that.
        row, line = len(records) + 1, reader.line_num
        raise CblFileError(
            f"not a readable CSV file: row {row} (line {line} of the file): {error}; is a "
            "double quote in it not closed, or a cell longer than a report can be?",
            f"geen leesbaar CSV-bestand: rij {row} (regel {line} van het bestand): {error}; "
            "staat er een dubbel aanhalingsteken in dat niet gesloten wordt, of een cel langer "
            "dan een melding kan zijn?",
        ) from error
    return records


def _utf16_text(data: bytes) -> str:
    """The text of a UTF-16 export; read as Windows-1252 its headers were letters between NULs,
    and the file was refused for unknown columns 'ÿþm\\x00e\\x00l...'."""
    try:
        return data.decode("utf-16")
    except UnicodeDecodeError as error:
        raise CblFileError(
            f"not readable as UTF-16 text (its byte order mark says so): {error}; save the "
            "export as CSV UTF-8",
            f"niet leesbaar als UTF-16-tekst (zoals de byte order mark zegt): {error}; sla de "
            "export op als CSV UTF-8",
        ) from error


def _xlsx_records(path: Path, data: bytes) -> list[list[str]]:
    # Imported here: only XLSX imports need openpyxl.
    from openpyxl import load_workbook
    from openpyxl.styles.numbers import is_datetime

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a zip that is no workbook
        raise CblFileError(
            f"{path}: not a readable XLSX workbook: {error}",
            f"{path}: geen leesbaar XLSX-werkboek: {error}",
        ) from error
    try:
        sheet = workbook.worksheets[0]
        # The used range the sheet's XML declares is not taken: openpyxl padded every row to
        # it, so one stray cell at row 200,000, column 5,000 of a 5 KB file took 3 GB and
        # ended in a MemoryError (at XFD1048576: 17 billion cells). Without it each row is as
        # wide as its own last cell and a missing row is empty; the rest is bounded below.
        sheet.reset_dimensions()
        records: list[list[str]] = []
        cells = 0
        for row in sheet.iter_rows():
            cells += len(row) + 1
            if cells > MOST_XLSX_CELLS:
                raise CblFileError(
                    f"{path}: more than {MOST_XLSX_CELLS:,} cells up to row {len(records) + 1} "
                    "(each row counted to its last cell): is there a cell far right or below?",
                    f"{path}: meer dan {MOST_XLSX_CELLS:,} cellen tot rij {len(records) + 1} "
                    "(elke rij tot haar laatste cel): staat er een cel ver rechts of onderaan?"
                    .replace(",", "."),
                )
            records.append(
                [
                    _cell_text(
                        cell.value,
                        date_only=isinstance(cell.value, datetime)
                        and is_datetime(cell.number_format or "General") == "date",
                    )
                    for cell in row
                ]
            )
        return records
    finally:
        workbook.close()


def _cell_text(value: object, *, date_only: bool = False) -> str:
    """A cell as text the way a CSV export of it would read, so both formats give one event."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, float):
        # 12.0 is how Excel keeps the whole number 12 (a melding number, a count).
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if date_only and value.time() == time():
            # A date cell holds no time: it reads as midnight, where a CSV of it says the date
            # alone and is refused for it (a robbery at 00:00 every time). Taken as a date.
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def batches(rows: Sequence[SourceRow], size: int) -> Iterable[Sequence[SourceRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
