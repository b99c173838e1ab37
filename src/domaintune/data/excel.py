"""Excel workbooks (.xlsx, .xlsm): one sheet read as a table of text cells.

Read with openpyxl in read-only mode, a row at a time: `prepare` gathers the rows into a table,
`predict --file` gives them in chunks (its memory holds one chunk and the workbook's table of
shared strings, which openpyxl loads whole). Both use `sheet_rows`, so a workbook reads alike in
each. pandas' `read_excel` would load the whole sheet and read 1 as 1.0 in a column with a blank.

Every cell is read as text, as it shows: a whole number without `.0`, a date as its ISO date (with
the time when it has one), TRUE/FALSE, a formula as its last computed value, an empty cell as an
empty text. The header is the first row with anything in it; an empty header cell is named
`Unnamed: N` as pandas names it; a row with nothing in it is skipped.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domaintune.errors import UserError, first_line

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


def cell_text(value: Any) -> str:
    """A cell's value as the text a user sees in it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def open_workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UserError(
            f"{path} is not a valid Excel workbook ({first_line(error)}): open it in Excel and "
            "save it as .xlsx, or save the sheet as CSV UTF-8"
        ) from None


def sheet_rows(path: Path, sheet: str | None) -> Iterator[list[str]]:
    """The header, then each row with anything in it, as texts of the header's width, of `sheet`
    (the first sheet when None)."""
    book = open_workbook(path)
    try:
        if sheet is None:
            worksheet = book.worksheets[0]
        elif sheet in book.sheetnames:
            worksheet = book[sheet]
        else:
            raise UserError(
                f"{path} has no sheet '{sheet}' (its sheets: {', '.join(book.sheetnames)}): "
                "set data.sheet (predict: --sheet) to one of them"
            )
        rows = (
            [cell_text(value) for value in row] for row in worksheet.iter_rows(values_only=True)
        )
        filled = (row for row in rows if any(row))
        header = next(filled, None)
        if header is None:
            raise UserError(f"{path}: sheet '{worksheet.title}' is empty: give it a header row")
        width = max(i for i, name in enumerate(header) if name) + 1
        names = [name or f"Unnamed: {i}" for i, name in enumerate(header[:width])]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise UserError(
                f"{path} has the column '{twice[0]}' twice: give each column its own name"
            )
        yield names
        for row in filled:
            cells = row[:width] + [""] * (width - len(row))
            if any(cells):
                yield cells
    finally:
        book.close()
