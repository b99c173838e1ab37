"""Dotted paths into nested JSON objects: `meta.body` names the `body` of each record's `meta`.

A column (a key of any record) that itself holds the dot (`"meta.body": ...`) wins over the path,
so a flat file's column keeps its meaning. A record without the field has none (null), as a record
without a key has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import pandas as pd

MISSING = object()
DEPTH = 8
"""Nesting followed at most when listing a file's paths (for the error naming its columns)."""


def lookup(record: object, path: str) -> object:
    """The value at `path` in a record, or `MISSING`."""
    if not isinstance(record, Mapping):
        return MISSING
    if path in record:
        return record[path]
    start = path.find(".")
    while start > 0:
        head = path[:start]
        if isinstance(record.get(head), Mapping):
            found = lookup(record[head], path[start + 1 :])
            if found is not MISSING:
                return found
        start = path.find(".", start + 1)
    return MISSING


def paths(record: Mapping, *, prefix: str = "", depth: int = DEPTH) -> Iterator[str]:
    """Every dotted path into the objects nested in a record (not its top-level keys)."""
    for key, value in record.items():
        if isinstance(value, Mapping) and depth:
            for inner in value:
                yield f"{prefix}{key}.{inner}"
            yield from paths(value, prefix=f"{prefix}{key}.", depth=depth - 1)


def nested_paths(records: Iterable[object]) -> list[str]:
    """The dotted paths of any record, in the order they first appear."""
    found: dict[str, None] = {}
    for record in records:
        if isinstance(record, Mapping):
            found.update(dict.fromkeys(paths(record)))
    return list(found)


def frame_paths(frame: pd.DataFrame) -> list[str]:
    """The dotted paths into the objects a table's cells hold (JSON objects, Parquet structs)."""
    found: dict[str, None] = {}
    for column in frame.columns:
        if frame[column].dtype == object:
            cells = ({column: cell} for cell in frame[column] if isinstance(cell, Mapping))
            found.update(dict.fromkeys(nested_paths(cells)))
    return [path for path in found if path not in frame.columns]


def with_fields(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """The table with a column for each dotted name it lacks that any of its cells' objects hold;
    its other columns as they were."""
    added: dict[str, list[object]] = {}
    records: list[dict] | None = None
    for name in names:
        if name in frame.columns or name in added or "." not in name:
            continue
        records = frame.to_dict("records") if records is None else records
        values = [lookup(record, name) for record in records]
        if any(value is not MISSING for value in values):
            added[name] = [None if value is MISSING else value for value in values]
    return frame.assign(**added) if added else frame
