"""The CBL rejection report speaks Dutch by default and English when asked, in every reason."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from assembly.cli import app as cli
from heterdaad.settings import get_settings
from producers.cbl_import import import_cbl
from producers.cbl_import.rows import convert_row
from producers.cbl_import.sheet import SourceRow
from tests.producers.test_cbl_import import (
    BAD_CELLS,
    ID_KEY,
    cli_environment,
    example_rows,
    register_cbl,
    rejection_lines,
    source_row,
    write_csv,
)

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

# Words of the English reasons that no Dutch reason has: one of them in a Dutch report is a
# reason left untranslated.
ENGLISH = re.compile(
    r"\b(should|Input|String|List|Field|required|error|unknown|lies|letters and digits|each|"
    r"position|with|content|branch|row|same|which|posted|imported|published|beyond|cell)\b"
)


def _mixed_rows() -> list[dict[str, str]]:
    """Rows meeting the import's own reasons, pydantic's and the intake's, one or two each."""
    good = example_rows()
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%d-%m-%Y %H:%M")
    return [
        # row 2: published
        good[0],
        # row 3: in the future (the intake's, with pydantic's 'Value error, '), an unknown weapon
        {**good[1], "datum_tijd": future, "wapens": "kanon"},
        # row 4: the branch of a chain that is not a CBL member
        {**good[2], "filiaalnummer": "AK-0001"},
        # row 5: the melding of row 2 again, with other content
        {**good[0], "aantal_daders": "5"},
        # row 6: row 4 again: rejected as that row was
        {**good[2], "filiaalnummer": "AK-0001"},
    ]


@pytest.mark.parametrize(("cells", "column", "reason"), BAD_CELLS)
def test_every_bad_cell_has_a_dutch_reason(cells: dict[str, str], column: str, reason: str) -> None:
    [problem] = convert_row(source_row(**cells), "cbl", ID_KEY).problems
    assert not ENGLISH.search(problem.said_in("nl")), problem
    assert problem.said_in("nl") != problem.said_in("en")
    assert not problem.said_in("en").startswith("Value error"), problem


def test_a_shifted_row_is_explained_in_dutch() -> None:
    [problem] = convert_row(SourceRow(2, example_rows()[0], extra_cells=2), "cbl", ID_KEY).problems
    assert problem.said_in("nl").startswith("2 cel(len) voorbij de laatste kolom")
    assert problem.said_in("en").startswith("2 cell(s) beyond the last column")


@pytest.mark.integration
async def test_the_report_is_dutch_by_default_and_english_when_asked(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    path = write_csv(tmp_path / "april.csv", _mixed_rows())
    dutch = await import_cbl(settings, path, reporting_org="cbl")
    english = await import_cbl(
        settings, path, reporting_org="cbl", rejections_path=tmp_path / "en.csv", language="en"
    )

    assert (dutch.published, dutch.rejected, english.rejected) == (1, 4, 4)
    in_dutch = rejection_lines(dutch.rejection_report)
    in_english = rejection_lines(tmp_path / "en.csv")
    # The same lines, the header included; only the reasons differ.
    assert [(line["rij"], line["kolom"]) for line in in_dutch] == [
        (line["rij"], line["kolom"]) for line in in_english
    ]
    assert [(line["rij"], line["kolom"]) for line in in_dutch] == [
        ("3", "datum_tijd"),
        ("3", "wapens"),
        ("4", "filiaalnummer"),
        ("5", "meldingsnummer"),
        ("6", "meldingsnummer"),
    ]
    for nl, en in zip(in_dutch, in_english, strict=True):
        assert not ENGLISH.search(nl["reden"]), nl
        assert nl["reden"] != en["reden"]
        assert "Value error" not in en["reden"], en
    reasons = [line["reden"] for line in in_dutch]
    assert reasons[0].startswith("ligt meer dan ") and reasons[0].endswith(" in de toekomst")
    assert ":" not in reasons[0]  # a span in words ('2 minuten'), not a timedelta's 0:02:00
    assert reasons[4] == "dezelfde melding als rij 4, die is afgewezen"
    assert in_english[0]["reden"].startswith(
        "lies in the future by more than the allowed clock skew ("
    )
    assert in_english[4]["reden"] == "same report as row 4, which was rejected"


@pytest.mark.integration
async def test_the_command_takes_the_language_as_other_commands_do(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    path = write_csv(tmp_path / "mei.csv", [{**example_rows()[0], "wapens": "kanon"}])
    env = cli_environment(settings)  # Dutch by setting: the option wins over it
    command = ["import", "cbl", str(path), "--org", "cbl"]
    get_settings.cache_clear()  # the CLI reads this test's environment, not an earlier one
    try:
        english, wrong = [
            await asyncio.to_thread(CliRunner().invoke, cli, arguments, env=env)
            for arguments in ([*command, "--language", "en"], [*command, "--language", "fr"])
        ]
    finally:
        get_settings.cache_clear()
    assert english.exit_code == 3, (english.output, english.exception)
    [line] = rejection_lines(tmp_path / "mei.afgewezen.csv")
    assert line["reden"].startswith("unknown value(s) at position 1; each one of: vuurwapen")
    assert wrong.exit_code == 2


def test_a_file_outside_the_layout_is_refused_in_the_imports_language(tmp_path: Path) -> None:
    path = tmp_path / "juni.csv"
    path.write_text("meldingsnummer;filiaal_nummer\nCBL-1;BM-0412\n", encoding="utf-8")
    command = ["import", "cbl", str(path), "--org", "cbl"]
    get_settings.cache_clear()  # the CLI reads this test's environment, not an earlier one
    try:
        dutch, english = [
            CliRunner().invoke(cli, arguments, env={"HETERDAAD_LANGUAGE": "nl"})
            for arguments in (command, [*command, "--language", "en"])
        ]
    finally:
        get_settings.cache_clear()
    assert dutch.exit_code == english.exit_code == 1, (dutch.output, english.output)
    assert "de eerste rij volgt de indeling van docs/cbl-import.md niet: " in dutch.output
    assert "onbekende kolom(men) 'filiaal_nummer'" in dutch.output
    assert not ENGLISH.search(dutch.output.split("niet: ", 1)[1]), dutch.output
    assert "the first row does not follow the layout" in english.output
    assert "unknown column(s) 'filiaal_nummer'" in english.output


@pytest.mark.integration
async def test_the_command_prints_warnings_in_the_imports_language(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await register_cbl(db)
    # BM-0412 is registered in Amsterdam; the row puts it in Rotterdam.
    moved = {**example_rows()[0], "breedtegraad": "51,9225", "lengtegraad": "4,4792"}
    path = write_csv(tmp_path / "juli.csv", [moved])
    get_settings.cache_clear()  # the CLI reads this test's environment, not an earlier one
    try:
        dutch, english = [
            await asyncio.to_thread(
                CliRunner().invoke, cli, ["import", "cbl", str(path), "--org", "cbl", *more],
                env=cli_environment(settings),
            )
            for more in ([], ["--language", "en"])
        ]
    finally:
        get_settings.cache_clear()
    # Published: not a rejection, so the exit status says success.
    assert dutch.exit_code == english.exit_code == 0, (dutch.output, english.output)
    assert "1 waarschuwing(en): verstuurd, maar controleer" in dutch.output
    assert "  rij 2 (CBL-2025-000101): de opgegeven plaats" in dutch.output
    assert "km van filiaal BM-0412 zoals geregistreerd" in dutch.output
    assert "  row 2 (CBL-2025-000101): the location given" in english.output

