"""Files as people export them, written as the programs that export them write them: Excel's
"CSV UTF-8" with semicolons (a European locale), its "Unicode text" (UTF-16, tabs), its "CSV" in
cp1252, a workbook of two sheets, and JSON Lines whose text sits in a nested field.

Every file holds `TICKETS`: texts with what trips readers (commas and semicolons, a quoted line
break, curly quotes, euro signs, a pipe) and amounts with decimal commas.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook

COLUMNS = ["id", "text", "label", "amount"]
TICKETS = [
    ["1", "Refund of \u20ac12,50 still missing; please check", "billing", "12,50"],
    ["2", "App \u201cfreezes\u201d at login \u2013 again", "login", "0"],
    ["3", "Invoice sent twice; paid once, charged twice", "billing", "99,90"],
    ["4", "Can\u2019t reset my password\nafter the update", "login", "0"],
    ["5", "Caf\u00e9 closed | no receipt for \u20ac3,20", "billing", "3,20"],
    ["6", 'He said "try again later"; I did, twice', "login", "0"],
]


def write_delimited(path: Path, *, delimiter: str, encoding: str, rows: list[list[str]]) -> Path:
    """A table as Excel saves one: CRLF line ends, cells quoted only where they must be."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def semicolon_csv(folder: Path, rows: list[list[str]] = TICKETS) -> Path:
    """Excel's "CSV UTF-8" in a locale whose decimal mark is a comma: a BOM, semicolons."""
    return write_delimited(folder / "tickets.csv", delimiter=";", encoding="utf-8-sig", rows=rows)


def unicode_text(folder: Path, rows: list[list[str]] = TICKETS) -> Path:
    """Excel's "Unicode text": UTF-16 LE with its BOM, tabs, a .txt name."""
    return write_delimited(folder / "tickets.txt", delimiter="\t", encoding="utf-16", rows=rows)


def utf16_semicolon_csv(folder: Path, rows: list[list[str]] = TICKETS) -> Path:
    """UTF-16 with a BOM and semicolons, as LibreOffice saves "Unicode" CSV in such a locale."""
    return write_delimited(folder / "tickets.csv", delimiter=";", encoding="utf-16", rows=rows)


def cp1252_csv(folder: Path, rows: list[list[str]] = TICKETS) -> Path:
    """Excel's plain "CSV" on Windows in an English locale: cp1252, commas."""
    return write_delimited(folder / "tickets.csv", delimiter=",", encoding="cp1252", rows=rows)


def workbook(folder: Path, rows: list[list[str]] = TICKETS) -> Path:
    """A workbook whose first sheet holds the tickets with typed cells (whole numbers, amounts as
    numbers, a date) and a second sheet other rows."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Tickets"
    sheet.append([*COLUMNS[:3], "amount", "opened"])
    for number, (_, text, label, amount) in enumerate(rows, start=1):
        value = float(amount.replace(",", "."))
        sheet.append([number, text, label, value, dt.datetime(2024, 3, number)])
    archive = book.create_sheet("Archive")
    archive.append(["id", "text", "label"])
    archive.append([100, "Old ticket from 2019", "billing"])
    path = folder / "tickets.xlsx"
    book.save(path)
    return path


def nested_jsonl(folder: Path, rows: list[list[str]] = TICKETS) -> Path:
    """JSON Lines as an API exports them: the text and the label inside nested objects."""
    path = folder / "tickets.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for ticket, text, label, amount in rows:
            record = {
                "id": ticket,
                "meta": {"body": text, "lang": "en"},
                "routing": {"team": {"name": label}},
                "amount": amount,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


EXPORTS: dict[str, Callable[..., Path]] = {
    "semicolon_csv": semicolon_csv,
    "unicode_text": unicode_text,
    "utf16_semicolon_csv": utf16_semicolon_csv,
    "cp1252_csv": cp1252_csv,
    "workbook": workbook,
    "nested_jsonl": nested_jsonl,
}
"""Each writer of a kind of exported file, by name (for parametrised tests)."""
