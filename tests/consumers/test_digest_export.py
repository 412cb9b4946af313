"""The digest's CSV files: cells a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

import pytest

from consumers.digest.export import write_csv
from consumers.digest.tables import Column, Table
from heterdaad.spreadsheet import csv_cell, plain_cell

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","klik")', '\'=HYPERLINK("http://x","klik")'),  # a formula
        ("+31 20 123", "'+31 20 123"),  # + starts a formula too
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),  # a tab or carriage return before it (OWASP)
        ("\r=1", "'\r=1"),
        (" =1+1", "' =1+1"),  # blanks before the sign: still a formula to Excel
        ("\u00a0@SUM(A1)", "'\u00a0@SUM(A1)"),
        ("\uff1dHYPERLINK(\"http://x\")", "'\uff1dHYPERLINK(\"http://x\")"),  # full-width "="
        ("\uff0b31", "'\uff0b31"),
        ("  Albert Heijn", "  Albert Heijn"),  # blanks before text: text
        ("Albert Heijn", "Albert Heijn"),  # ordinary text is left alone
        ("", ""),
        (-3, -3),  # numbers are numbers, negative or not
        (2.5, 2.5),
    ],
)
def test_a_cell_excel_would_run_is_quoted(value: object, written: object) -> None:
    assert csv_cell(value) == written
    # And it reads back as it was.
    if isinstance(value, str):
        assert plain_cell(str(written)) == value


def test_the_digest_csv_quotes_formulas(tmp_path: Path) -> None:
    """Issue 11 #13: a chain or street name from a report is a cell of the digest CSV."""
    table = Table(
        name="incidents",
        title="Overvallen",
        columns=(Column("chain", "Keten"), Column("count", "Aantal", "count")),
        rows=(("=cmd|' /C calc'!A0", 2), ("Super A", -1), (None, 0)),
    )
    path = tmp_path / "incidents.csv"
    write_csv(table, path)
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows == [
        ["chain", "count"],
        ["'=cmd|' /C calc'!A0", "2"],
        ["Super A", "-1"],
        ["", "0"],
    ]
