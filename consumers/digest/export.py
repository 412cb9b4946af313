"""Files next to the HTML: one CSV per table, and a PDF when weasyprint is installed."""

from __future__ import annotations

import csv
import importlib.util
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from consumers.digest.text import csv_stamp
from heterdaad.spreadsheet import csv_cell

if TYPE_CHECKING:
    from pathlib import Path

    from consumers.digest.tables import Cell, Table

logger = logging.getLogger(__name__)


def write_csv(table: Table, path: Path) -> None:
    """RFC 4180 CSV in UTF-8 with stable English column keys; empty where a value is unknown."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.key for column in table.columns])
        # Labels and names come from reports: a cell that Excel would run is quoted.
        for row in table.rows:
            writer.writerow([csv_value(cell) for cell in row])


def csv_value(cell: Cell) -> object:
    """A cell as the CSV writes it: empty when unknown, a moment as 'YYYY-MM-DD HH:MM'."""
    if cell is None:
        return ""
    return csv_cell(csv_stamp(cell) if isinstance(cell, datetime) else cell)


def pdf_available() -> bool:
    return importlib.util.find_spec("weasyprint") is not None


def write_pdf(html: str, path: Path) -> bool:
    """The page as an A4 PDF; False (and a warning) when weasyprint is not installed."""
    if not pdf_available():
        logger.warning("digest.pdf_skipped reason=weasyprint_not_installed path=%s", path)
        return False
    # Imported here: weasyprint is an optional extra with native dependencies (Pango).
    import weasyprint

    weasyprint.HTML(string=html, base_url=str(path.parent)).write_pdf(path)
    return True
