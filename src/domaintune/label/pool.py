"""The pool of unlabelled rows and the file of labels given so far, as frames keyed by id.

The pool is any table file `predict --file` reads (`predict.stream.open_table`: CSV, TSV, TXT,
JSONL, JSON, Parquet, Excel), read whole: every text is embedded anyway. A row's id is its
`--id-column` cell (default: the `id` column when there is one), else its row number counted from
1, as text: ids are how a filled file finds its way back, so two rows of one id are refused.

The labels file (`LABELS.csv`: id, text, label) is what `domaintune label import` writes and
`domaintune run --data LABELS.csv --label-column label` trains on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from domaintune.data.clean import to_text
from domaintune.errors import UserError
from domaintune.predict.files import text_columns
from domaintune.predict.stream import open_table

ID, TEXT, LABEL = "id", "text", "label"
LABEL_COLUMNS = [ID, TEXT, LABEL]
"""The labels file's columns, in order."""
CHUNK_ROWS = 10_000


def parse_labels(value: str, *, option: str = "--labels") -> list[str]:
    """`--labels a,b,c` as a list: at least two names, each once."""
    labels = [name.strip() for name in value.split(",") if name.strip()]
    if len(labels) < 2:
        raise UserError(f"{option} {value!r}: give at least two label names, comma-separated")
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise UserError(f"{option}: the label '{twice[0]}' is given twice")
    return labels


def ids_of(frame: pd.DataFrame, source: Path, *, column: str | None) -> pd.Series:
    """Each row's id as text: `column`'s cell, else the row number counted from 1."""
    if column is None:
        return pd.Series([str(row) for row in range(1, len(frame) + 1)], index=frame.index)
    ids = frame[column].map(to_text)
    missing = ids.isna() | (ids.fillna("").str.strip() == "")
    if missing.any():
        row = int(missing.to_numpy().argmax()) + 1
        raise UserError(f"{source}: row {row} has no id in column '{column}': give every row one")
    return ids.str.strip()


def check_unique(ids: pd.Series, source: Path) -> None:
    """Refuse two rows of one id, naming the id and the rows (counted from 1) that hold it."""
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        rows = [str(i + 1) for i, value in enumerate(ids) if value == first]
        raise UserError(
            f"{source}: the id '{first}' is on rows {', '.join(rows)}: ids must be unique, so "
            "that each label finds its row"
        )


def simple_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of plain values (text, numbers, dates), which a CSV can carry back and forth."""
    return [
        column
        for column in frame.columns
        if not frame[column].map(lambda value: isinstance(value, list | dict)).any()
    ]


def read_pool(
    path: Path, *, text_column: str = TEXT, id_column: str | None = None
) -> tuple[pd.DataFrame, int]:
    """The pool: `id`, `text`, then its other plain columns; rows without a text left out (and
    counted, the second value). Refused: a missing column, duplicate ids, no row with a text."""
    table = open_table(path)
    columns = table.columns
    read = text_columns(path, columns, text_column=text_column, fields=None, nested=table.nested)
    if id_column is not None and id_column not in columns:
        raise UserError(
            f"{path} has no column '{id_column}' (its columns: {', '.join(columns)}): "
            "pass --id-column"
        )
    id_from = id_column or (ID if ID in columns else None)
    wanted = list(dict.fromkeys([*read, *columns]))
    frame = pd.concat(list(table.chunks(rows=CHUNK_ROWS, columns=wanted)), ignore_index=True)
    ids = ids_of(frame, path, column=id_from)
    check_unique(ids, path)
    texts = frame[text_column].map(to_text)
    others = [c for c in simple_columns(frame) if c not in {text_column, id_from, ID, TEXT, LABEL}]
    pool = pd.concat([pd.DataFrame({ID: ids, TEXT: texts}), frame[others]], axis=1).reset_index(
        drop=True
    )
    blank = pool[TEXT].isna() | (pool[TEXT].fillna("").str.strip() == "")
    pool = pool[~blank].reset_index(drop=True)
    if pool.empty:
        raise UserError(
            f"{path} has no row with a text in column '{text_column}': nothing to label"
        )
    return pool, int(blank.sum())


def read_labelled(path: Path) -> pd.DataFrame:
    """A labels file (id, text, label; every cell as text); refused when it lacks a column or
    gives one id two labels. A missing file is refused too: name one that exists."""
    if not path.is_file():
        raise UserError(f"{path} not found: give the labels file `domaintune label import` wrote")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(
            f"{path} has no column '{missing[0]}': a labels file has the columns id, text, label"
        )
    frame[ID] = frame[ID].str.strip()
    frame[LABEL] = frame[LABEL].str.strip()
    labelled = frame.drop_duplicates([ID, LABEL])
    twice = labelled[labelled[ID].duplicated(keep=False)]
    if len(twice):
        given = twice[twice[ID] == twice[ID].iloc[0]]
        raise UserError(
            f"{path}: the id '{given[ID].iloc[0]}' has the labels "
            f"{', '.join(repr(label) for label in given[LABEL])}: keep one"
        )
    return frame


def check_known(labelled: pd.DataFrame, labels: list[str], *, source: Path) -> None:
    """Refuse a labelled row whose label is not one of `labels`, naming its row and the label."""
    unknown = ~labelled[LABEL].isin(labels)
    if unknown.any():
        row = int(unknown.to_numpy().argmax())
        raise UserError(
            f"{source}: row {row + 1} (id '{labelled[ID].iloc[row]}') has the label "
            f"'{labelled[LABEL].iloc[row]}', not one of {', '.join(labels)}: fix it, or add it "
            "to --labels"
        )
