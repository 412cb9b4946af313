"""Solved cases for the series fit: a CSV of robberies and the police case each was solved in.

A solved case is the ground truth the linkage literature fits on (crimelinkage: pairs of one
offender's crimes, and pairs of different offenders'). Here it is a file the analysts keep:
one row per solved robbery, named by its event id or its CBL melding number, and the case (a
police case number, a suspect group: any label that is the same for one crew's robberies).
Every pair of listed robberies at most max_gap_days apart is an example, linked when both are
one case's. `heterdaad model fit --solved-cases` reads the reports themselves from PostgreSQL
(assembly/model_cli.py), so the file holds no personal data.
"""

from __future__ import annotations

import csv
import itertools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from heterdaad.spreadsheet import delimiter_of
from schemas.events import IncidentReport
from streams.series_fit import example_of
from streams.series_scoring import score_pair

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from heterdaad.thresholds.series import SeriesThresholds
    from streams.series_fit import PairExample

logger = logging.getLogger(__name__)

CASE_CHARACTERS = 100


@dataclass(frozen=True)
class Problem:
    """A row that cannot be used: its line in the file, the column and why (never its text)."""

    line: int
    column: str
    reason: str


@dataclass(frozen=True)
class ListedRobbery:
    """One row of the file: a robbery, by its event id or by its CBL melding, and its case."""

    line: int
    case: str
    event_id: uuid.UUID | None = None
    melding: str | None = None  # the melding number in the CBL tool
    organisation: str | None = None  # whose melding, where numbers could repeat


@dataclass(frozen=True)
class SolvedRobbery:
    """A listed robbery found: its event id and the case it was solved in."""

    line: int
    event_id: uuid.UUID
    case: str


@dataclass(frozen=True)
class Receipt:
    """An imported CBL melding (table import_receipt): which event it became."""

    organisation: str
    melding: str
    event_id: uuid.UUID


@dataclass(frozen=True)
class StoredEvent:
    """What the store holds of a listed event: its kind, and its report unless purged."""

    event_type: str
    payload: str | None
    purged_at: datetime | None


def parse_cases(text: str) -> tuple[list[ListedRobbery], list[Problem]]:
    """The rows of a CSV file of solved robberies, and the rows refused.

    The header names `case` and `event_id`, or `melding` (the CBL tool's number, with
    `organisation` where two organisations' numbers could be the same), or all three; in any
    order. Other columns (the analyst's own notes) are left unread.
    """
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], [Problem(1, "(header)", "the file is empty; the first row names the columns")]
    reader = csv.DictReader(lines, delimiter=delimiter_of(lines[0]))
    header = [name.strip().casefold() for name in reader.fieldnames or ()]
    missing = [] if "case" in header else [Problem(1, "case", "column missing from the header")]
    if "event_id" not in header and "melding" not in header:
        missing.append(Problem(1, "event_id", "column missing from the header (or give melding)"))
    if missing:
        return [], missing
    reader.fieldnames = header
    listed: list[ListedRobbery] = []
    problems: list[Problem] = []
    try:
        for record in reader:
            cells = {name: (record.get(name) or "").strip()
                     for name in ("event_id", "melding", "organisation", "case")}  # fmt: skip
            if not any(cells.values()):
                continue  # a blank row a spreadsheet left at the end
            row, problem = _listed(reader.line_num, cells)
            if problem is not None:
                problems.append(problem)
            elif row is not None:
                listed.append(row)
    except csv.Error as error:
        problems.append(Problem(reader.line_num, "(row)", f"not readable as CSV: {error}"))
    return listed, problems


def _listed(line: int, cells: dict[str, str]) -> tuple[ListedRobbery | None, Problem | None]:
    case = cells["case"]
    if not case:
        return None, Problem(line, "case", "empty: name the case it was solved in")
    if len(case) > CASE_CHARACTERS:
        return None, Problem(line, "case", f"longer than {CASE_CHARACTERS} characters")
    if cells["event_id"]:
        try:
            return ListedRobbery(line, case, event_id=uuid.UUID(cells["event_id"])), None
        except ValueError:
            return None, Problem(line, "event_id", "not an event id (a UUID)")
    if cells["melding"]:
        return ListedRobbery(line, case, melding=cells["melding"],
                             organisation=cells["organisation"] or None), None  # fmt: skip
    return None, Problem(line, "event_id", "empty: give the event id or the CBL melding number")


def resolve(
    listed: Sequence[ListedRobbery], receipts: Sequence[Receipt]
) -> tuple[list[SolvedRobbery], list[Problem]]:
    """Each listed robbery's event id (a melding's through its import), once each.

    A robbery listed twice in one case counts once; in two cases, it is a contradiction the
    analyst must settle.
    """
    by_melding: dict[str, list[Receipt]] = {}
    for receipt in receipts:
        by_melding.setdefault(receipt.melding, []).append(receipt)
    solved: dict[uuid.UUID, SolvedRobbery] = {}
    problems: list[Problem] = []
    for row in listed:
        event_id, problem = row.event_id, None
        if event_id is None:
            event_id, problem = _imported(row, by_melding.get(row.melding or "", []))
        if problem is not None:
            problems.append(problem)
            continue
        assert event_id is not None
        earlier = solved.get(event_id)
        if earlier is None:
            solved[event_id] = SolvedRobbery(row.line, event_id, row.case)
        elif earlier.case != row.case:
            reason = f"the robbery is in another case on line {earlier.line}"
            problems.append(Problem(row.line, "case", reason))
    return list(solved.values()), problems


def _imported(
    row: ListedRobbery, receipts: Sequence[Receipt]
) -> tuple[uuid.UUID | None, Problem | None]:
    if row.organisation is not None:
        receipts = [r for r in receipts if r.organisation == row.organisation]
    if len(receipts) == 1:
        return receipts[0].event_id, None
    if not receipts:
        where = " for this organisation" if row.organisation else ""
        return None, Problem(row.line, "melding", f"no CBL melding with this number was "
                                                  f"imported{where}")  # fmt: skip
    return None, Problem(row.line, "organisation", "the melding number was imported for "
                                                   f"{len(receipts)} organisations: name "
                                                   "the organisation")  # fmt: skip


def stored_reports(
    solved: Sequence[SolvedRobbery], stored: Mapping[uuid.UUID, StoredEvent]
) -> tuple[list[tuple[IncidentReport, str]], list[Problem]]:
    """The listed robberies' reports as the store holds them, each with its case, and the
    rows whose report is not there: never stored, no robbery, or deleted by retention."""
    found: list[tuple[IncidentReport, str]] = []
    problems: list[Problem] = []
    for row in solved:
        event = stored.get(row.event_id)
        if event is None:
            problems.append(Problem(row.line, "event_id", "no event with this id is stored"))
        elif event.event_type != "incident_report":
            reason = f"the event is {event.event_type}, not a robbery report"
            problems.append(Problem(row.line, "event_id", reason))
        elif event.payload is None:
            when = f" on {event.purged_at:%Y-%m-%d}" if event.purged_at else ""
            problems.append(Problem(row.line, "event_id", f"the report was deleted by retention"
                                                          f"{when}: remove the row"))  # fmt: skip
        else:
            try:
                found.append((IncidentReport.model_validate_json(event.payload), row.case))
            except ValidationError as error:
                problems.append(Problem(row.line, "event_id", "the stored report no longer reads "
                                        f"({error.error_count()} problem(s))"))  # fmt: skip
    return found, problems


def case_examples(
    robberies: Sequence[tuple[IncidentReport, str | None]],
    t: SeriesThresholds,
    *,
    group_prefix: str,
    same_robbery: Callable[[IncidentReport, IncidentReport], bool],
) -> list[PairExample]:
    """Every pair of robberies at most max_gap_days apart, linked when both name one case.

    A robbery without a case (None) is no crew's: unlinked to every other. Two reports of one
    robbery (`same_robbery`: the shop's and the trade association's) are the stage's duplicate,
    not a pair. A linked pair is grouped by its case, so a crew's pairs stay in one fold.
    """
    ordered = sorted(robberies, key=lambda pair: pair[0].occurred_at)
    window = timedelta(days=t.max_gap_days)
    found = []
    for (a, case_a), (b, case_b) in itertools.combinations(ordered, 2):
        if b.occurred_at - a.occurred_at > window or same_robbery(a, b):
            continue
        linked = case_a is not None and case_a == case_b
        group = f"{group_prefix}:{case_a if linked else a.event_id}"
        found.append(example_of(score_pair(a, b, t), linked, group))
    return found

