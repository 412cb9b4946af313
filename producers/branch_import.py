"""Registering a chain's branches from one CSV or XLSX file, as `heterdaad org branch` does each.

The file is read as the CBL import reads its export (producers/cbl_import/sheet.py), under the
same Dutch column names for a branch (filiaalnummer, soort_vestiging, ...). A row is checked
as `org branch` checks its arguments and as the edges check a place (the point must lie in the
Netherlands); refused rows are reported with every reason, in Dutch unless English is asked.

A branch already registered with the same fields is left as it is, so the same file imported
twice changes nothing. A row that differs from the registered branch is refused, naming each
field that differs: the registry is what alerts and reports are placed by, and moving a branch
is not something a bulk file should do without a word (docs/cbl-import.md, "Branches in bulk").
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from heterdaad.audit import AuditRow, write_audit_rows
from heterdaad.db import transaction
from producers.api import admin
from producers.cbl_import import layout as col
from producers.cbl_import.report import Rejection, default_rejections_path, write_rejections
from producers.cbl_import.rows import WHOLE_ROW, CellError, Problem, column_for, decimal_text
from producers.cbl_import.sheet import Layout, SourceRow, batches, read_sheet
from producers.edge_policy import admit, refusals_of_parts
from schemas.common import Branch

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import asyncpg

    from heterdaad.language import Language

logger = logging.getLogger(__name__)

BRANCH_COLUMNS: tuple[str, ...] = (
    col.FILIAALNUMMER,
    col.SOORT_VESTIGING,
    col.BREEDTEGRAAD,
    col.LENGTEGRAAD,
    col.KETEN,
    col.STRAAT,
    col.POSTCODE,
    col.PLAATS,
)
BRANCH_LAYOUT = Layout(
    BRANCH_COLUMNS,
    frozenset({col.FILIAALNUMMER, col.SOORT_VESTIGING, col.BREEDTEGRAAD, col.LENGTEGRAAD}),
    "docs/cbl-import.md (Branches in bulk)",
)
REJECTIONS_HEADER = ("rij", "filiaalnummer", "kolom", "reden")
BATCH_ROWS = 200
AUDIT_ACTION = "branches_imported"

# The registry's columns and the file's, for naming a difference.
_COMPARED: tuple[tuple[str, str], ...] = (
    ("branch_type", col.SOORT_VESTIGING),
    ("lat", col.BREEDTEGRAAD),
    ("lon", col.LENGTEGRAAD),
    ("chain", col.KETEN),
    ("street", col.STRAAT),
    ("postcode", col.POSTCODE),
    ("city", col.PLAATS),
)


@dataclass(frozen=True)
class BranchImportProgress:
    rows_done: int
    rows_total: int
    created: int
    unchanged: int
    rejected: int


@dataclass(frozen=True)
class BranchImportReport:
    path: Path
    file_sha256: str
    rows: int
    created: int
    unchanged: int
    rejections: tuple[Rejection, ...]
    rejection_report: Path

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def summary(self, language: Language = "nl") -> str:
        if language == "nl":
            nothing = " (er is niets veranderd)" if self.created == 0 else ""
            return (
                f"{self.path.name}: {self.rows} rij(en): {self.created} filiaal/filialen "
                f"geregistreerd, {self.unchanged} al zo geregistreerd, {self.rejected} "
                f"afgewezen{nothing} (redenen in {self.rejection_report})"
            )
        nothing = " (nothing changed)" if self.created == 0 else ""
        return (
            f"{self.path.name}: {self.rows} row(s): {self.created} branch(es) registered, "
            f"{self.unchanged} already registered so, {self.rejected} rejected{nothing} "
            f"(reasons in {self.rejection_report})"
        )

    def rejection_lines(self, language: Language) -> list[str]:
        """One line per reason, rows in file order."""
        word = "rij" if language == "nl" else "row"
        return [
            f"{word} {rejection.row} ({rejection.melding or '-'}): {problem.column}: "
            f"{problem.said_in(language)}"
            for rejection in self.rejections
            for problem in rejection.problems
        ]


def branch_of_row(row: SourceRow) -> tuple[Branch | None, tuple[Problem, ...]]:
    """The row as a Branch that passes the edges' place check, or every problem by column."""
    problems: list[Problem] = []
    body: dict[str, Any] = {"location": {}}

    def put(target: dict[str, Any], key: str, column: str, read: Callable[[str], Any]) -> None:
        if text := row.get(column):
            try:
                target[key] = read(text)
            except ValueError as error:
                problems.append(Problem(column, str(error), getattr(error, "dutch", str(error))))

    put(body, "branch_id", col.FILIAALNUMMER, str)
    put(body, "chain", col.KETEN, str)
    put(body, "branch_type", col.SOORT_VESTIGING, _branch_type)
    put(body["location"], "lat", col.BREEDTEGRAAD, decimal_text)
    put(body["location"], "lon", col.LENGTEGRAAD, decimal_text)
    if any(row.get(column) for column in (col.STRAAT, col.POSTCODE, col.PLAATS)):
        address: dict[str, Any] = {}
        put(address, "street", col.STRAAT, str)
        put(address, "postcode", col.POSTCODE, str.upper)
        put(address, "city", col.PLAATS, str)
        body["address"] = address
    if row.extra_cells:
        problems.append(Problem(
            WHOLE_ROW,
            f"{row.extra_cells} cell(s) beyond the last column: put a cell holding the "
            "separator between double quotes",
            f"{row.extra_cells} cel(len) voorbij de laatste kolom: zet een cel met het "
            "scheidingsteken tussen dubbele aanhalingstekens",
        ))  # fmt: skip
    try:
        branch = Branch.model_validate(body)
    except ValidationError as error:
        # What the place check refuses too, in the fields valid on their own: every reason.
        reasons = _reasons(error) + refusals_of_parts(Branch, body)
    else:
        try:
            branch = admit(branch)
            reasons = []
        except ValidationError as error:
            reasons = _reasons(error)
    if reasons:
        failed = {problem.column for problem in problems}
        for loc, reason in reasons:
            column = column_for(("branch", *loc), ())
            if column not in failed:  # a cell not read is not 'required' besides
                problems.append(Problem.translated(column, reason))
    if problems:
        return None, tuple(sorted(problems, key=_in_column_order))
    return branch, ()


def _in_column_order(problem: Problem) -> int:
    first = problem.column.split("+")[0]
    return BRANCH_COLUMNS.index(first) if first in BRANCH_COLUMNS else -1


def _reasons(error: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    return [(tuple(item["loc"]), str(item["msg"])) for item in error.errors(include_url=False)]


def _branch_type(text: str) -> str:
    found = col.BRANCH_TYPES.lookup(text)
    if found is None:
        choices = col.BRANCH_TYPES.choices()
        raise CellError(f"{text!r} is not one of {choices}", f"{text!r} is geen van {choices}")
    return found.value


def differences(stored: asyncpg.Record, branch: Branch) -> list[tuple[str, str, str]]:
    """(column, registered, in the file) of each field in which the row differs."""
    address = branch.address
    given = {
        "branch_type": branch.branch_type.value,
        "lat": branch.location.lat,
        "lon": branch.location.lon,
        "chain": branch.chain,
        "street": address.street if address else None,
        "postcode": address.postcode if address else None,
        "city": address.city if address else None,
    }
    return [
        (column, _shown(stored[field]), _shown(given[field]))
        for field, column in _COMPARED
        if stored[field] != given[field]
    ]


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


async def import_branches(
    db: asyncpg.Connection,
    path: Path,
    organisation_id: str,
    *,
    language: Language = "nl",
    rejections_path: Path | None = None,
    progress: Callable[[BranchImportProgress], None] | None = None,
    actor: str = "cli",
    batch_rows: int = BATCH_ROWS,
) -> BranchImportReport:
    """Register the file's branches for the organisation, one transaction per batch of rows.

    Each batch that registers a branch writes one `branches_imported` audit row in its own
    transaction; the rows of one import share its `import_id` and the file's sha256.
    Raises CblFileError (a file that cannot be read) or admin.AdminError (the organisation).
    """
    sheet = read_sheet(path, BRANCH_LAYOUT)
    await admin.require_branch_owner(db, organisation_id)
    import_id = uuid.uuid4()
    rejections: list[Rejection] = []
    first_row: dict[str, int] = {}
    created = unchanged = done = 0
    for batch in batches(sheet.rows, batch_rows):
        candidates: list[tuple[SourceRow, Branch]] = []
        for row in batch:
            branch, problems = branch_of_row(row)
            branch_id = row.get(col.FILIAALNUMMER)
            if branch is not None and branch_id in first_row:
                problems = (Problem(
                    col.FILIAALNUMMER,
                    f"branch {branch_id} is given in row {first_row[branch_id]} already",
                    f"filiaal {branch_id} staat al in rij {first_row[branch_id]}",
                ),)  # fmt: skip
            if problems:
                rejections.append(Rejection(row.number, branch_id, problems))
            elif branch is not None:
                first_row[branch_id] = row.number
                candidates.append((row, branch))
        stored_ids: list[str] = []
        async with transaction(db) as connection:
            stored = {
                record["branch_id"]: record
                for record in await connection.fetch(
                    "SELECT branch_id, organisation_id, branch_type, lat, lon, chain, street, "
                    "postcode, city FROM branch WHERE branch_id = ANY($1::text[]) FOR UPDATE",
                    [branch.branch_id for _, branch in candidates],
                )
            }
            for row, branch in candidates:
                outcome = await _store(connection, organisation_id, branch, stored)
                if outcome == "created":
                    stored_ids.append(branch.branch_id)
                elif outcome == "unchanged":
                    unchanged += 1
                else:
                    rejections.append(Rejection(row.number, branch.branch_id, (outcome,)))
            if stored_ids:
                details = {"import_id": str(import_id), "file_sha256": sheet.file_sha256,
                           "file": path.name, "branch_ids": stored_ids}  # fmt: skip
                await write_audit_rows(connection, [AuditRow(
                    datetime.now(UTC), actor, AUDIT_ACTION, f"organisation:{organisation_id}",
                    details)])  # fmt: skip
        created += len(stored_ids)
        done += len(batch)
        if progress is not None:
            progress(BranchImportProgress(done, len(sheet.rows), created, unchanged,
                                          len(rejections)))  # fmt: skip
    rejections.sort(key=lambda rejection: rejection.row)
    target = rejections_path or default_rejections_path(path)
    write_rejections(target, rejections, language, REJECTIONS_HEADER)
    logger.info("branches imported", extra={"organisation_id": organisation_id,
                "import_id": str(import_id), "branches_created": created, "unchanged": unchanged,
                "rejected": len(rejections)})  # fmt: skip
    return BranchImportReport(path, sheet.file_sha256, len(sheet.rows), created, unchanged,
                              tuple(rejections), target)  # fmt: skip


async def _store(
    connection: asyncpg.Connection,
    organisation_id: str,
    branch: Branch,
    stored: dict[str, asyncpg.Record],
) -> Literal["created", "unchanged"] | Problem:
    """Whether the branch was registered now or was so already, else why the row is
    refused."""
    existing = stored.get(branch.branch_id)
    if existing is None:
        try:
            async with transaction(connection):  # a savepoint: a lost race refuses one row
                await admin.create_branch(connection, organisation_id, branch)
        except admin.AdminError as error:
            return Problem.translated(col.FILIAALNUMMER, str(error))
        return "created"
    if existing["organisation_id"] != organisation_id:
        return Problem(
            col.FILIAALNUMMER,
            f"branch {branch.branch_id} is registered for another organisation",
            f"filiaal {branch.branch_id} is geregistreerd voor een andere organisatie",
        )
    changed = differences(existing, branch)
    if not changed:
        return "unchanged"
    return Problem(
        "+".join(column for column, _, _ in changed),
        f"branch {branch.branch_id} is registered with other values, which an import does "
        "not change: " + "; ".join(f"{c} {old} (file: {new})" for c, old, new in changed),
        f"filiaal {branch.branch_id} is geregistreerd met andere waarden, die een import niet "
        "wijzigt: " + "; ".join(f"{c} {old} (bestand: {new})" for c, old, new in changed),
    )

