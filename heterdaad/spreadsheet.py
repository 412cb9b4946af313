"""CSV cells a spreadsheet shows as text: no formula from a report reaches Excel (OWASP)."""

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
