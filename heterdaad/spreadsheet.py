"""CSV as spreadsheets write and read it: the files they save, and cells that stay text."""

from __future__ import annotations

import unicodedata

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets
# (CSV injection, https://owasp.org/www-community/attacks/CSV_Injection); a leading quote
# makes it text again and is shown only in the edit bar.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(text: str) -> bool:
    """Whether a spreadsheet could read the text as a formula: also after leading blanks
    (Excel and LibreOffice skip spaces before "="), and with a full-width sign (U+FF1D and
    the like), which an East Asian input method types and which NFKC makes the ASCII one."""
    if text.startswith(FORMULA_STARTS):
        return True
    first = text.lstrip()[:1]
    return bool(first) and unicodedata.normalize("NFKC", first).startswith(FORMULA_STARTS)


def csv_cell(value: object) -> object:
    """The value as a CSV writer should get it: text that could be a formula is quoted."""
    if isinstance(value, str) and _formula_like(value):
        return f"'{value}"
    return value


def plain_cell(text: str) -> str:
    """A cell as `csv_cell` had it before quoting: a file we wrote reads back as it was."""
    if text.startswith("'") and _formula_like(text[1:]):
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
