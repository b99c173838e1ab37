"""The rows as read, with the split each was given (a split column or separate files) and its time.

A user's split is read here, once: every value of a split column must name a split and every
value of a time column must be a date, or the error names the file, the row and the value. Rows
are numbered from 1 after the header, as a spreadsheet shows them less one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pandas.api.types import is_datetime64_any_dtype

from domaintune.config import Config
from domaintune.data.fields import configured_fields, fields_frame
from domaintune.data.sources import read_source, read_split_files
from domaintune.errors import UserError

GIVEN = "split"
"""The frame's column holding the split a row was given, present only when the user split."""
SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
"""Names a split column may use, matched ignoring case and surrounding spaces."""
Method = Literal["random", "time", "split_column", "files"]


@dataclass
class Rows:
    frame: pd.DataFrame
    """text and label (and a `field:NAME` column per field with data.text_columns), and GIVEN
    when the user split the data; indexed 0..n-1 as read."""
    times: pd.Series | None
    """Each row's time (UTC), by the frame's index, when splitting by time."""
    method: Method
    """Where the split comes from: the data (split_column, files) or prepare (random, time)."""
    lines_not_utf8: int
    encoding: str
    """How the files were decoded (utf-8, utf-16, cp1252, ...), for the card's read step."""


def read_rows(config: Config) -> Rows:
    """Read the data and whatever split and time it gives, each checked row by row."""
    data = config.data
    files = data.split_files()
    if files:
        parts = read_split_files(data)
        raw = pd.concat(parts.values(), ignore_index=True)
        where = pd.concat(
            [where_rows(files[name], len(part)) for name, part in parts.items()], ignore_index=True
        )
        given = pd.Series(
            [name for name, part in parts.items() for _ in range(len(part))], dtype=object
        )
        not_utf8 = sum(part.attrs.get("lines_not_utf8", 0) for part in parts.values())
        encoding = ", ".join(
            sorted({part.attrs.get("encoding", "utf-8") for part in parts.values()})
        )
        method: Method = "files"
    else:
        raw = read_source(data)
        raw.index = pd.RangeIndex(len(raw))
        where = where_rows(data.source, len(raw))
        given = None
        if data.split_column:
            given = split_names(raw[data.split_column], where, column=data.split_column)
        not_utf8 = raw.attrs.get("lines_not_utf8", 0)
        encoding = raw.attrs.get("encoding", "utf-8")
        method = "split_column" if given is not None else config.prepare.split
    fields = configured_fields(data)
    label_column = data.target_column or data.label_column  # generation: the target text
    if config.task.objective == "language_model":
        label_column = data.text_column  # no label: prepare gives each row an empty one
    if fields is None:
        frame = pd.DataFrame({"text": raw[data.text_column], "label": raw[label_column]})
    else:
        frame = fields_frame(raw, fields, label_column=data.label_column)
    if given is not None:
        frame[GIVEN] = given.to_numpy()
    times = None
    if data.time_column:
        times = parse_times(
            raw[data.time_column],
            where,
            column=data.time_column,
            dayfirst=config.prepare.date_order == "DMY",
        )
    return Rows(frame, times, method, not_utf8, encoding)


def where_rows(source: str, count: int) -> pd.DataFrame:
    """The file and row number (from 1, after the header) of each row, for errors."""
    return pd.DataFrame({"file": source, "row": range(1, count + 1)})


def split_names(values: pd.Series, where: pd.DataFrame, *, column: str) -> pd.Series:
    """Each value as train, validation or test; anything else is an error naming its row."""
    names = values.map(lambda value: SPLIT_NAMES.get(str(value).strip().casefold()))
    unknown = names.isna().to_numpy()
    if unknown.any():
        first = unknown.argmax()
        others = sorted({str(v) for v in values[unknown]} - {str(values.iloc[first])})
        also = f" ({int(unknown.sum()) - 1} more rows too" if unknown.sum() > 1 else ""
        also += f": {', '.join(repr(v) for v in others[:3])})" if others else ")" if also else ""
        raise UserError(
            f"{row_of(where, first)}, column '{column}' {holds(values.iloc[first], 'a split')}"
            f"{also}: write train, validation or test (also training, valid, val, dev, testing) "
            "in every row"
        )
    return names


def parse_times(
    values: pd.Series, where: pd.DataFrame, *, column: str, dayfirst: bool
) -> pd.Series:
    """Each value as a UTC time; one that is missing or not a date is an error naming its row.

    Formats may mix from row to row (pandas' `format="mixed"` reads each alone); a time without a
    zone is taken as UTC, so that zoned and plain values sort together.
    """
    if is_datetime64_any_dtype(values):
        times = pd.Series(pd.to_datetime(values, utc=True), index=values.index)
    else:
        text = values.map(lambda value: None if pd.isna(value) else str(value).strip() or None)
        times = pd.to_datetime(text, format="mixed", dayfirst=dayfirst, utc=True, errors="coerce")
    bad = times.isna().to_numpy()
    if bad.any():
        first = bad.argmax()
        also = f" ({int(bad.sum()) - 1} more rows too)" if bad.sum() > 1 else ""
        raise UserError(
            f"{row_of(where, first)}, column '{column}' {holds(values.iloc[first], 'a date')}"
            f"{also}: write dates such as 2024-03-15 or 2024-03-15 14:30 in every row, or set "
            "data.time_column to another column"
        )
    return times


def row_of(where: pd.DataFrame, position: int) -> str:
    return f"{where['file'].iloc[position]}, row {where['row'].iloc[position]}"


def holds(value: object, kind: str) -> str:
    """What a bad cell holds, as the error says it: `is empty`, or `holds 'x', not KIND`."""
    missing = value is None or (not isinstance(value, list | dict) and pd.isna(value))
    if missing or not str(value).strip():
        return "is empty"
    return f"holds {str(value)[:60]!r}, not {kind}"
