"""The CBL import: parsing rows (pure) and importing CSV and XLSX through real Kafka/PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import re
import signal
import socket
import sys
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg.transaction
import pytest
from openpyxl import Workbook, load_workbook

from heterdaad.logs import JsonFormatter
from producers.api import admin, registry
from producers.api.edge import PlateKey
from producers.api.receipts import (
    NewReceipt,
    body_digest,
    claim_receipts,
    release_receipts,
    store_receipts,
)
from producers.cbl_import import (
    CblFileError,
    CblImportError,
    ImportInterrupted,
    ImportProgress,
    ImportRefused,
    event_id_for,
    import_cbl,
)
from producers.cbl_import import importer as importer_module
from producers.cbl_import import rows as rows_module
from producers.cbl_import import sheet as sheet_module
from producers.cbl_import.layout import COLUMNS
from producers.cbl_import.rows import column_for, convert_row, parse_moment, parse_value_band
from producers.cbl_import.sheet import SourceRow, check_columns, read_sheet
from schemas.common import Branch, BranchType, Location
from schemas.events import IncidentReport, ValueBand
from schemas.pseudonym import pseudonymise_plate
from schemas.topics import INCIDENT_REPORTS
from schemas.wire import decode_as
from tests.kafka_helpers import read_topic
from tests.producers import bodies
from tests.producers.intake_support import published_count, running_api

if TYPE_CHECKING:
    from heterdaad.settings import Settings

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "cbl-example.csv"
# Every form in which the example's plates could leak: as written, normalised, lower case.
RAW_PLATES = ("12-ABC-3", "12ABC3", "12-abc-3", "12abc3", "99-XYZ-9", "99XYZ9", "99xyz9")
# The key event ids are derived under in the pure tests (the server's plate key in the others).
ID_KEY = b"i" * 32
# (owner, branch id, lat, lon) of the branches in the example export.
EXAMPLE_BRANCHES = (
    ("buurtmarkt", "BM-0412", 52.3731, 4.8922),
    ("versplein", "VP-0033", 51.9225, 4.4792),
    ("buurtmarkt", "BM-0377", 52.0907, 5.1214),
    ("versplein", "VP-0101", 52.0705, 4.3007),
)


def example_rows() -> list[dict[str, str]]:
    with EXAMPLE.open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter=";"))


def write_csv(path: Path, rows: list[dict[str, str]], *, delimiter: str = ";") -> Path:
    columns = list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, columns, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict[str, str]]) -> Path:
    """The example as Excel keeps it: numbers as numbers, the time as a date-time cell."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    columns = list(rows[0])
    sheet.append(columns)
    for row in rows:
        cells: list[Any] = []
        for column in columns:
            text = row[column]
            if column in ("breedtegraad", "lengtegraad") and text:
                cells.append(float(text.replace(",", ".")))
            elif column == "aantal_daders" and text:
                cells.append(int(text))
            elif column == "datum_tijd":
                cells.append(datetime.strptime(text, "%d-%m-%Y %H:%M"))
            else:
                cells.append(text or None)
        sheet.append(cells)
    workbook.save(path)
    return path


def source_row(**cells: str) -> SourceRow:
    """The example's first row with some cells replaced."""
    return SourceRow(2, {**example_rows()[0], **cells})


async def register_cbl(db: asyncpg.Connection) -> None:
    """The CBL with two member chains owning the example's branches, and one outsider."""
    await admin.create_organisation(
        db, "cbl", "Centraal Bureau Levensmiddelenhandel", "trade_association"
    )
    for chain in ("buurtmarkt", "versplein", "andere-keten"):
        await admin.create_organisation(db, chain, chain.capitalize(), "retailer")
    for chain in ("buurtmarkt", "versplein"):
        await admin.add_association_member(db, "cbl", chain)
    branches = (*EXAMPLE_BRANCHES, ("andere-keten", "AK-0001", 52.3731, 4.8922))
    for owner, branch_id, lat, lon in branches:
        await admin.create_branch(
            db,
            owner,
            Branch(
                branch_id=branch_id,
                branch_type=BranchType.SUPERMARKET,
                location=Location(lat=lat, lon=lon),
            ),
        )


def cli_environment(settings: Settings) -> dict[str, str]:
    """The test's services and key for `heterdaad import cbl`, in Dutch by default."""
    return {
        "HETERDAAD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HETERDAAD_DATABASE_URL": settings.database_url,
        "HETERDAAD_DATABASE_SCHEMA": settings.database_schema,
        "HETERDAAD_TOPIC_PREFIX": settings.topic_prefix,
        "HETERDAAD_PLATE_KEY": settings.require_plate_key().decode(),
        "HETERDAAD_LANGUAGE": "nl",
    }


def rejection_lines(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as stream:
        return list(csv.DictReader(stream, delimiter=";"))


# --- pure: reading cells --------------------------------------------------------------------

CET, CEST = timedelta(hours=1), timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the CBL tool's Dutch notation, winter: CET
        ("14-03-2025 21:05", datetime(2025, 3, 14, 20, 5, tzinfo=UTC)),
        # slashes, single digits and a dot between hours and minutes
        ("1/7/2025 9.05", datetime(2025, 7, 1, 7, 5, tzinfo=UTC)),
        # ISO without an offset is Dutch time as well, summer: CEST
        ("2025-07-01 12:00", datetime(2025, 7, 1, 10, 0, tzinfo=UTC)),
        # how an Excel date-time cell reads, with seconds
        ("2025-03-14 21:05:30", datetime(2025, 3, 14, 20, 5, 30, tzinfo=UTC)),
        # an explicit offset is taken as given
        ("2025-03-14T21:05:00Z", datetime(2025, 3, 14, 21, 5, tzinfo=UTC)),
    ],
)
def test_moments_are_dutch_time_unless_they_say_otherwise(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the last minute of winter time before the clocks go forward
        ("29-03-2026 01:59", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
        # the first minute of summer time: 03:00 follows 01:59
        ("29-03-2026 03:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # the last minute of summer time before the hour that comes twice
        ("25-10-2026 01:59", datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),
        # 02:00 to 02:59 come twice: the first time, in summer time (CEST)
        ("25-10-2026 02:00", datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
        ("25-10-2026 02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25 02:59:59", datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC)),
        # then winter time again
        ("25-10-2026 03:00", datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),
        # the second 02:30 is written with its offset
        ("2026-10-25T02:30:00+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ],
)
def test_moments_around_the_clock_changes(text: str, expected: datetime) -> None:
    # In UTC: an ambiguous local time never equals a time of another zone (PEP 495).
    assert parse_moment(text).astimezone(UTC) == expected


@pytest.mark.parametrize(
    ("text", "noted"),
    [
        ("25-10-2026 01:59", False),
        ("25-10-2026 02:00", True),
        ("2026-10-25 02:59:59", True),
        ("25-10-2026 03:00", False),
        # with its offset it says which of the two it is
        ("2026-10-25T02:30:00+02:00", False),
    ],
)
def test_an_hour_that_comes_twice_is_noted(text: str, noted: bool) -> None:
    converted = convert_row(source_row(datum_tijd=text), "cbl", ID_KEY)
    assert converted.report is not None and converted.problems == ()
    assert bool(converted.notes) is noted
    if noted:
        [(english, dutch)] = converted.notes
        clock = text[11:16]
        assert english == (
            f"datum_tijd {clock} on 25-10-2026 comes twice in Dutch time (that night the clocks "
            "went back from 03:00 to 02:00): taken as the first, in summer time; if it was the "
            f"second, write it with its offset, 2026-10-25T{clock}+01:00"
        )
        assert dutch.startswith(f"datum_tijd {clock} op 25-10-2026 komt twee keer voor in ")


@pytest.mark.parametrize("text", ["29-03-2026 02:00", "29-03-2026 02:30", "2026-03-29 02:59:59"])
def test_a_time_the_clocks_skip_is_refused_saying_why(text: str) -> None:
    with pytest.raises(rows_module.CellError) as refused:
        parse_moment(text)
    clock = text[11:16]
    assert str(refused.value) == (
        f"{clock} on 29-03-2026 does not exist in Dutch time: that night the clocks went "
        "forward from 02:00 to 03:00 (summer time began); check the time of the incident"
    )
    assert refused.value.dutch == (
        f"{clock} op 29-03-2026 bestaat niet in Nederlandse tijd: die nacht ging de klok van "
        "02:00 naar 03:00 (begin zomertijd); controleer het tijdstip van het incident"
    )
    # Named by its column in the rejection report.
    [problem] = convert_row(source_row(datum_tijd=text), "cbl", ID_KEY).problems
    assert (problem.column, problem.said_in("nl")) == ("datum_tijd", refused.value.dutch)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # a date alone says nothing about the time of the robbery
        ("2025-03-14", "without a time"),
        # words are not times
        ("gisteravond", "not a date and time"),
        # the 31st of February does not exist
        ("31-02-2025 10:00", "not a date and time"),
    ],
)
def test_unreadable_moments_say_how_to_write_them(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_moment(text)


@pytest.mark.parametrize(
    ("text", "band"),
    [
        # a band by its Dutch name
        ("tot 1000", ValueBand.UNDER_1K),
        # a band by its contract value
        ("10k_50k", ValueBand.FROM_10K_TO_50K),
        # whole euros, Dutch thousands separator
        ("2.500", ValueBand.FROM_1K_TO_10K),
        # euros and cents with a decimal comma and the euro sign
        ("€ 999,99", ValueBand.UNDER_1K),
        # nothing taken
        ("0", ValueBand.NONE),
        # the upper band is open
        ("50000", ValueBand.OVER_50K),
    ],
)
def test_loot_value_is_a_band_or_an_amount(text: str, band: ValueBand) -> None:
    assert parse_value_band(text) == band


@pytest.mark.parametrize(
    ("location", "column"),
    [
        # a coordinate out of range names its own column
        (("branch", "location", "lat"), "breedtegraad"),
        # a point abroad is both coordinates' doing
        (("branch", "location"), "breedtegraad+lengtegraad"),
        # the plate, not its pseudonym, is what the row holds
        (("getaway", "vehicle", "plate"), "kenteken"),
        # loot_value is not mistaken for loot
        (("loot_value",), "buitwaarde"),
        # offenders are numbered as in the headers, not from zero
        (("offenders", 1, "build"), "signalement_3_postuur"),
        # a model-level problem belongs to the whole row
        ((), "(rij)"),
    ],
)
def test_contract_fields_are_named_by_their_column(
    location: tuple[int | str, ...], column: str
) -> None:
    assert column_for(location, [1, 3]) == column


def test_the_example_rows_are_all_valid() -> None:
    for number, cells in enumerate(example_rows(), start=2):
        converted = convert_row(SourceRow(number, cells), "cbl", ID_KEY)
        assert converted.problems == (), converted.problems


def test_a_row_becomes_the_report_the_layout_describes() -> None:
    converted = convert_row(source_row(), "cbl", ID_KEY)
    assert converted.report is not None
    report = converted.report
    assert report.event_id == event_id_for("cbl", "CBL-2025-000101", ID_KEY)
    assert (report.branch.branch_id, report.branch.location.lat) == ("BM-0412", 52.3731)
    assert report.occurred_at == datetime(2025, 3, 14, 20, 5, tzinfo=UTC)
    assert [weapon.value for weapon in report.weapons] == ["knife", "suggested"]
    assert report.loot_value == ValueBand.FROM_1K_TO_10K
    assert report.getaway is not None and report.getaway.vehicle is not None
    assert report.getaway.vehicle.plate is not None
    assert [offender.face_covering for offender in report.offenders] == ["balaclava", "hood"]


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).strftime("%d-%m-%Y %H:%M")


# A bad cell, the column named for it and a fragment of its reason in Dutch, the default.
BAD_CELLS = [
    # a latitude south of the Netherlands
    ({"breedtegraad": "10,0"}, "breedtegraad", "moet ten minste 50,7 zijn"),
    # a latitude that is no number
    ({"breedtegraad": "noord"}, "breedtegraad", "moet een getal zijn"),
    # Antwerp: within the box, but Belgian
    (
        {"breedtegraad": "51,2194", "lengtegraad": "4,4025"},
        "breedtegraad+lengtegraad",
        "ligt buiten Nederland",
    ),
    # a weapon outside the list is named, with the choices
    ({"wapens": "mes, pistool"}, "wapens", "op positie 2; elk een van: vuurwapen"),
    # a robbery cannot lie in the future
    ({"datum_tijd": _tomorrow()}, "datum_tijd", "in de toekomst"),
    # nor in year 1 (accepted before, it stopped the sink and notify), nor years back
    ({"datum_tijd": "01-01-0001 00:10"}, "datum_tijd", "ligt buiten 1970-01-01 tot 9999-01-01"),
    ({"datum_tijd": "01-06-2015 12:00"}, "datum_tijd", "dagen in het verleden"),
    # a date alone, and words, are not the time of a robbery
    ({"datum_tijd": "2025-03-14"}, "datum_tijd", "een datum zonder tijd"),
    # in the CBL tool's own order too, with any of its separators (was: 'geen datum en tijd')
    ({"datum_tijd": "14-03-2025"}, "datum_tijd", "een datum zonder tijd"),
    ({"datum_tijd": "4/3/2025"}, "datum_tijd", "een datum zonder tijd"),
    ({"datum_tijd": "14.03.2025"}, "datum_tijd", "een datum zonder tijd"),
    ({"datum_tijd": "gisteravond"}, "datum_tijd", "geen datum en tijd: schrijf 14-03-2025"),
    # the kind of incident is required
    ({"soort_incident": ""}, "soort_incident", "is verplicht"),
    # an unknown kind is reported once, not again as 'required'
    ({"soort_incident": "inbraak"}, "soort_incident", "onbekende waarde; een van: overval"),
    # branch numbers are identifiers
    ({"filiaalnummer": "BM 0412"}, "filiaalnummer", "zonder spaties"),
    ({"filiaalnummer": "B" * 65}, "filiaalnummer", "mag ten hoogste 64 tekens hebben"),
    # a plate of symbols only, or too short; the plate itself is not quoted back
    ({"kenteken": "!!-??-!"}, "kenteken", "2 tot 12 letters en cijfers"),
    ({"kenteken": "?"}, "kenteken", "moet ten minste 2 tekens hebben"),
    # one to twenty offenders, counted in whole numbers
    ({"aantal_daders": "0"}, "aantal_daders", "moet ten minste 1 zijn"),
    ({"aantal_daders": "21"}, "aantal_daders", "mag ten hoogste 20 zijn"),
    ({"aantal_daders": "twee"}, "aantal_daders", "moet een geheel getal zijn"),
    # a Dutch postcode has two letters
    ({"postcode": "9999"}, "postcode", "moet een postcode zijn, bijvoorbeeld 1012 JL"),
    # an address is complete or absent
    ({"plaats": ""}, "plaats", "is verplicht"),
    # descriptions are checked per offender column
    ({"signalement_2_postuur": "reusachtig"}, "signalement_2_postuur", "onbekende waarde"),
    ({"signalement_1_lengte": "reus"}, "signalement_1_lengte", "een lengte in cm (178)"),
    ({"signalement_1_kleding": "jas, " * 10 + "pet"}, "signalement_1_kleding",
     "mag ten hoogste 10 waarden hebben, niet 11"),
    ({"signalement_1_kleding": "x" * 61}, "signalement_1_kleding", "ten hoogste 60 tekens"),
    # a control character has no place in a report
    ({"toelichting": "zag\x07niets"}, "toelichting", "bevat een teken dat niet in tekst hoort"),
    # without a melding number there is no event id
    ({"meldingsnummer": ""}, "meldingsnummer", "is verplicht"),
    # melding numbers are identifiers too
    ({"meldingsnummer": "CBL 1"}, "meldingsnummer", "1 tot 64 letters, cijfers"),
    # loot value that is neither band nor amount
    ({"buitwaarde": "veel"}, "buitwaarde", "een bedrag in hele euro's"),
    # an unknown getaway is reported once, not for the vehicle as well
    ({"vluchtmiddel": "raket"}, "vluchtmiddel", "onbekende waarde"),
]  # fmt: skip


@pytest.mark.parametrize(("cells", "column", "reason"), BAD_CELLS)
def test_bad_cells_are_named_with_the_reason(
    cells: dict[str, str], column: str, reason: str
) -> None:
    converted = convert_row(source_row(**cells), "cbl", ID_KEY)
    assert converted.report is None
    assert [problem.column for problem in converted.problems] == [column]
    [problem] = converted.problems
    assert reason in problem.said_in("nl")
    for said in (problem.said_in("nl"), problem.said_in("en")):
        assert "ABC" not in said
        # A reason never quotes the cell (issue 11 #10): it may hold a plate in the wrong column.
        for text in cells.values():
            if len(text) > 2:
                assert text not in said


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        # a misspelt column would drop its data silently
        ([*COLUMNS[:-1], "kentekenn"], "unknown column(s) 'kentekenn'"),
        # the columns the event cannot do without
        (["meldingsnummer", "filiaalnummer"], "missing: breedtegraad, lengtegraad"),
        # one column twice: which one would count?
        ([*COLUMNS, "Kenteken"], "given twice: kenteken"),
        # offenders beyond the contract's twenty
        ([*COLUMNS, "signalement_21_lengte"], "signalement_21_lengte"),
        # another separator: one name holding them all, not every required column missing
        (["|".join(COLUMNS)], "holds no separator between the column names"),
        # one column of the layout alone is not that
        (["meldingsnummer"], "missing: filiaalnummer"),
    ],
)
def test_headers_outside_the_layout_refuse_the_file(headers: list[str], message: str) -> None:
    with pytest.raises(CblFileError, match=re.escape(message)):
        check_columns(headers)


def test_headers_are_read_loosely() -> None:
    assert check_columns(["Meldingsnummer", " Datum tijd", *COLUMNS[1:9], *COLUMNS[10:], ""])[
        :2
    ] == ("meldingsnummer", "datum_tijd")


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_csv_delimiter_is_taken_from_the_header(tmp_path: Path, delimiter: str) -> None:
    rows = example_rows()
    path = write_csv(tmp_path / "export.csv", rows, delimiter=delimiter)
    sheet = read_sheet(path)
    assert [row.get("wapens") for row in sheet.rows] == [row["wapens"] for row in rows]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_export_is_read_as_its_text(tmp_path: Path, encoding: str) -> None:
    # Excel's "Unicode-tekst (*.txt)": UTF-16 with a byte order mark, tab-separated. Read as
    # Windows-1252 its headers were letters between NULs and the file was refused.
    utf8 = read_sheet(write_csv(tmp_path / "export.csv", example_rows(), delimiter="\t"))
    path = tmp_path / "export.txt"
    text = (tmp_path / "export.csv").read_text(encoding="utf-8")
    # "utf-16" writes its own (little-endian) mark; big-endian gets one written here.
    bom = b"" if encoding == "utf-16" else b"\xfe\xff"
    path.write_bytes(bom + text.encode(encoding))
    assert read_sheet(path).rows == utf8.rows


def test_a_broken_utf16_export_is_refused_by_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes("meldingsnummer\tfiliaalnummer\n".encode("utf-16") + b"\x00")
    with pytest.raises(CblFileError, match="UTF-16"):
        read_sheet(path)


@pytest.mark.parametrize(
    ("cell", "line"),
    [
        # An unclosed quote runs on to the end of the file: line 5, but the row it opened on.
        ('"niet gesloten', 5),
        ("x" * 200_000, 4),
    ],
)
def test_an_unreadable_csv_names_the_row(tmp_path: Path, cell: str, line: int) -> None:
    rows = [
        ["meldingsnummer", "filiaalnummer", "toelichting"],
        ["CBL-1", "BM-0412", "goed"],
        ["CBL-2", "BM-0412", "goed"],
        ["CBL-3", "BM-0412", cell],
        ["CBL-4", "BM-0412", "goed"],
    ]
    path = tmp_path / "export.csv"
    path.write_text("".join(";".join(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(CblFileError) as refused:
        read_sheet(path)
    assert f"row 4 (line {line} of the file)" in str(refused.value)
    assert f"rij 4 (regel {line} van het bestand)" in refused.value.dutch


def test_a_date_cell_without_a_time_is_refused_as_the_csv_of_it_is(tmp_path: Path) -> None:
    # A column formatted as a date holds midnight: read as 00:00, every robbery of such an
    # export happened at midnight, where Excel's CSV of it says the date alone (refused).
    path = write_xlsx(tmp_path / "export.xlsx", example_rows())
    workbook = load_workbook(path)
    sheet = workbook.active
    assert sheet is not None
    column = list(example_rows()[0]).index("datum_tijd") + 1
    sheet.cell(2, column).value = datetime(2025, 3, 14)
    sheet.cell(2, column).number_format = "dd-mm-yyyy"
    # A date-time cell at midnight is a time of midnight, and stays one.
    sheet.cell(3, column).value = datetime(2025, 3, 15)
    sheet.cell(3, column).number_format = "dd-mm-yyyy hh:mm"
    workbook.save(path)
    first, second, *_ = read_sheet(path).rows
    assert first.get("datum_tijd") == "2025-03-14"
    assert second.get("datum_tijd") == "2025-03-15 00:00:00"
    problems = convert_row(first, "cbl", ID_KEY).problems
    assert [(p.column, p.reason) for p in problems] == [
        ("datum_tijd", "a date without a time: give the time of the incident as well")
    ]
    assert convert_row(second, "cbl", ID_KEY).problems == ()


def test_a_csv_with_another_separator_says_so(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", example_rows(), delimiter="|")
    with pytest.raises(CblFileError) as refused:
        read_sheet(path)
    assert "separate them with ';', ',' or a tab" in str(refused.value)
    assert "scheid ze met ';', ',' of een tab" in refused.value.dutch
    # The header is not echoed back as one unknown column, nor every column as missing.
    assert "unknown" not in str(refused.value)
    assert "missing" not in str(refused.value)


def test_old_xls_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
    with pytest.raises(CblFileError, match=re.escape("save it as .xlsx")):
        read_sheet(path)


def test_a_stray_cell_far_out_is_read_as_that_one_cell(tmp_path: Path) -> None:
    """A workbook declares its used range; openpyxl padded every row to it, so one stray cell
    at (20,000, 2,000) was 40 million cells (one at (200,000, 5,000) of a 5 KB file took 3 GB
    and a MemoryError). Each row is now as wide as its own last cell."""
    path = write_xlsx(tmp_path / "export.xlsx", example_rows())
    workbook = load_workbook(path)
    assert workbook.active is not None
    workbook.active.cell(20_000, 2_000, "x")
    workbook.save(path)
    tracemalloc.start()
    try:
        sheet = read_sheet(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"{peak:,} bytes"
    assert [row.get("meldingsnummer") for row in sheet.rows[:-1]] == [
        row["meldingsnummer"] for row in example_rows()
    ]
    stray = sheet.rows[-1]
    assert (stray.number, stray.extra_cells) == (20_000, 1)


def test_a_workbook_with_too_many_cells_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheet_module, "MOST_XLSX_CELLS", 100_000)
    path = write_xlsx(tmp_path / "export.xlsx", example_rows())
    workbook = load_workbook(path)
    assert workbook.active is not None
    for number in range(10, 20):
        workbook.active.cell(number, 16_384, "x")  # column XFD, the last there is
    workbook.save(path)
    with pytest.raises(CblFileError, match=re.escape("more than 100,000 cells up to row")):
        read_sheet(path)


# --- through Kafka and PostgreSQL ----------------------------------------------------------


async def test_xlsx_is_published_with_plates_only_pseudonymised(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await register_cbl(db)
    path = write_xlsx(tmp_path / "cbl-2025.xlsx", example_rows())
    seen: list[ImportProgress] = []
    report = await import_cbl(
        settings, path, reporting_org="cbl", progress=seen.append, batch_rows=3
    )

    assert (report.rows, report.published, report.already_imported, report.rejected) == (4, 4, 0, 0)
    # One call per batch of three rows.
    assert [(p.rows_done, p.rows_total, p.published) for p in seen] == [(3, 4, 3), (4, 4, 4)]
    records = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=4
    )
    wire = b"".join(
        (record.key or b"") + record.value + b"".join(n.encode() + v for n, v in record.headers)
        for record in records
    )
    for plate in RAW_PLATES:
        assert plate.encode() not in wire
    reports = {
        str(report.event_id): report
        for report in (
            decode_as(IncidentReport, INCIDENT_REPORTS, record.value, record.headers)
            for record in records
        )
    }
    first = reports[str(event_id_for("cbl", "CBL-2025-000101", settings.require_plate_key()))]
    assert first.getaway is not None and first.getaway.vehicle is not None
    assert first.getaway.vehicle.plate_pseudonym == pseudonymise_plate(
        "12-ABC-3", settings.require_plate_key(), settings.plate_key_id
    )
    assert first.occurred_at == datetime(2025, 3, 14, 20, 5, tzinfo=UTC)
    assert {dict(record.headers)["ce_source"] for record in records} == {
        b"/producers/cbl-import/cbl"
    }

    receipts = await db.fetch("SELECT source_ref, file_row FROM import_receipt ORDER BY file_row")
    assert [(row["source_ref"], row["file_row"]) for row in receipts] == [
        ("CBL-2025-000101", 2),
        ("CBL-2025-000102", 3),
        ("CBL-2025-000103", 4),
        ("CBL-2025-000104", 5),
    ]
    assert rejection_lines(report.rejection_report) == []
    assert report.rejection_report == tmp_path / "cbl-2025.afgewezen.csv"
    stored = await db.fetchval(
        "SELECT string_agg(t::text, '') FROM (SELECT * FROM import_receipt) t"
    ) + await db.fetchval("SELECT string_agg(t::text, '') FROM (SELECT * FROM audit_log) t")
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "cbl import finished" in logged
    for plate in RAW_PLATES:
        assert plate not in stored
        assert plate not in logged


async def test_the_same_reports_as_csv_after_xlsx_publish_nothing(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    first = await import_cbl(
        settings, write_xlsx(tmp_path / "export.xlsx", example_rows()), reporting_org="cbl"
    )
    again = await import_cbl(
        settings, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv"
    )
    same_file = await import_cbl(settings, tmp_path / "export.xlsx", reporting_org="cbl")

    assert (first.published, first.rejected) == (4, 0)
    # Excel's typed cells and the CSV's text make the same events, so nothing is new.
    assert (again.published, again.already_imported, again.rejected) == (0, 4, 0)
    assert (same_file.published, same_file.already_imported) == (0, 4)
    assert await published_count(settings, INCIDENT_REPORTS) == 4
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == 4


async def test_a_utf16_export_is_published_as_the_csv_would_be(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    path = tmp_path / "cbl-2025.txt"
    text = write_csv(tmp_path / "export.csv", example_rows(), delimiter="\t").read_text("utf-8")
    path.write_bytes(text.encode("utf-16"))
    report = await import_cbl(settings, path, reporting_org="cbl")
    again = await import_cbl(settings, EXAMPLE, reporting_org="cbl")

    assert (report.published, report.rejected) == (4, 0)
    assert (again.published, again.already_imported) == (0, 4)
    assert await published_count(settings, INCIDENT_REPORTS) == 4


async def test_a_changed_report_is_refused_not_published_again(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    await import_cbl(settings, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv")
    rows = example_rows()
    rows[1]["aantal_daders"] = "2"
    report = await import_cbl(
        settings, write_csv(tmp_path / "corrected.csv", rows), reporting_org="cbl"
    )

    assert (report.published, report.already_imported, report.rejected) == (0, 3, 1)
    [line] = rejection_lines(report.rejection_report)
    assert (line["rij"], line["meldingsnummer"], line["kolom"]) == (
        "3",
        "CBL-2025-000102",
        "meldingsnummer",
    )
    assert "is op " in line["reden"]
    # Row 3 of the file imported before, not of this one (a month's export and the next).
    assert "geïmporteerd uit rij 3 van een ander bestand, met andere inhoud" in line["reden"]
    assert await published_count(settings, INCIDENT_REPORTS) == 4


async def test_bad_rows_are_listed_with_reasons_and_good_rows_published(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    good = example_rows()
    rows = [
        good[0],
        # row 3: outside the Netherlands and an unknown weapon
        {**good[1], "breedtegraad": "49,0", "wapens": "pistool"},
        # row 4: a branch of a chain that is not a CBL member
        {**good[2], "meldingsnummer": "CBL-2025-000200", "filiaalnummer": "AK-0001"},
        # row 5: the melding of row 2 again, with other content
        {**good[0], "aantal_daders": "5"},
        # row 6: the melding of row 2 again, unchanged: no rejection, nothing new
        good[0],
        # row 7: a plate that is no plate
        {**good[3], "kenteken": "?"},
    ]
    path = write_csv(tmp_path / "maart.csv", rows)
    report = await import_cbl(settings, path, reporting_org="cbl")

    assert (report.published, report.already_imported, report.rejected) == (1, 1, 4)
    lines = rejection_lines(tmp_path / "maart.afgewezen.csv")
    assert [(line["rij"], line["kolom"]) for line in lines] == [
        ("3", "breedtegraad"),
        ("3", "wapens"),
        ("4", "filiaalnummer"),
        ("5", "meldingsnummer"),
        ("7", "kenteken"),
    ]
    reasons = {(line["rij"], line["kolom"]): line["reden"] for line in lines}
    assert reasons[("3", "breedtegraad")] == "moet ten minste 50,7 zijn"
    assert reasons[("3", "wapens")].startswith("onbekende waarde(n) op positie 1; elk een van")
    assert reasons[("4", "filiaalnummer")] == (
        "filiaal AK-0001 is geen filiaal van u of van een van uw leden"
    )
    assert reasons[("5", "meldingsnummer")] == (
        "CBL-2025-000101 staat ook op rij 2, met andere inhoud"
    )
    assert "?" not in reasons[("7", "kenteken")]
    [record] = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=1
    )
    cbl_id = event_id_for("cbl", "CBL-2025-000101", settings.require_plate_key())
    assert dict(record.headers)["ce_id"] == str(cbl_id).encode()
    audit = await db.fetch("SELECT action, details FROM audit_log ORDER BY at")
    assert sorted(row["action"] for row in audit) == ["event_accepted"] + ["event_rejected"] * 4


async def test_a_rejected_row_lists_every_reason_at_once(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A cell the model refuses does not hide the time's or the place's refusal: the person
    fixing the row hears of all of them on the first import, not one per re-import."""
    await register_cbl(db)
    good = example_rows()
    rows = [
        # row 2: a count that is no number, and a time in the future
        {**good[0], "aantal_daders": "drie", "datum_tijd": _tomorrow()},
        # row 3: a postcode that is none (the branch fails as a whole), years back, in Antwerp
        {
            **good[1],
            "postcode": "9999",
            "datum_tijd": "01-06-2015 12:00",
            "breedtegraad": "51,2194",
            "lengtegraad": "4,4025",
        },
        # row 4: published
        good[2],
    ]
    path = write_csv(tmp_path / "mei.csv", rows)
    dutch = await import_cbl(settings, path, reporting_org="cbl")
    english = await import_cbl(
        settings, path, reporting_org="cbl", rejections_path=tmp_path / "en.csv", language="en"
    )

    assert (dutch.published, dutch.rejected, english.already_imported) == (1, 2, 1)
    columns = [("2", "datum_tijd"), ("2", "aantal_daders")]
    columns += [("3", "breedtegraad+lengtegraad"), ("3", "postcode"), ("3", "datum_tijd")]
    # In the file's column order, each row's cells as they stand left to right.
    header = list(good[0])
    assert header.index("datum_tijd") < header.index("aantal_daders")
    assert header.index("breedtegraad") < header.index("postcode") < header.index("datum_tijd")
    in_dutch = rejection_lines(dutch.rejection_report)
    in_english = rejection_lines(tmp_path / "en.csv")
    assert [(line["rij"], line["kolom"]) for line in in_dutch] == columns
    assert [(line["rij"], line["kolom"]) for line in in_english] == columns
    assert [line["reden"] for line in in_dutch] == [
        "ligt meer dan 2 minuten in de toekomst",
        "moet een geheel getal zijn",
        "ligt buiten Nederland",
        "moet een postcode zijn, bijvoorbeeld 1012 JL",
        f"ligt meer dan {settings.max_event_age_days} dagen in het verleden",
    ]
    reasons = [line["reden"] for line in in_english]
    assert reasons[0] == "lies in the future by more than the allowed clock skew (2 minutes)"
    assert reasons[2].startswith("lies outside the Netherlands")
    assert reasons[4].startswith(f"lies more than {settings.max_event_age_days} days in the past")
    # The report the caller gets back says the same, row by row.
    assert [
        [(problem.column, problem.said_in("nl")) for problem in rejection.problems]
        for rejection in dutch.rejections
    ] == [
        [(line["kolom"], line["reden"]) for line in in_dutch if line["rij"] == row]
        for row in ("2", "3")
    ]
    audit = await db.fetch(
        "SELECT details FROM audit_log WHERE action = 'event_rejected' ORDER BY at LIMIT 2"
    )
    logged = [json.loads(row["details"])["reason"] for row in audit]
    assert sorted(len(reasons) for reasons in logged) == [2, 3], logged


@pytest.mark.parametrize(
    ("organisation", "message"),
    [
        # nobody registered it
        ("onbekend", "does not exist"),
        # an alarm centre reports alarms, not incidents
        ("pac-1", "has the role alarm_centre"),
    ],
)
async def test_an_organisation_that_may_not_report_is_refused(
    settings: Settings, db: asyncpg.Connection, organisation: str, message: str
) -> None:
    await admin.create_organisation(db, "pac-1", "Alarmcentrale", "alarm_centre")
    with pytest.raises(ImportRefused, match=message):
        await import_cbl(settings, EXAMPLE, reporting_org=organisation)
    assert await published_count(settings, INCIDENT_REPORTS) == 0


def test_the_example_uses_every_column_of_the_layout() -> None:
    columns = read_sheet(EXAMPLE).columns
    assert set(COLUMNS) <= set(columns)
    assert {column for column in columns if column.startswith("signalement_")} == {
        f"signalement_{number}_{part}"
        for number in (1, 2)
        for part in ("lengte", "postuur", "kleding", "gezichtsbedekking", "taal")
    }


async def test_a_melding_posted_through_the_api_is_not_published_again(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    plate_key = PlateKey(settings.require_plate_key(), settings.plate_key_id)
    rows = example_rows()
    receipts = []
    for number, cells in ((2, rows[0]), (3, {**rows[1], "aantal_daders": "3"})):
        edge = convert_row(SourceRow(number, cells), "cbl", plate_key.key).report
        assert edge is not None
        # As the API would have published it: with the branch as registered.
        [event] = await registry.as_registered(db, [edge.pseudonymised(plate_key)])
        assert isinstance(event, IncidentReport)
        receipts.append(
            NewReceipt(str(event.event_id), "cbl", "incident_report", body_digest(event), 202, {})
        )
    await store_receipts(db, receipts)
    report = await import_cbl(
        settings, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv"
    )

    # Row 2 came in through the API as it is; row 3 with another offender count.
    assert (report.published, report.already_imported, report.rejected) == (2, 1, 1)
    [rejection] = report.rejections
    assert rejection.row == 3
    assert "via de API gemeld, met andere inhoud" in rejection.problems[0].said_in("nl")
    assert "through the API with other content" in rejection.problems[0].said_in("en")


async def test_an_interrupted_import_goes_on_where_it_stopped(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    rejections = tmp_path / "r.csv"
    # No acknowledgement can arrive within no time at all: the broker looks gone.
    with pytest.raises(ImportInterrupted, match="run the same import again") as stopped:
        await import_cbl(
            settings, EXAMPLE, reporting_org="cbl", rejections_path=rejections, publish_timeout=0
        )
    assert stopped.value.progress.published == 0
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == 0

    report = await import_cbl(settings, EXAMPLE, reporting_org="cbl", rejections_path=rejections)
    assert (report.published, report.rejected) == (4, 0)
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == 4


async def test_rows_go_in_as_the_api_takes_events_pending_published_confirmed(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The import claims a receipt before it publishes (producers/ingest.py), as the API does."""
    await register_cbl(db)
    plate_key = PlateKey(settings.require_plate_key(), settings.plate_key_id)
    edge = convert_row(SourceRow(2, example_rows()[0]), "cbl", plate_key.key).report
    assert edge is not None
    busy = str(edge.event_id)
    # Another delivery of row 2 claimed it a moment ago and is waiting for the broker.
    await claim_receipts(
        db, [NewReceipt(busy, "cbl", "incident_report", "other", 202, {"event_id": busy})]
    )
    rejections = tmp_path / "r.csv"
    with pytest.raises(ImportInterrupted, match="being published by another") as stopped:
        await import_cbl(settings, EXAMPLE, reporting_org="cbl", rejections_path=rejections)
    # The other rows were published and their receipts confirmed; row 2 was left to its owner.
    assert stopped.value.progress.published == len(example_rows()) - 1
    receipts = await db.fetch("SELECT event_id::text, confirmed_at FROM ingest_receipt")
    assert len(receipts) == len(example_rows())
    assert [r["event_id"] for r in receipts if r["confirmed_at"] is None] == [busy]
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == len(example_rows()) - 1

    # That delivery failed and let go of its claim: the next run publishes row 2 alone.
    await release_receipts(db, [busy])
    report = await import_cbl(settings, EXAMPLE, reporting_org="cbl", rejections_path=rejections)
    assert (report.published, report.already_imported) == (1, len(example_rows()) - 1)
    assert await db.fetchval("SELECT count(*) FROM ingest_receipt WHERE confirmed_at IS NULL") == 0


async def test_without_a_broker_nothing_is_imported(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    nowhere = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})
    with pytest.raises(CblImportError, match="unavailable, nothing was published"):
        await import_cbl(nowhere, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv")
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == 0


@pytest.mark.integration
async def test_a_report_that_cannot_be_written_stops_the_import_before_it_publishes(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # Every row was published, then writing the report failed with a bare OSError about
    # '.r.csv.partial': exit 1 ("could not run or finish") after the import had run.
    await register_cbl(db)
    nowhere = tmp_path / "no-such-folder" / "r.csv"
    with pytest.raises(CblImportError) as refused:
        await import_cbl(settings, EXAMPLE, reporting_org="cbl", rejections_path=nowhere)
    assert str(refused.value).startswith(f"the rejection report {nowhere} cannot be written")
    assert "0 row(s) were published" in str(refused.value)
    assert "partial" not in str(refused.value)
    assert await db.fetchval("SELECT count(*) FROM import_receipt") == 0
    assert await published_count(settings, INCIDENT_REPORTS) == 0


@pytest.mark.integration
async def test_a_row_is_published_with_its_branch_as_registered(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """BM-0412 is a registered Amsterdam supermarket; the row calls it a Rotterdam jeweller."""
    await register_cbl(db)
    moved = {
        **example_rows()[0],
        "keten": "Juwelier Rotterdam",
        "soort_vestiging": "juwelier",
        "breedtegraad": "51,9225",
        "lengtegraad": "4,4792",
    }
    path = write_csv(tmp_path / "moved.csv", [moved])
    report = await import_cbl(settings, path, reporting_org="cbl")

    assert report.published == 1, report.rejections
    [record] = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=1
    )
    event = decode_as(IncidentReport, INCIDENT_REPORTS, record.value, record.headers)
    assert event.branch.location == Location(lat=52.3731, lon=4.8922)
    assert event.branch.branch_type is BranchType.SUPERMARKET
    assert event.branch.chain is None  # registered without one


@pytest.mark.integration
async def test_a_plate_in_the_wrong_column_reaches_neither_report_nor_audit(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Issue 11 #10 and #13: reasons name columns, never cells; no cell is run by Excel."""
    await register_cbl(db)
    good = example_rows()
    rows = [
        # row 2: the plate typed into four closed columns and as the melding number
        {
            **good[0],
            "meldingsnummer": "12-ABC-3",
            "wapens": "mes, 12-ABC-3",
            "soort_incident": "12abc3",
            "buitwaarde": "12 ABC 3",
            "signalement_1_lengte": "12-abc-3",
        },
        # row 3: a melding number that is a formula, and a bad cell to reject the row
        {**good[1], "meldingsnummer": "=HYPERLINK(\"http://x\",\"klik\")", "wapens": "kanon"},
        # row 4: a formula in a closed column
        {**good[2], "soort_incident": "+cmd|' /C calc'!A0"},
    ]
    path = write_csv(tmp_path / "fout.csv", rows)
    report = await import_cbl(settings, path, reporting_org="cbl")

    assert report.rejected == 3 and report.published == 0
    written = (tmp_path / "fout.afgewezen.csv").read_text(encoding="utf-8-sig")
    audit = "\n".join(
        row["details"] for row in await db.fetch("SELECT details::text FROM audit_log")
    )
    for where, text in (("rejection report", written), ("audit log", audit)):
        for form in ("12-abc-3", "12abc3", "12 abc 3"):
            assert form not in text.lower(), (where, text)
        assert "kanon" not in text and "calc" not in text, (where, text)
    lines = rejection_lines(tmp_path / "fout.afgewezen.csv")
    assert {line["kolom"] for line in lines if line["rij"] == "2"} == {
        "meldingsnummer", "wapens", "soort_incident", "buitwaarde", "signalement_1_lengte"
    } - {"meldingsnummer"}  # fmt: skip
    assert {line["meldingsnummer"] for line in lines if line["rij"] == "2"} == {"**-***-*"}
    # Every cell of the report that Excel would run starts with a quote instead.
    for line in lines:
        for cell in line.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), line
    assert {line["meldingsnummer"] for line in lines if line["rij"] == "3"} == {
        "'=HYPERLINK(\"http://x\",\"klik\")"
    }


# --- event ids nobody else can compute (issue 11 #8) ---------------------------------------------

OLD_NAMESPACE = uuid.UUID("96b30a57-ea04-4180-9dfc-2ab6abca3090")  # the unkeyed ids of before


def test_event_ids_are_keyed_stable_and_per_organisation() -> None:
    melding = "CBL-2025-000101"
    assert event_id_for("cbl", melding, ID_KEY) == event_id_for("cbl", melding, ID_KEY)
    assert event_id_for("cbl", melding, ID_KEY) != event_id_for("cbl2", melding, ID_KEY)
    assert event_id_for("cbl", melding, ID_KEY) != event_id_for("cbl", melding, b"j" * 32)
    assert event_id_for("cbl", melding, ID_KEY) != uuid.uuid5(OLD_NAMESPACE, f"cbl/{melding}")


@pytest.mark.integration
async def test_another_organisations_earlier_post_does_not_block_the_import(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The attack: retail-b posts first under the id the CBL's melding would get."""
    await register_cbl(db)
    key = (await admin.issue_key(db, "andere-keten")).key
    melding = "CBL-2025-000101"
    # The id as anyone could compute it before (uuid5 of organisation and melding number).
    predicted = str(uuid.uuid5(OLD_NAMESPACE, f"cbl/{melding}"))
    body = bodies.incident_report(
        event_id=predicted, reporting_org="andere-keten", branch_id="AK-0001"
    )
    async with running_api(settings) as (_, client):
        answer = await client.post(
            "/v1/incident-reports", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 202, answer.text

    report = await import_cbl(
        settings, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv"
    )
    assert report.rejected == 0, report.rejections
    assert report.published == len(example_rows())


@pytest.mark.integration
async def test_a_melding_imported_under_an_old_id_keeps_it(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A receipt from before keyed ids: the melding is recognised, not published again."""
    await register_cbl(db)

    def old_event_id(reporting_org: str, melding: str, id_key: bytes) -> uuid.UUID:
        return uuid.uuid5(OLD_NAMESPACE, f"{reporting_org}/{melding}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rows_module, "event_id_for", old_event_id)
        first = await import_cbl(
            settings, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv"
        )
    assert first.published == len(example_rows())
    again = await import_cbl(
        settings, EXAMPLE, reporting_org="cbl", rejections_path=tmp_path / "r.csv"
    )
    assert (again.published, again.already_imported) == (0, first.published), again.rejections


@pytest.mark.integration
async def test_a_row_far_from_its_registered_branch_is_published_with_a_warning(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Row 2 names BM-0412 (Amsterdam) at Groningen's coordinates, 146.7 km away: perhaps a
    mistyped filiaalnummer. Row 3 lies 500 m from VP-0033, as geocoding may differ."""
    await register_cbl(db)
    rows = example_rows()
    rows[0] = {**rows[0], "breedtegraad": "53,2194", "lengtegraad": "6,5665"}
    rows[1] = {**rows[1], "breedtegraad": "51,9270"}  # VP-0033 is at 51.9225
    path = write_csv(tmp_path / "verschoven.csv", rows)
    report = await import_cbl(settings, path, reporting_org="cbl")

    # Published, at the registry's location, and not a rejection.
    assert (report.published, report.rejected) == (4, 0)
    assert rejection_lines(report.rejection_report) == []
    records = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=4
    )
    first = event_id_for("cbl", "CBL-2025-000101", settings.require_plate_key())
    [event] = [
        event
        for event in (
            decode_as(IncidentReport, INCIDENT_REPORTS, record.value, record.headers)
            for record in records
        )
        if event.event_id == first
    ]
    assert event.branch.location == Location(lat=52.3731, lon=4.8922)

    [warning] = report.warnings
    assert (warning.row, warning.melding) == (2, "CBL-2025-000101")
    assert report.warning_lines("nl") == [
        "1 waarschuwing(en): verstuurd, maar controleer",
        "  rij 2 (CBL-2025-000101): de opgegeven plaats (breedtegraad, lengtegraad) ligt "
        "146,7 km van filiaal BM-0412 zoals geregistreerd (52.3731, 4.8922); de melding krijgt "
        "de geregistreerde plaats. Controleer het filiaalnummer: een tikfout zet de overval bij "
        "een ander filiaal en een andere politie-eenheid",
    ]
    assert report.warning_lines("en")[1] == (
        "  row 2 (CBL-2025-000101): the location given (breedtegraad, lengtegraad) lies "
        "146.7 km from branch BM-0412 as registered (52.3731, 4.8922); the report takes the "
        "registered location. Check the filiaalnummer: a typo puts the robbery at another "
        "branch and with another police unit"
    )

    # Said again on a re-run (the report stands at that branch); the threshold is a setting.
    again = await import_cbl(settings, path, reporting_org="cbl")
    assert (again.already_imported, [w.row for w in again.warnings]) == (4, [2])
    wide = await import_cbl(settings, path, reporting_org="cbl", location_warning_metres=150_000)
    assert wide.warnings == ()
    close = await import_cbl(settings, path, reporting_org="cbl", location_warning_metres=400)
    assert [w.row for w in close.warnings] == [2, 3]


@pytest.mark.integration
async def test_ctrl_c_says_how_far_it_got_and_the_same_command_goes_on(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """SIGINT to `heterdaad import cbl` of a large file once its first batch is confirmed."""
    await register_cbl(db)
    total = 6_000
    rows = [
        {**example_rows()[number % 4], "meldingsnummer": f"CBL-2025-{number:06d}"}
        for number in range(total)
    ]
    path = write_csv(tmp_path / "jaar.csv", rows)
    command = Path(sys.executable).with_name("heterdaad")
    process = await asyncio.create_subprocess_exec(
        str(command), "import", "cbl", str(path), "--org", "cbl",
        env={**os.environ, **cli_environment(settings)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(1_200):  # a minute at most
            if await db.fetchval("SELECT count(*) FROM import_receipt"):
                break
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 130, (out, err)
    # One line of its own among the log's.
    said_lines = [line for line in err.decode().splitlines() if line.startswith("heterdaad")]
    assert len(said_lines) == 1, err.decode()
    [line] = said_lines
    said = re.fullmatch(
        r"heterdaad import cbl: gestopt \(Ctrl-C\) na (\d+) van 6000 rij\(en\); (\d+) rij\(en\) "
        r"verstuurd en als geïmporteerd vastgelegd\. Start hetzelfde commando opnieuw om verder "
        r"te gaan waar het stopte; niets wordt twee keer verstuurd",
        line,
    )
    assert said is not None, line
    done, published = int(said[1]), int(said[2])
    stored = await db.fetchval("SELECT count(*) FROM import_receipt")
    assert 0 < published == stored == done < total
    # Nothing of the batch under way stays claimed: the same import goes on at once.
    pending = "SELECT count(*) FROM ingest_receipt WHERE confirmed_at IS NULL"
    assert await db.fetchval(pending) == 0
    again = await import_cbl(settings, path, reporting_org="cbl")
    assert (again.already_imported, again.published, again.rejected) == (
        published, total - published, 0
    )


@pytest.mark.integration
async def test_an_hour_that_comes_twice_is_published_as_summer_time_with_a_warning(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    rows = example_rows()
    rows[2] = {**rows[2], "datum_tijd": "25-10-2026 02:30"}
    path = write_csv(tmp_path / "oktober.csv", rows)
    report = await import_cbl(settings, path, reporting_org="cbl")

    assert (report.published, report.rejected) == (4, 0)
    [warning] = report.warnings
    assert (warning.row, warning.melding) == (4, "CBL-2025-000103")
    assert report.warning_lines("nl")[1] == (
        "  rij 4 (CBL-2025-000103): datum_tijd 02:30 op 25-10-2026 komt twee keer voor in "
        "Nederlandse tijd (die nacht ging de klok van 03:00 terug naar 02:00): gelezen als de "
        "eerste keer, in zomertijd; was het de tweede keer, schrijf dan 2026-10-25T02:30+01:00"
    )
    records = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=4
    )
    times = {
        decode_as(IncidentReport, INCIDENT_REPORTS, r.value, r.headers).occurred_at.astimezone(UTC)
        for r in records
    }
    assert datetime(2026, 10, 25, 0, 30, tzinfo=UTC) in times


@pytest.mark.integration
async def test_a_cancel_while_a_batch_commits_counts_what_the_commit_stored(
    settings: Settings,
    db: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ctrl-C (asyncio.run cancels the import) landing after a batch's commit reached the
    # server, before the client heard back: the rows it stored are counted, so what the import
    # says it stored is what import_receipt holds. Before, the count missed that batch.
    await register_cbl(db)
    rows = [
        {**example_rows()[number % 4], "meldingsnummer": f"CBL-2025-{number:06d}"}
        for number in range(8)
    ]
    path = write_csv(tmp_path / "klein.csv", rows)
    audited, committed = asyncio.Event(), asyncio.Event()
    write_audit = importer_module.write_audit  # type: ignore[attr-defined]
    leave = asyncpg.transaction.Transaction.__aexit__

    async def noted_audit(connection: asyncpg.Connection, audit: Any) -> None:
        await write_audit(connection, audit)
        audited.set()

    async def slow_to_hear(self: asyncpg.transaction.Transaction, *exc: object) -> None:
        await leave(self, *exc)  # committed on the server
        if audited.is_set() and not committed.is_set():
            committed.set()
            await asyncio.sleep(0.5)  # the answer on its way

    monkeypatch.setattr(importer_module, "write_audit", noted_audit)
    monkeypatch.setattr(asyncpg.transaction.Transaction, "__aexit__", slow_to_hear)
    heard: list[Any] = []
    task = asyncio.create_task(
        import_cbl(settings, path, reporting_org="cbl", batch_rows=4, progress=heard.append)
    )
    await asyncio.wait_for(committed.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await db.fetchval("SELECT count(*) FROM import_receipt")
    assert stored == 4
    assert heard[-1].published == stored


def test_the_summary_is_said_in_the_imports_language(tmp_path: Path) -> None:
    # Under the default language the summary was English between Dutch warnings:
    # "cbl-2026-10.csv: 27 row(s): 27 published, ..." and then "1 waarschuwing(en): ...".
    from producers.cbl_import.report import ImportReport

    report = ImportReport(
        path=tmp_path / "cbl-2026-10.csv", file_sha256="0" * 64, rows=27, published=25,
        already_imported=1, rejections=(), rejection_report=tmp_path / "x.afgewezen.csv",
    )  # fmt: skip
    assert report.summary("nl") == (
        f"cbl-2026-10.csv: 27 rij(en): 25 verstuurd, 1 al eerder geïmporteerd, 0 afgewezen "
        f"(redenen in {tmp_path / 'x.afgewezen.csv'})"
    )
    assert report.summary("en") == (
        f"cbl-2026-10.csv: 27 row(s): 25 published, 1 already imported, 0 rejected "
        f"(reasons in {tmp_path / 'x.afgewezen.csv'})"
    )
