"""CSV as spreadsheets write and read it: the files they save, and cells that stay text."""

from __future__ import annotations

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets
# (CSV injection, https://owasp.org/www-community/attacks/CSV_Injection); a leading quote
# makes it text again and is shown only in the edit bar.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """The value as a CSV writer should get it: text that could be a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def plain_cell(text: str) -> str:
    """A cell as `csv_cell` had it before quoting: a file we wrote reads back as it was."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


# Dutch Excel separates with ';' (the comma is the decimal sign); others use ',' or tabs.
DELIMITERS = (";", ",", "\t")


def csv_text(data: bytes) -> str:
    """The text of a CSV file as a spreadsheet saved it: UTF-8, with or without a byte-order
    mark, or Windows-1252 (Excel's "CSV (gescheiden door lijstscheidingsteken)" on Windows)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def delimiter_of(first_line: str) -> str:
    """The delimiter a header row is written with: whichever of DELIMITERS it holds most."""
    return max(DELIMITERS, key=first_line.count)
