"""Bulk import of the supermarkets' incident reports from the CBL tool (CSV or XLSX export)."""

from producers.cbl_import.importer import ImportRefused, import_cbl
from producers.cbl_import.report import (
    ImportInterrupted,
    ImportProgress,
    ImportReport,
    ProgressCallback,
    Rejection,
    RowWarning,
)
from producers.cbl_import.rows import Problem, event_id_for
from producers.cbl_import.sheet import CblFileError, CblImportError

__all__ = [
    "CblFileError",
    "CblImportError",
    "ImportInterrupted",
    "ImportProgress",
    "ImportRefused",
    "ImportReport",
    "Problem",
    "ProgressCallback",
    "Rejection",
    "RowWarning",
    "event_id_for",
    "import_cbl",
]
