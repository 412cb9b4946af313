"""`heterdaad org branches import`: a chain's branches from one file, checked row by row."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from assembly import org_cli
from assembly.cli import app
from producers.api import admin
from producers.branch_import import import_branches

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration

HEADER = "filiaalnummer;soort_vestiging;breedtegraad;lengtegraad;keten;straat;postcode;plaats"
GOOD = [
    "dw-1;supermarkt;52.0894;5.1100;Dagwinkel;Oudegracht 1;3511 AA;Utrecht",
    "dw-2;Tankstation;52,3731;4,8922;Dagwinkel;;;",
]
BAD = [
    # Brussels: inside the box of the contract, outside the Netherlands.
    "dw-3;supermarkt;50.8466;4.3528;Dagwinkel;;;",
    # Three reasons in one row: an unknown kind, a place abroad and a postcode that is none.
    "dw-4;bakkerij;50.8466;4.3528;Dagwinkel;Markt 2;12345;Utrecht",
    # The id of row 2 again.
    "dw-1;supermarkt;52.0;5.0;;;;",
]


def _file(tmp_path: Path, *rows: str, name: str = "filialen.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return path


async def _chain(db: asyncpg.Connection) -> None:
    await admin.create_organisation(db, "dagwinkel", "Dagwinkel", "retailer")


async def _branches(db: asyncpg.Connection) -> list[tuple[object, ...]]:
    rows = await db.fetch(
        "SELECT branch_id, organisation_id, branch_type, lat, lon, chain, street, postcode, city "
        "FROM branch ORDER BY branch_id"
    )
    return [tuple(row) for row in rows]


async def _audit(db: asyncpg.Connection) -> list[dict[str, object]]:
    rows = await db.fetch("SELECT action, subject, details FROM audit_log ORDER BY at")
    return [{"action": r["action"], "subject": r["subject"], **json.loads(r["details"])}
            for r in rows]  # fmt: skip


async def test_good_rows_are_registered_and_bad_ones_named_with_every_reason(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    await _chain(db)
    path = _file(tmp_path, *GOOD, *BAD)
    report = await import_branches(db, path, "dagwinkel")

    assert (report.rows, report.created, report.unchanged, report.rejected) == (5, 2, 0, 3)
    assert await _branches(db) == [
        ("dw-1", "dagwinkel", "supermarket", 52.0894, 5.11, "Dagwinkel", "Oudegracht 1",
         "3511 AA", "Utrecht"),
        ("dw-2", "dagwinkel", "petrol_station", 52.3731, 4.8922, "Dagwinkel", None, None, None),
    ]  # fmt: skip
    # Dutch by default: the row as a spreadsheet numbers it, each reason by its column.
    assert report.rejection_lines("nl") == [
        "rij 4 (dw-3): breedtegraad+lengtegraad: ligt buiten Nederland",
        "rij 5 (dw-4): soort_vestiging: 'bakkerij' is geen van " + _kinds(),
        "rij 5 (dw-4): breedtegraad+lengtegraad: ligt buiten Nederland",
        "rij 5 (dw-4): postcode: moet een postcode zijn, bijvoorbeeld 1012 JL",
        "rij 6 (dw-1): filiaalnummer: filiaal dw-1 staat al in rij 2",
    ]
    assert report.rejection_lines("en")[0] == (
        "row 4 (dw-3): breedtegraad+lengtegraad: lies outside the Netherlands (its border and "
        "territorial sea)"
    )
    written = report.rejection_report.read_text(encoding="utf-8-sig").splitlines()
    assert written[0] == "rij;filiaalnummer;kolom;reden" and len(written) == 6
    # One import, one audit row: who registered which branches from which file.
    [audited] = await _audit(db)
    assert audited["action"] == "branches_imported"
    assert audited["subject"] == "organisation:dagwinkel"
    assert audited["branch_ids"] == ["dw-1", "dw-2"]
    assert audited["file_sha256"] == report.file_sha256


async def test_an_xlsx_file_is_read_as_the_cbl_import_reads_one(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    await _chain(db)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER.split(";"))
    # Numbers as Excel keeps them: coordinates as floats.
    sheet.append(["dw-1", "supermarkt", 52.0894, 5.11, "Dagwinkel", "Oudegracht 1", "3511 AA",
                  "Utrecht"])  # fmt: skip
    path = tmp_path / "filialen.xlsx"
    workbook.save(path)
    report = await import_branches(db, path, "dagwinkel")
    assert (report.created, report.rejected) == (1, 0)
    assert (await _branches(db))[0][3:5] == (52.0894, 5.11)


def _kinds() -> str:
    from producers.cbl_import.layout import BRANCH_TYPES

    return BRANCH_TYPES.choices()


async def test_a_repeat_import_changes_nothing_and_a_changed_row_is_refused(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    await _chain(db)
    await admin.create_organisation(db, "versplein", "Versplein", "retailer")
    path = _file(tmp_path, *GOOD)
    await import_branches(db, path, "dagwinkel")
    before = await _branches(db)

    again = await import_branches(db, path, "dagwinkel")
    assert (again.created, again.unchanged, again.rejected) == (0, 2, 0)
    assert "er is niets veranderd" in again.summary("nl")
    assert await _branches(db) == before
    assert len(await _audit(db)) == 1  # nothing changed, nothing audited

    # A moved branch is not moved by a file: refused, naming what differs.
    moved = _file(tmp_path, GOOD[0].replace("52.0894", "52.0900"), name="verhuisd.csv")
    refused = await import_branches(db, moved, "dagwinkel")
    assert refused.rejection_lines("nl") == [
        "rij 2 (dw-1): breedtegraad: filiaal dw-1 is geregistreerd met andere waarden, die een "
        "import niet wijzigt: breedtegraad 52.0894 (bestand: 52.09)"
    ]
    # Another chain's file cannot take over a registered branch.
    taken = await import_branches(db, path, "versplein")
    assert [r.problems[0].dutch for r in taken.rejections] == [
        "filiaal dw-1 is geregistreerd voor een andere organisatie",
        "filiaal dw-2 is geregistreerd voor een andere organisatie",
    ]
    assert await _branches(db) == before


async def test_the_command_imports_reports_and_says_it_in_english(
    settings: Settings,
    db: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _chain(db)
    # Logged as the command logs: a field named as a LogRecord's ('created') crashed it.
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(org_cli, "validated_settings", lambda: settings)
    path = _file(tmp_path, *GOOD, BAD[0])

    def heterdaad(*arguments: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["org", "branches", "import", *arguments])
        return result.exit_code, result.output

    # asyncio.run of the command needs a thread without this test's event loop.
    code, output = await asyncio.to_thread(heterdaad, str(path), "--org", "dagwinkel")
    assert code == 3, output
    assert "rij 4 (dw-3): breedtegraad+lengtegraad: ligt buiten Nederland" in output
    assert "2 filiaal/filialen geregistreerd, 0 al zo geregistreerd, 1 afgewezen" in output
    code, output = await asyncio.to_thread(
        heterdaad, str(path), "--org", "dagwinkel", "--language", "en"
    )
    assert code == 3, output
    assert "0 branch(es) registered, 2 already registered so, 1 rejected (nothing changed)" in (
        output
    )
    code, output = await asyncio.to_thread(heterdaad, str(path), "--org", "nobody")
    assert code == 1 and "organisation nobody does not exist" in output
    assert len(await _branches(db)) == 2


def test_org_branch_refuses_a_place_abroad_as_the_import_does() -> None:
    result = CliRunner().invoke(
        app, ["org", "branch", "dagwinkel", "dw-9", "supermarket", "50.8466", "4.3528"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 2
    assert "lies outside the Netherlands" in result.output
